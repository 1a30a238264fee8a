"""Does the vectors' centring decide where Gromov-Wasserstein's first stage lands? Measured per pair of spaces.

``gw`` normalises each side as ``unit,center,unit`` over the words it is given (a study passes the top 20k),
then runs its first stage on the 2,000 most frequent. This probe reruns that first stage (the aligner's own
annealing starts, best GW objective kept) with each side centred on the mean of a different set of words, and
for each variant reports: the coupling's correct mutual-argmax pairs (by the whole gold lexicon), its GW
objective in its own normalisation and in the standard one (the two are not comparable across variants
otherwise), and, from those pairs on the standard spaces, Procrustes + the shared refinement: CSLS P@1 on the
study's test split and the dictionary-free MUSE criterion (what an aligner could choose by).

Variants (``--variants``, comma-separated): ``top:M`` centres on the mean of the M most frequent unit vectors
(``top:20000`` is the standard input when a study loads 20k words; ``top:all`` the vector file's whole
vocabulary); ``tail:M`` on the mean of the words ranked M to ``--max-vocab`` (the rarer words a study loads); ``scale:A``
subtracts A times the mean of the top ``--max-vocab`` words (A > 1 over-centres);
``pcs:K`` is the standard input with its top K principal directions removed, renormalised
("all-but-the-top", Mu & Viswanath 2018). Spaces are named by committed study JSONs (their vector files and
lexicon split, looked up in ``experiments/cache``). ``--per-start`` runs each annealing start alone (which start
finds the map, in how many steps and seconds)::

    python experiments/gw_centring_probe.py --studies bli_none_ende_order_biblelast,bli_none_ende_order_built \\
        --variants top:20000,top:all --name gw_centring_ende
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import (ROOT, find_cached, fmt, gold_translations, log_row, pair_data, probe_meta,  # noqa: E402
                          report_header, write_probe_report)

from udm import Embeddings, Lexicon, get_aligner  # noqa: E402
from udm.aligners.gw import gw_objective, overcentred, staged_gw_coupling  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.normalize import unit  # noqa: E402
from udm.ot import coupling_pairs  # noqa: E402
from udm.procrustes import procrustes  # noqa: E402
from udm.refinement import refine  # noqa: E402

CACHE = ROOT / "experiments" / "cache"


def variant_list(text: str) -> list[str]:
    """``--variants``: ``top:M`` / ``top:all`` / ``pcs:K`` items (argparse turns the error into one line)."""
    items = [v.strip() for v in text.split(",") if v.strip()]
    for v in items:
        kind, _, arg = v.partition(":")
        if not ((kind == "top" and (arg == "all" or arg.isdigit())) or (kind in ("pcs", "tail") and arg.isdigit())
                or (kind == "scale" and arg.replace(".", "", 1).isdigit())):
            raise argparse.ArgumentTypeError(f"unknown variant {v!r}: use top:M, top:all, tail:M, scale:A or pcs:K")
    return items


def gw_input(full: np.ndarray, n: int, variant: str, max_vocab: int = 20000) -> np.ndarray:
    """The top-``n`` rows of ``full`` (frequency order) normalised as ``variant`` says (unit rows); ``tail:M`` and
    ``pcs:K`` work within the top ``max_vocab`` words (``pcs:K`` takes its principal directions from the standard input)."""
    kind, _, arg = variant.partition(":")
    u = unit(np.asarray(full, dtype=np.float32))
    if kind == "top":
        m = len(u) if arg == "all" else min(int(arg), len(u))
        return unit(u[:n] - u[:m].mean(0, keepdims=True))
    if kind == "tail":
        return unit(u[:n] - u[int(arg):max_vocab].mean(0, keepdims=True))
    if kind == "scale":
        return overcentred(full[:max_vocab], n, float(arg))  # the gw aligner's view, on the words a study loads
    x = unit(u[:max_vocab] - u[:max_vocab].mean(0, keepdims=True))
    k = int(arg)
    if k:
        _, _, vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
        x = unit(x - (x @ vt[:k].T) @ vt[:k])
    return x[:n]


def study_space(name: str) -> dict:
    """The vector files, lexicon split and pair of a committed study's first setting."""
    path = ROOT / "experiments" / "results" / f"{name}.json"
    try:
        setting = json.loads(path.read_text())["settings"][0]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise SystemExit(f"error: cannot read study {path}: {exc}") from None
    test = find_cached(setting["test_lexicon"], CACHE, "lexicons")
    return {"pair": setting["pair"], "src": find_cached(setting["vectors"]["src"]["path"], CACHE, "vectors"),
            "tgt": find_cached(setting["vectors"]["tgt"]["path"], CACHE, "vectors"),
            "lexicon": test.with_name(test.name[: -len(".test.txt")]),
            "full_lexicon": CACHE / "lexicons" / f"{setting['pair']}.txt"}


def report_means(args: argparse.Namespace, argv: Optional[list[str]], t_start: float) -> int:
    """``--means-only``: per study and side, the whole file's mean unit vector against the top words' mean."""
    rows = []
    for study in [s.strip() for s in args.studies.split(",") if s.strip()]:
        space = study_space(study)
        for side in ("src", "tgt"):
            try:
                u = unit(Embeddings.load(space[side]).vectors.astype(np.float32))
            except (UdmError, OSError) as exc:
                raise SystemExit(f"error: {study}: {exc}") from None
            whole, top = u.mean(0), u[:args.max_vocab].mean(0)
            rows.append({"study": study, "side": side, "file": Path(space[side]).name, "words": len(u),
                         "cosine": float(whole @ top / (np.linalg.norm(whole) * np.linalg.norm(top))),
                         "norm_whole": float(np.linalg.norm(whole)), "norm_top": float(np.linalg.norm(top))})
    meta = probe_meta("gw_centring_probe.py", argv, t_start, max_vocab=args.max_vocab)
    lines = report_header("The whole vector file's mean against the top words' mean", "gw_centring_probe.py", meta) + [
        f"- unit rows; top = the {args.max_vocab} most frequent words (what a study loads and `gw` centres on)\n",
        "| study | side | file | words | cosine(whole, top) | length whole / top |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['study']} | {r['side']} | {r['file']} | {r['words']} | {r['cosine']:.4f} | "
                     f"{r['norm_whole']:.3f} / {r['norm_top']:.3f} = {r['norm_whole'] / r['norm_top']:.2f} |")
    write_probe_report(args, meta, rows, lines)
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", required=True, help="comma-separated committed study names (experiments/results)")
    ap.add_argument("--variants", type=variant_list, default=variant_list("top:20000,top:all"))
    ap.add_argument("--max-vocab", type=int, default=20000, help="words per side, as the studies load them")
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--means-only", action="store_true",
                    help="only compare each side's mean over the whole file with its mean over the top --max-vocab "
                         "words (cosine, length ratio; unit rows): seconds, no GW")
    ap.add_argument("--per-start", action="store_true",
                    help="run each of gw's first-stage annealing starts alone (one row per start: which start finds "
                         "the map, at what cost) instead of the aligner's best-of-starts")
    ap.add_argument("--name", default="gw_centring_probe")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)

    t_start = time.time()
    if args.means_only:
        return report_means(args, argv, t_start)
    gw = get_aligner("gw", progress=False)
    n = gw.coarse_words
    start_sets = [(e,) for e in gw.eps_starts] if args.per_start else [gw.eps_starts]
    rows: list[dict] = []
    for study in [s.strip() for s in args.studies.split(",") if s.strip()]:
        space = study_space(study)
        try:
            full_src, full_tgt = Embeddings.load(space["src"]), Embeddings.load(space["tgt"])
            data = pair_data(full_src.top(args.max_vocab), full_tgt.top(args.max_vocab),
                             Lexicon.load(f"{space['lexicon']}.train.txt"), Lexicon.load(f"{space['lexicon']}.test.txt"))
            full = Lexicon.load(space["full_lexicon"])
        except (UdmError, OSError) as exc:
            raise SystemExit(f"error: {study}: {exc}") from None
        gold = gold_translations(full)
        xs, ys = torch.from_numpy(data.x[:n]), torch.from_numpy(data.y[:n])
        for variant, starts in [(v, s) for v in args.variants for s in start_sets]:
            t0 = time.time()
            xv = gw_input(full_src.vectors, n, variant, args.max_vocab)
            yv = gw_input(full_tgt.vectors, n, variant, args.max_vocab)
            plan, info = staged_gw_coupling(xv, yv, [n], **{**gw.schedule(), "eps_starts": starts})
            pairs = coupling_pairs(plan, mode="mutual")
            correct = sum(1 for i, j in pairs if data.tgt.words[j] in gold.get(data.src.words[i], ()))
            w0 = procrustes(data.x[pairs[:, 0]], data.y[pairs[:, 1]])
            w, _ = refine(data.x, data.y, w0, n_iter=args.refine_iters)
            row = {"study": study, "pair": space["pair"], "variant": variant, "eps_starts": list(starts),
                   "steps": info["gw_first_stage_starts"][-1]["steps"] if len(starts) == 1 else None,
                   "correct_pairs": correct,
                   "pairs": int(len(pairs)), "objective_own": gw_objective(torch.from_numpy(xv), torch.from_numpy(yv), plan),
                   "objective_standard": gw_objective(xs, ys, plan), "first_stage": info["gw_first_stage"],
                   "p1": data.p1(w), "criterion": muse_criterion(data.x @ w, data.y), "seconds": time.time() - t0,
                   "words": [len(full_src), len(full_tgt)]}
            rows.append(row)
            log_row(row)

    meta = probe_meta("gw_centring_probe.py", argv, t_start, coarse_words=n, max_vocab=args.max_vocab,
                      refine_iters=args.refine_iters)
    lines = report_header("Gromov-Wasserstein's first stage under different centrings", "gw_centring_probe.py", meta) + [
        f"- first stage: the `gw` aligner's ({n} words, annealing starts {', '.join(map(str, gw.eps_starts))}, best "
        "GW objective kept; with --per-start each start alone, its own row); correct = mutual-argmax pairs of the coupling that the whole gold lexicon lists; "
        "objective = ||X^T T Y||_F^2 in the variant's own input and in the standard one (top 20k centred); "
        f"P@1 = CSLS P@1 on the study's test split after Procrustes on the pairs + {args.refine_iters} refinement "
        "steps on the standard spaces; criterion = MUSE's on those spaces\n",
        "| study | variant | starts (steps) | vocab (src/tgt) | correct / pairs | objective (own) | objective (standard) | P@1 | criterion | s |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        starts = ", ".join(f"{e:g}" for e in r.get("eps_starts", gw.eps_starts))
        steps = f" ({r['steps']})" if r.get("steps") else ""
        lines.append(f"| {r['study']} | {r['variant']} | {starts}{steps} | {r['words'][0]}/{r['words'][1]} | {r['correct_pairs']}/{r['pairs']} | "
                     f"{fmt(r['objective_own'], 6)} | {fmt(r['objective_standard'], 6)} | {fmt(100 * r['p1'], 1)} | "
                     f"{fmt(r['criterion'], 4)} | {fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
