"""Does a stronger final step close the gap to supervised? Shared refinement vs stochastic self-learning, measured.

The ``gw`` aligner's result on en-de shared documents stops at about 0.8 of supervised Procrustes + refinement
(experiments/results/bli_none.md). This script asks whether the final step is what limits it: from two starts
(by default the supervised Procrustes map of the train lexicon, and the ``gw`` initialisation before refinement;
``--starts`` names others, e.g. ``supervised,wp``) it runs

* the shared refinement (iterative Procrustes, CSLS mutual nearest neighbours among the top 15k; the default), and
* robust self-learning (the ``selflearn`` aligner's stochastic dictionary induction: CSLS, both directions, top
  20k words, entries kept with probability 0.1 doubling on stalls; Artetxe et al. 2018) started from that map,
  followed by the same shared refinement,

and reports CSLS P@1 on the test lexicon for each. The self-learning is the shared ``udm.self_learning`` stage
(what ``selflearn`` and ``self_learning=True`` run) started from the dictionary the start map induces
(``--restarts K``: an unsupervised start is the best of K initialisations by the dictionary-free criterion;
``--sl-schedule patience=10,tol=1e-5`` runs self-learning with other schedule settings, repeat it to compare)::

    python experiments/final_step_probe.py --src experiments/cache/vectors/en-....npz \\
        --tgt experiments/cache/vectors/de-....npz --lexicon experiments/cache/lexicons/en-de-.... --name final_step_ende
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import add_pair_args, fmt, load_pair, report_header, run_meta, write_probe_report  # noqa: E402

from udm import get_aligner  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.refinement import refine  # noqa: E402
from udm.self_learning import SelfLearningSchedule, pairs_from_map, stochastic_self_learning  # noqa: E402


def parse_schedule(text: str) -> SelfLearningSchedule:
    """``'patience=10,tol=1e-5'`` (SelfLearningSchedule fields) or ``'default'`` -> a validated schedule."""
    defaults = SelfLearningSchedule()
    if text.strip() in ("", "default"):
        return defaults
    fields = [f.name for f in dataclasses.fields(defaults)]
    kw: dict = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        key = key.strip()
        if key not in fields or not value:
            raise argparse.ArgumentTypeError(f"{item!r}: expected KEY=VALUE with KEY one of {', '.join(fields)}")
        default = getattr(defaults, key)
        cast = int if default is None else type(default)  # the one optional field, stochastic_cutoff, is an int
        kw[key] = (value.strip().lower() in ("1", "true", "yes")) if isinstance(default, bool) else cast(value)
    try:
        return SelfLearningSchedule(**kw)
    except UdmError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def describe_schedule(schedule: SelfLearningSchedule) -> str:
    """``top 20k, union CSLS`` plus the other fields of ``schedule`` that differ from the defaults."""
    base = SelfLearningSchedule()
    changed = [f"{f.name}={getattr(schedule, f.name)}" for f in dataclasses.fields(schedule)
               if f.name not in ("vocab_cutoff", "induction") and getattr(schedule, f.name) != getattr(base, f.name)]
    return f"top {schedule.vocab_cutoff // 1000}k, {schedule.induction} CSLS" + ("; " + ", ".join(changed) if changed else "")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_pair_args(ap, "final_step")
    ap.add_argument("--starts", type=lambda v: v.split(","), default=["supervised", "gw"],
                    help="comma-separated start maps: supervised (Procrustes on the train lexicon) and/or "
                         "unsupervised methods (gw, wp, selflearn, adversarial) without refinement")
    ap.add_argument("--restarts", type=int, default=1,
                    help="restarts for an unsupervised start (the one the criterion prefers before refinement is kept)")
    ap.add_argument("--sl-schedule", action="append", type=parse_schedule, metavar="KEY=VALUE,...",
                    help="a self-learning schedule to run from each start, as SelfLearningSchedule fields "
                         "(e.g. 'patience=10,tol=1e-5'; 'default' for the defaults); repeat to compare schedules "
                         "(default: the defaults only)")
    args = ap.parse_args(argv)
    schedules = args.sl_schedule or [SelfLearningSchedule()]
    unknown = [s for s in args.starts if s not in ("supervised", "gw", "wp", "selflearn", "adversarial")]
    if unknown or not args.starts:
        ap.error(f"--starts: unknown start {unknown[0] if unknown else '(none)'}; "
                 "use supervised, gw, wp, selflearn or adversarial")

    t_start = time.time()
    data = load_pair(args)
    src, tgt, train, x, y, p1 = data.src, data.tgt, data.train, data.x, data.y, data.p1

    starts: dict[str, np.ndarray] = {}
    start_seconds: dict[str, float] = {}
    for name in args.starts:
        t0 = time.time()
        if name == "supervised":
            label = "supervised Procrustes (train lexicon)"
            starts[label] = get_aligner("procrustes", refine_iters=0, progress=False).fit(src, tgt, train).W
        else:
            label = f"{name} initialisation (no refinement)" + (
                f", best of {args.restarts} restarts" if args.restarts > 1 else "")
            starts[label] = get_aligner(name, refine_iters=0, progress=False, seed=args.seed,
                                        restarts=args.restarts).fit(src, tgt).W
        start_seconds[label] = time.time() - t0
    rows: list[dict] = []
    for label, w0 in starts.items():
        p1_start = p1(w0)
        t0 = time.time()
        w, _ = refine(x, y, w0, n_iter=args.refine_iters)
        rows.append({"start": label, "final_step": f"shared refinement ({args.refine_iters} iterations)",
                     "p1_start": p1_start, "p1": p1(w), "sl_objective": None, "sl_iterations": None,
                     "seconds": time.time() - t0, "start_seconds": start_seconds[label]})
        print(rows[-1], file=sys.stderr, flush=True)
        for schedule in schedules:
            t0 = time.time()
            w_sl, sl = stochastic_self_learning(x, y, pairs_from_map(x, y, w0, schedule), schedule,
                                                np.random.default_rng(args.seed))
            w, _ = refine(x, y, w_sl, n_iter=args.refine_iters)
            what = f"stochastic self-learning ({describe_schedule(schedule)})"
            rows.append({"start": label, "final_step": what,
                         "p1_start": p1_start, "p1": p1(w_sl), "sl_objective": sl["sl_objective"],
                         "sl_iterations": sl["sl_iterations"], "sl_final_p": sl["sl_final_p"],
                         "sl_history": sl["sl_history"], "seconds": time.time() - t0,
                         "start_seconds": start_seconds[label]})
            rows.append({**rows[-1], "final_step": f"{what}, then shared refinement ({args.refine_iters})",
                         "p1": p1(w)})
            print([{k: v for k, v in r.items() if k != "sl_history"} for r in rows[-2:]], file=sys.stderr, flush=True)

    meta = run_meta("final_step_probe.py", argv, t_start, args, data)
    lines = report_header(f"Final step: shared refinement vs stochastic self-learning "
                          f"({Path(args.src).name} -> {Path(args.tgt).name})", "final_step_probe.py", meta) + [
             f"- top {len(src)}/{len(tgt)} words; P@1 = CSLS P@1 (%) on {args.lexicon}.test.txt; "
             "self-learning objective = mean cosine of the induced dictionary at its best iteration\n",
             "| start | final step | P@1 of the start | P@1 after | self-learning objective | iterations | seconds |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['start']} | {r['final_step']} | {fmt(100 * r['p1_start'], 1)} | {fmt(100 * r['p1'], 1)} | "
                     f"{fmt(r['sl_objective'], 4)} | {fmt(r['sl_iterations'], 1)} | {fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
