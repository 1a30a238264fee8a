"""Why does Gromov-Wasserstein fail or succeed on real corpora? Optimisation vs data, measured.

For one pair of vector files and a gold split, runs the GW coupling (``udm.aligners.gw.gw_coupling``) on the N
most frequent words from several starts and reports, per start, the GW objective ``||X^T T Y||_F^2`` (higher =
more similarity structure preserved), the coupling's seed dictionary (correct pairs by the full gold lexicon),
and CSLS P@1 on the test lexicon before and after the shared refinement:

* ``cold``: the aligner's start (independent coupling) on all N words at once, annealed from epsilon 0.5 over
  30 and 60 steps (the schedules of earlier versions);
* ``oracle``: started from the supervised Procrustes map (fitted on the train lexicon): where GW lands when it
  starts at the right answer;
* ``coarse-to-fine``: the ``gw`` aligner's default (2,000 words, the best of its first-stage annealing starts by
  GW objective, then N, warm-started);
* ``random``: a few random-rotation starts.

If the oracle start ends at a *higher* objective than the cold start, the cold run stopped in a wrong local
optimum (an optimisation failure that a better schedule or start can fix); if lower, the data's GW optimum is
not the translation. Example (the study's cached en-de shared-documents vectors)::

    python experiments/gw_landscape.py --src experiments/cache/vectors/en-....npz \\
        --tgt experiments/cache/vectors/de-....npz --lexicon experiments/cache/lexicons/en-de-....  \\
        --full-lexicon experiments/cache/lexicons/en-de.txt --name gw_landscape_ende
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import (add_pair_args, fmt, gold_translations, load_pair, report_header, run_meta,  # noqa: E402
                          write_probe_report)

from udm import Lexicon, get_aligner  # noqa: E402
from udm.aligners.gw import gw_coupling, gw_objective, staged_gw_coupling  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.ot import coupling_pairs  # noqa: E402
from udm.procrustes import procrustes  # noqa: E402
from udm.refinement import refine  # noqa: E402


def sizes_list(text: str) -> list[int]:
    """``--coarse``: comma-separated word counts, each at least 2 (argparse turns the error into one line)."""
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated word counts, got {text!r}") from None
    if any(v < 2 for v in sizes):
        raise argparse.ArgumentTypeError(f"every size must be at least 2, got {text!r}")
    return sizes


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pair_args(ap, "gw_landscape")
    ap.add_argument("--full-lexicon", required=True, help="the whole gold lexicon (to count correct seed pairs)")
    ap.add_argument("--n", type=int, default=5000, help="GW words (the aligner's n_words)")
    ap.add_argument("--random-starts", type=int, default=3)
    ap.add_argument("--coarse", default=None, type=sizes_list,
                    help="comma-separated coarse-stage sizes: one coarse-to-fine row per size (default: the gw "
                         "aligner's) instead of the cold and default rows; the deterministic start sorts words by "
                         "their projection on the mean of the first stage's words")
    ap.add_argument("--random-only", action="store_true",
                    help="skip the cold / oracle / coarse-to-fine rows (the oracle objective is still reported)")
    args = ap.parse_args(argv)

    t_start = time.time()
    try:
        full = Lexicon.load(args.full_lexicon)
    except UdmError as exc:
        raise SystemExit(f"error: {exc}") from None
    data = load_pair(args)
    src, tgt, x, y, p1 = data.src, data.tgt, data.x, data.y, data.p1
    gold = gold_translations(full)
    d = x.shape[1]

    sup = get_aligner("procrustes", refine_iters=args.refine_iters, progress=False).fit(src, tgt, data.train)
    rows: list[dict] = [{"start": "supervised Procrustes + refinement (train lexicon)", "words": "-", "objective": None,
                         "seed_pairs": "-", "p1_init": None, "p1_refined": p1(sup.W),
                         "criterion": muse_criterion(x @ sup.W, y), "seconds": None}]

    def record(label: str, n: int, plan: torch.Tensor, xt: torch.Tensor, yt: torch.Tensor, t0: float) -> None:
        obj = gw_objective(xt, yt, plan)
        pairs = coupling_pairs(plan, mode="mutual")
        correct = sum(1 for i, j in pairs if tgt.words[j] in gold.get(src.words[i], ()))
        in_lex = sum(1 for i, _ in pairs if src.words[i] in gold)
        w0 = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
        seconds = time.time() - t0
        w, _ = refine(x, y, w0, n_iter=args.refine_iters)
        rows.append({"start": label, "words": n, "objective": obj,
                     "seed_pairs": f"{correct}/{in_lex} of {len(pairs)}", "p1_init": p1(w0), "p1_refined": p1(w),
                     "criterion": muse_criterion(x @ w, y), "seconds": seconds})
        print(f"{label}: objective {obj:.6f}, seed pairs {correct}/{in_lex}/{len(pairs)}, P@1 {p1(w0):.3f} -> "
              f"{rows[-1]['p1_refined']:.3f} ({seconds:.0f} s)", file=sys.stderr, flush=True)

    n = min(args.n, len(x), len(y))
    xt, yt = torch.from_numpy(x[:n]), torch.from_numpy(y[:n])
    if not args.random_only and args.coarse is None:
        for steps in (30, 60):
            t0 = time.time()
            plan, _ = gw_coupling(xt, yt, max_iter=steps)
            record(f"cold, {steps} steps", n, plan, xt, yt, t0)
    t0 = time.time()
    plan, _ = gw_coupling(xt, yt, init=torch.from_numpy(sup.W) / d)
    record("oracle (from the supervised map), 60 steps", n, plan, xt, yt, t0)
    gw = get_aligner("gw", n_words=n, progress=False, seed=args.seed)
    stages = gw.stages(n)  # the aligner's own stages: [coarse_words, n], or [n] when n is not above coarse_words
    if not args.random_only:
        runs = [stages] if args.coarse is None else [[m, n] if m < n else [n] for m in args.coarse]
        for run in runs:
            t0 = time.time()
            views = gw.views(src.vectors, tgt.vectors, run[0])  # the aligner's extra first-stage view(s)
            plan, _ = staged_gw_coupling(x, y, run, views=views, choose=gw.view_score(x, y) if views else None,
                                         **gw.schedule())
            default = ", the gw default" if run == stages else ""
            record(f"coarse-to-fine ({' -> '.join(map(str, run))} words{default})", n, plan, xt, yt, t0)
    rng = np.random.default_rng(args.seed)
    for r in range(args.random_starts):
        q = torch.linalg.qr(torch.from_numpy(rng.standard_normal((d, d))).float())[0]
        t0 = time.time()
        plan, info = staged_gw_coupling(x, y, stages, init=q / d, **gw.schedule())
        first = info.get("gw_coarse_objective", info["gw_objective"])
        record(f"random rotation {r}, {' -> '.join(map(str, stages))} words (first-stage objective {first:.6f})",
               n, plan, xt, yt, t0)

    meta = run_meta("gw_landscape.py", argv, t_start, args, data, n=n)
    lines = report_header(f"Gromov-Wasserstein landscape: {Path(args.src).name} -> {Path(args.tgt).name}",
                          "gw_landscape.py", meta) + [
             f"- GW on the top {n} words of {len(src)}/{len(tgt)}; P@1 = CSLS P@1 on {args.lexicon}.test.txt; "
             f"refinement {args.refine_iters} iterations; objective = ||X^T T Y||_F^2 (higher = better match); "
             "seed pairs = correct / in gold lexicon / all mutual-argmax pairs of the coupling\n",
             "| start | words | GW objective | seed pairs | P@1 init | P@1 refined | criterion | GW seconds |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['start']} | {r['words']} | {fmt(r['objective'], 6)} | {r['seed_pairs']} | "
                     f"{fmt(None if r['p1_init'] is None else 100 * r['p1_init'], 1)} | {fmt(100 * r['p1_refined'], 1)} | "
                     f"{fmt(r['criterion'], 4)} | {fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
