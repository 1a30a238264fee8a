"""Is the failure check's null too weak for runs with the self-learning stage?

The unsupervised aligners flag a run failed when its MUSE criterion does not clear a random orthogonal start put
through the same *refinement* by 0.14 of the headroom (``udm/aligners/unsupervised.py``). With ``--self-learning``
the run itself also went through the stochastic self-learning stage, which lifts any start's criterion, so the
refined random start may be too low a bar: on the standard en-es build a wp run at 0.2% P@1 cleared it (share
0.145, ``bli_standard_enes_rank5k.md``). This probe puts ``--starts`` random orthogonal starts through the same
stage *and* refinement (the schedule and refinement rank the study used), and reports, next to each of the study's
cells, the headroom share against that self-learned null as well as against the refined one. It also reports
whether a random start self-learns its way to the map (its own CSLS P@1), which would make such a null unusable::

    python experiments/null_probe.py --space experiments/results/bli_standard_enes_rank5k_v5.json:en-es/none/1 \\
        --name null_probe_enes

``--schedule selflearn`` repeats the ``selflearn`` aligner's own schedule instead of the stage's: the null the
failure check holds selflearn runs (and ``auto`` keeping that start) against.
"""
from __future__ import annotations

import argparse
import json
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
from udm.criteria import headroom_share  # noqa: E402
from udm.mapping import Mapping  # noqa: E402
from udm.retrieval import retrieve  # noqa: E402


def self_learned_null(x: np.ndarray, y: np.ndarray, seed: int, refine_iters: int, refine_rank: Optional[int],
                      schedule_of: str = "stage") -> dict:
    """The failure check's own self-learned null (``UnsupervisedAligner.self_learned_null``) for aligner seed
    ``seed``, self-learned by the schedule of ``schedule_of`` (``stage``: the ``--self-learning`` stage's, which
    gw / wp runs with the stage are checked against; ``selflearn``: that aligner's own), and the refined-only null
    of the same random start."""
    t0 = time.time()
    aligner = (get_aligner("selflearn", seed=seed, refine_iters=refine_iters, refine_rank=refine_rank, progress=False)
               if schedule_of == "selflearn" else
               get_aligner("gw", seed=seed, refine_iters=refine_iters, refine_rank=refine_rank, self_learning=True,
                           progress=False))
    refined_crit = aligner.refined_null_criterion(x, y)
    w, info = aligner.self_learned_null(x, y, refine_iters, None, schedule=aligner.learned_schedule({}))
    return {"w": w, "criterion": aligner.criterion(x @ w, y), "refined_only_criterion": refined_crit,
            "sl_objective": info["sl_objective"], "sl_iterations": info["sl_iterations"], "seconds": time.time() - t0}


def translations(mapped: np.ndarray, tgt: np.ndarray, n: int) -> np.ndarray:
    """CSLS translations (target indices) of the ``n`` most frequent mapped source words."""
    return retrieve(mapped[:n], tgt, k=1, method="csls")[0][:, 0]


def share(score: Optional[float], null: float) -> Optional[float]:
    """The headroom share the failure check thresholds (``udm.criteria.headroom_share``); None without a score."""
    return None if score is None else headroom_share(score, null)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", action="append", required=True, help="RESULTS_JSON:SETTING_ID (repeatable)")
    ap.add_argument("--starts", type=int, default=2, help="random starts per space (aligner seeds from --first-seed)")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--refine-rank", type=int, default=5000)
    ap.add_argument("--schedule", choices=("stage", "selflearn"), default="stage",
                    help="the self-learning the nulls repeat: the --self-learning stage's (gw / wp cells) or the "
                         "selflearn aligner's own (selflearn cells)")
    ap.add_argument("--agree-words", type=int, default=2000,
                    help="top source words whose CSLS translations are compared between a cell's map and the nulls'")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache"), help="where cells/<id>.mapping.npz are")
    ap.add_argument("--name", default="null_probe")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    t_start = time.time()
    rank = args.refine_rank if args.refine_rank > 0 else None
    spaces = [(spec, load_space(spec, args.max_vocab)) for spec in args.space]  # fail fast on bad input
    rows: list[dict] = []
    for spec, data in spaces:
        label = space_label(spec)
        nulls = []
        for r in range(args.starts):
            null = self_learned_null(data.x, data.y, args.first_seed + r, args.refine_iters, rank, args.schedule)
            w = null.pop("w")
            row = {"space": label, "kind": "null", "map": f"random start (seed {args.first_seed + r})", "p1": data.p1(w), **null}
            nulls.append({**row, "tr": translations(data.x @ w, data.y, args.agree_words)})
            rows.append(row)
            log_row(row)
        top = max(n["criterion"] for n in nulls)
        path, _, sid = spec.rpartition(":")
        setting = next(s for s in json.loads(Path(path).read_text())["settings"] if s.get("id") == sid)
        for c in sorted(setting["cells"], key=lambda c: (c["method"], c.get("seed", 0))):
            if c.get("status") != "ok" or c.get("seed_n") is not None:
                continue
            m = c.get("meta") or {}
            kept = Path(args.cache_dir) / "cells" / f"{c['cell']}.mapping.npz"
            agree = None
            if kept.is_file():
                mp = Mapping.load(kept)
                tr = translations(mp.transform(data.x, normalized=True), mp.prepare_target(data.y, normalized=True),
                                  args.agree_words)
                agree = max(float(np.mean(tr == n["tr"])) for n in nulls)
            row = {"space": label, "kind": "cell", "map": f"{c['method']} seed {c.get('seed', 0)}", "p1": c["p1"],
                   "criterion": c.get("criterion"), "flagged_failed": m.get("failed"),
                   "refined_null": m.get("criterion_refined_null"),
                   "refined_share": m.get("criterion_headroom_share"), "sl_null": top,
                   "sl_share": share(c.get("criterion"), top), "agreement": agree}
            rows.append(row)
            log_row(row)
    meta = probe_meta("null_probe.py", argv, t_start)
    through = ("the shared self-learning stage" if args.schedule == "stage"
               else "the selflearn aligner's self-learning")
    lines = report_header("Failure check: a self-learned random start as the null", "null_probe.py", meta) + [
        f"- nulls: the failure check's own (`UnsupervisedAligner.self_learned_null`, aligner seeds {args.first_seed}-"
        f"{args.first_seed + args.starts - 1}): random orthogonal starts through {through} and "
        f"{args.refine_iters} refinement steps among the top {args.refine_rank} words; `refined only` = the same "
        "start after the refinement alone (the null the aligners use now); MUSE criterion over the top 10k words",
        "- cells: the study's own runs (criterion after the stage and the refinement, before any reweighting); "
        "`refined share` = the share the aligner's check used (needs 0.14); `SL share` = against the highest "
        f"self-learned null of the space; `agree` = share of the top {args.agree_words} source words a cell's kept "
        "map translates (CSLS) as one of the nulls does (the highest over the nulls; did a null find the same map?); "
        "success = CSLS P@1 > 5%\n",
        "| space | map | P@1 | criterion | refined only | SL objective | flag | refined share | SL share | agree | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        flag = r.get("flagged_failed")
        lines.append(f"| {r['space']} | {r['map']} | {fmt(100 * r['p1'], 1)} | {fmt(r.get('criterion'), 4)} | "
                     f"{fmt(r.get('refined_only_criterion'), 4)} | {fmt(r.get('sl_objective'), 4)} | "
                     f"{'-' if flag is None else ('failed' if flag else 'ok')} | {fmt(r.get('refined_share'), 3)} | "
                     f"{fmt(r.get('sl_share'), 3)} | {fmt(r.get('agreement'), 3)} | {fmt(r.get('seconds'), 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
