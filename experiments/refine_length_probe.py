"""Does a longer shared refinement carry the unsupervised start to the supervised solution?

Every aligner ends with 5 steps of the shared refinement (iterative Procrustes on CSLS mutual nearest neighbours),
and after 5 steps the map still moves (``change`` 0.2 in the study's traces) for the supervised and the gw start
alike. This probe refines both starts, the supervised Procrustes map of the train lexicon and the gw initialisation
(no refinement), for up to ``--checkpoints``' last number of steps and reports at each checkpoint CSLS P@1, the
MUSE criterion, the last step's change, and how far apart the two maps and their induced dictionaries are: if they
meet, more refinement closes the gap to supervised; if they settle apart, the two starts sit in different basins.
Spaces are named as in ``failure_probe.py`` (a results file of ``run_bli.py`` and a setting id)::

    python experiments/refine_length_probe.py --space experiments/results/bli_none.json:en-de/none/1 --name refine_length
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

from failure_probe import load_space, space_label  # noqa: E402
from probe_common import fmt, log_row, probe_meta, report_header, write_probe_report  # noqa: E402

from udm import get_aligner  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.refinement import induce_dictionary, refine  # noqa: E402


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard overlap of two index-pair dictionaries."""
    sa, sb = set(map(tuple, a.tolist())), set(map(tuple, b.tolist()))
    return len(sa & sb) / max(1, len(sa | sb))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", action="append", required=True, help="RESULTS_JSON:SETTING_ID (repeatable)")
    ap.add_argument("--checkpoints", default="5,10,20,40", help="cumulative refinement steps to report at")
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--name", default="refine_length")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    try:
        checkpoints = sorted({int(c) for c in args.checkpoints.split(",") if c.strip()})
    except ValueError:
        raise SystemExit(f"error: --checkpoints {args.checkpoints!r} is not a comma-separated list of step counts") from None
    if not checkpoints or checkpoints[0] < 0:
        raise SystemExit("error: --checkpoints needs at least one step count >= 0")
    t_start = time.time()
    spaces = [(spec, load_space(spec, args.max_vocab)) for spec in args.space]
    rows: list[dict] = []
    for spec, data in spaces:
        x, y = data.x, data.y
        starts = {"supervised": get_aligner("procrustes", refine_iters=0).fit(data.src, data.tgt, data.train).W,
                  "gw": get_aligner("gw", refine_iters=0).fit(data.src, data.tgt).W}
        done, last = 0, {k: None for k in starts}
        for cp in checkpoints:
            for k in starts:
                if cp > done:
                    starts[k], hist = refine(x, y, starts[k], n_iter=cp - done)
                    last[k] = hist[-1]["change"]
            done = cp
            dicts = {k: induce_dictionary(x @ w, y) for k, w in starts.items()}
            dist = float(np.linalg.norm(starts["supervised"] - starts["gw"]) / np.sqrt(x.shape[1]))
            for k, w in starts.items():
                row = {"space": space_label(spec), "start": k, "steps": cp, "p1": data.p1(w),
                       "criterion": muse_criterion(x @ w, y), "last_change": last[k], "pairs": int(len(dicts[k])),
                       "map_distance": dist, "dictionary_jaccard": jaccard(dicts["supervised"], dicts["gw"]),
                       "elapsed_s": time.time() - t_start}
                rows.append(row)
                log_row(row)
    meta = probe_meta("refine_length_probe.py", argv, t_start)
    lines = report_header("Refinement length: does more shared refinement carry the gw start to the supervised solution?",
                          "refine_length_probe.py", meta) + [
             "- starts: supervised Procrustes on the train lexicon, and the gw initialisation (seed 0), both unrefined; "
             "then the shared refinement (CSLS mutual nearest neighbours among the top 15k, Procrustes) for the given "
             "total steps; P@1 = CSLS P@1 (%) on the test lexicon; change = ||W_new - W|| / sqrt(d) of the last step; "
             "distance = ||W_sup - W_gw|| / sqrt(d); Jaccard = overlap of the two maps' induced dictionaries\n",
             "| space | steps | P@1 supervised start | P@1 gw start | criterion sup. / gw | last change sup. / gw | "
             "map distance | dictionary Jaccard |", "|---|---|---|---|---|---|---|---|"]
    by = {(r["space"], r["steps"], r["start"]): r for r in rows}
    for space, steps in dict.fromkeys((r["space"], r["steps"]) for r in rows):
        s, g = by[(space, steps, "supervised")], by[(space, steps, "gw")]
        lines.append(f"| {space} | {steps} | {fmt(100 * s['p1'], 1)} | {fmt(100 * g['p1'], 1)} | "
                     f"{s['criterion']:.4f} / {g['criterion']:.4f} | {fmt(s['last_change'], 3)} / {fmt(g['last_change'], 3)} | "
                     f"{s['map_distance']:.3f} | {s['dictionary_jaccard']:.3f} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
