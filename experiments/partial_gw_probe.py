"""Does partial Gromov-Wasserstein find the map where the corpora mix their domains differently?

``gw`` matches all of each side's top words (balanced transport). On the standard en-es build the English side
holds domains Spanish lacks (WordNet glosses, more Bible versions and man pages), so many of its top words have no
counterpart among the Spanish top words, and GW's first stage lands on a wrong optimum (balanced builds are found).
Partial GW (``gw`` with ``mass`` < 1: each mirror-descent step a partial-OT Sinkhorn that transports only that share
of the mass) may leave those words out. This probe reruns ``gw``'s first stage (its annealing starts, best GW
objective kept, the standard input) on committed studies' spaces for each ``--masses`` value and reports the
coupling's correct mutual-argmax pairs (by the whole gold lexicon), its GW objective, and from those pairs
Procrustes + the shared refinement: CSLS P@1 on the study's test split and the MUSE criterion::

    python experiments/partial_gw_probe.py --studies bli_standard_enes_v7_sup --masses 1,0.9,0.8,0.7 \\
        --name partial_gw_enes
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gw_centring_probe import study_space  # noqa: E402
from probe_common import (fmt, gold_translations, log_row, pair_data, probe_meta, report_header,  # noqa: E402
                          write_probe_report)

from udm import Embeddings, Lexicon, get_aligner  # noqa: E402
from udm.aligners.gw import gw_objective, staged_gw_coupling  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.ot import coupling_pairs  # noqa: E402
from udm.procrustes import procrustes  # noqa: E402
from udm.refinement import refine  # noqa: E402


def mass_list(text: str) -> list[float]:
    """``--masses``: comma-separated shares in (0, 1] (argparse turns the error into one line)."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--masses must be numbers in (0, 1], got {text!r}") from None
    if not values or any(not 0.0 < v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError(f"--masses must be numbers in (0, 1], got {text!r}")
    return values


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", required=True, help="comma-separated committed study names (experiments/results)")
    ap.add_argument("--masses", type=mass_list, default=mass_list("1,0.9,0.8,0.7"))
    ap.add_argument("--words", type=int, default=None, help="top words per side in the stage (default: gw's coarse_words)")
    ap.add_argument("--max-vocab", type=int, default=20000, help="words per side, as the studies load them")
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--refine-rank", type=int, default=5000)
    ap.add_argument("--name", default="partial_gw_probe")
    ap.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)

    t_start = time.time()
    gw = get_aligner("gw", progress=False)
    n = args.words or gw.coarse_words
    rows: list[dict] = []
    for study in [s.strip() for s in args.studies.split(",") if s.strip()]:
        space = study_space(study)
        try:
            data = pair_data(Embeddings.load(space["src"]).top(args.max_vocab),
                             Embeddings.load(space["tgt"]).top(args.max_vocab),
                             Lexicon.load(f"{space['lexicon']}.train.txt"), Lexicon.load(f"{space['lexicon']}.test.txt"))
            gold = gold_translations(Lexicon.load(space["full_lexicon"]))
        except (UdmError, OSError) as exc:
            raise SystemExit(f"error: {study}: {exc}") from None
        xs, ys = torch.from_numpy(data.x[:n]), torch.from_numpy(data.y[:n])
        for mass in args.masses:
            t0 = time.time()
            plan, info = staged_gw_coupling(data.x[:n], data.y[:n], [n], **{**gw.schedule(), "mass": mass})
            pairs = coupling_pairs(plan, mode="mutual")
            correct = sum(1 for i, j in pairs if data.tgt.words[j] in gold.get(data.src.words[i], ()))
            w0 = procrustes(data.x[pairs[:, 0]], data.y[pairs[:, 1]])
            w, _ = refine(data.x, data.y, w0, n_iter=args.refine_iters, max_rank=args.refine_rank)
            row = {"study": study, "pair": space["pair"], "mass": mass, "correct_pairs": correct,
                   "pairs": int(len(pairs)), "objective": gw_objective(xs, ys, plan),
                   "first_stage": info["gw_first_stage"], "p1_seed": data.p1(w0), "p1": data.p1(w),
                   "criterion": muse_criterion(data.x @ w, data.y), "seconds": time.time() - t0}
            rows.append(row)
            log_row(row)

    meta = probe_meta("partial_gw_probe.py", argv, t_start, words=n, max_vocab=args.max_vocab,
                      refine_iters=args.refine_iters, refine_rank=args.refine_rank)
    lines = report_header("Partial Gromov-Wasserstein: gw's first stage matching only a share of the top words",
                          "partial_gw_probe.py", meta) + [
        f"- first stage: the `gw` aligner's ({n} words, annealing starts {', '.join(map(str, gw.eps_starts))}, best GW "
        "objective kept, standard input) with each step's Sinkhorn transporting `mass` of the mass (1 = balanced, "
        "gw's default); correct = mutual-argmax pairs the whole gold lexicon lists; objective = ||X^T T Y||_F^2 "
        "(a partial plan carries less mass, so it falls with the mass); P@1 = CSLS P@1 on the study's test split "
        f"from Procrustes on the pairs (seed) and after {args.refine_iters} refinement steps (rank "
        f"{args.refine_rank}); criterion = MUSE's after refinement\n",
        "| study | mass | correct / pairs | objective | P@1 seed | P@1 refined | criterion | s |",
        "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['mass']:g} | {r['correct_pairs']}/{r['pairs']} | {fmt(r['objective'], 6)} | "
                     f"{fmt(100 * r['p1_seed'], 1)} | {fmt(100 * r['p1'], 1)} | {fmt(r['criterion'], 4)} | "
                     f"{fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
