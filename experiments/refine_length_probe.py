"""Does a longer shared refinement carry the unsupervised start to the supervised solution?

Every aligner ends with 5 steps of the shared refinement (iterative Procrustes on CSLS mutual nearest neighbours),
and after 5 steps the map still moves (``change`` 0.2 in the study's traces) for the supervised and the gw start
alike. This probe refines both starts, the supervised Procrustes map of the train lexicon and the gw initialisation
(no refinement), for up to ``--checkpoints``' last number of steps and reports at each checkpoint CSLS P@1, the
MUSE criterion, the last step's change, and how far apart the two maps and their induced dictionaries are: if they
meet, more refinement closes the gap to supervised; if they settle apart, the two starts sit in different basins.
``--starts supervised`` refines the supervised map alone (how much its own P@1 moves with the refinement length);
``--reweight`` adds the P@1 of the multi-step final map (``--reweight``) fitted at each checkpoint.
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
from probe_common import fmt, jaccard, log_row, probe_meta, report_header, write_probe_report  # noqa: E402

from udm import get_aligner  # noqa: E402
from udm.aligners.supervised import ProcrustesAligner  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.evaluate import evaluate_mapping  # noqa: E402
from udm.refinement import induce_dictionary, refine  # noqa: E402


START_NAMES = ("supervised", "gw")
START_TEXT = {"supervised": "supervised Procrustes on the train lexicon", "gw": "the gw initialisation (seed 0)"}
SHORT = {"supervised": "sup."}


def initial_map(name: str, data) -> np.ndarray:
    """The unrefined start ``name``: supervised Procrustes on the train lexicon, or gw's initialisation."""
    if name == "supervised":
        return get_aligner("procrustes", refine_iters=0).fit(data.src, data.tgt, data.train).W
    return get_aligner("gw", refine_iters=0).fit(data.src, data.tgt).W


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", action="append", required=True, help="RESULTS_JSON:SETTING_ID (repeatable)")
    ap.add_argument("--checkpoints", default="5,10,20,40", help="cumulative refinement steps to report at")
    ap.add_argument("--starts", default="supervised,gw", help="comma-separated starts to refine: supervised, gw")
    ap.add_argument("--reweight", action="store_true",
                    help="also report P@1 of the multi-step final map (--reweight) at each checkpoint")
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
    names = [n.strip() for n in args.starts.split(",") if n.strip()]
    if not names or any(n not in START_NAMES for n in names) or len(set(names)) != len(names):
        raise SystemExit(f"error: --starts {args.starts!r}: choose one or both of {', '.join(START_NAMES)}")
    t_start = time.time()
    spaces = [(spec, load_space(spec, args.max_vocab)) for spec in args.space]
    final = ProcrustesAligner(reweight=True)  # the aligners' own multi-step final map (--reweight)
    rows: list[dict] = []
    for spec, data in spaces:
        x, y = data.x, data.y
        starts = {n: initial_map(n, data) for n in names}
        done, last = 0, {k: None for k in starts}
        for cp in checkpoints:
            for k in starts:
                if cp > done:
                    starts[k], hist = refine(x, y, starts[k], n_iter=cp - done)
                    last[k] = hist[-1]["change"]
            done = cp
            dicts = {k: induce_dictionary(x @ w, y) for k, w in starts.items()}
            pair = {}
            if len(starts) == 2:
                (wa, da), (wb, db) = ((starts[n], dicts[n]) for n in names)
                pair = {"map_distance": float(np.linalg.norm(wa - wb) / np.sqrt(x.shape[1])),
                        "dictionary_jaccard": jaccard(da, db)}
            for k, w in starts.items():
                row = {"space": space_label(spec), "start": k, "steps": cp, "p1": data.p1(w),
                       "criterion": muse_criterion(x @ w, y), "last_change": last[k], "pairs": int(len(dicts[k])), **pair}
                if args.reweight:
                    row["p1_reweighted"] = evaluate_mapping(final.final_mapping(x, y, w, {}), data.src, data.tgt,
                                                            data.test).get("csls", 1)
                row["elapsed_s"] = time.time() - t_start
                rows.append(row)
                log_row(row)
    meta = probe_meta("refine_length_probe.py", argv, t_start)
    short = [SHORT.get(n, n) for n in names]
    head = ["space", "steps"] + [f"P@1 {n} start" for n in names]
    head += [f"P@1 reweighted, {n} start" for n in names] if args.reweight else []
    head += [f"criterion {' / '.join(short)}", f"last change {' / '.join(short)}"]
    head += ["map distance", "dictionary Jaccard"] if len(names) == 2 else []
    title = ("does more shared refinement carry the gw start to the supervised solution?" if len(names) == 2
             else f"how P@1 moves with more shared refinement from the {names[0]} start")
    lines = report_header(f"Refinement length: {title}",
                          "refine_length_probe.py", meta) + [
             f"- starts: {', '.join(START_TEXT[n] for n in names)}, unrefined; "
             "then the shared refinement (CSLS mutual nearest neighbours among the top 15k, Procrustes) for the given "
             "total steps; P@1 = CSLS P@1 (%) on the test lexicon; change = ||W_new - W|| / sqrt(d) of the last step"
             + ("; distance = ||W_a - W_b|| / sqrt(d); Jaccard = overlap of the two maps' induced dictionaries" if len(names) == 2 else "")
             + ("; reweighted = the multi-step final map of `--reweight` fitted on the map's induced dictionary" if args.reweight else "")
             + "\n", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    by = {(r["space"], r["steps"], r["start"]): r for r in rows}
    for space, steps in dict.fromkeys((r["space"], r["steps"]) for r in rows):
        rs = [by[(space, steps, n)] for n in names]
        cells = [space, str(steps)] + [fmt(100 * r["p1"], 1) for r in rs]
        cells += [fmt(100 * r["p1_reweighted"], 1) for r in rs] if args.reweight else []
        cells += [" / ".join(f"{r['criterion']:.4f}" for r in rs), " / ".join(fmt(r["last_change"], 3) for r in rs)]
        cells += [f"{rs[0]['map_distance']:.3f}", f"{rs[0]['dictionary_jaccard']:.3f}"] if len(names) == 2 else []
        lines.append("| " + " | ".join(cells) + " |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
