"""Can perturbing the unsupervised fixed point and keeping what the criterion prefers (basin hopping) reach supervised?

``refine_length_probe.py`` showed that the supervised start and the gw start, refined to convergence, settle at
different fixed points, and that the MUSE criterion ranks the supervised one higher. This probe takes the gw fixed
point, perturbs it in several ways (stochastic dictionary induction that keeps each induced pair with probability
p, an annealed schedule of such steps, bidirectional ``union`` induction over the top 20k, induction restricted to
the top N words), refines each result to convergence with the shared refinement, and reports CSLS P@1, the criterion
and the dictionary overlap with the supervised fixed point: if the criterion's choice among these maps reaches the
supervised P@1, a criterion-guided basin search closes the gap. Spaces are named as in ``failure_probe.py``::

    python experiments/basin_probe.py --space experiments/results/bli_none.json:en-de/none/1 --name basin_probe
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

from bli_core import spearman  # noqa: E402
from failure_probe import load_space, space_label  # noqa: E402
from probe_common import fmt, jaccard, log_row, probe_meta, report_header, write_probe_report  # noqa: E402

from udm import get_aligner  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.procrustes import procrustes  # noqa: E402
from udm.refinement import induce_dictionary, refine, sample_pairs  # noqa: E402

DEFAULT_PERTURBATIONS = "stochastic:0.5,stochastic:0.3,anneal,union,rank:5000"


def stochastic_steps(x: np.ndarray, y: np.ndarray, w: np.ndarray, schedule: list[float], rng: np.random.Generator,
                     rank: int) -> np.ndarray:
    """One Procrustes step per entry of ``schedule``: union induction among the top ``rank`` words, each pair kept
    with that probability (at least two kept)."""
    for p in schedule:
        pairs = sample_pairs(induce_dictionary(x @ w, y, max_rank=rank, mode="union"), p, rng)
        w = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
    return w


def perturbation(spec: str, rank: int, steps: int, rng: np.random.Generator) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The perturbation named ``spec`` (``stochastic:P``, ``anneal``, ``union``, ``rank:N``) as ``f(x, y, w) -> w``."""
    kind, _, arg = spec.partition(":")
    try:
        if kind == "stochastic":
            p = float(arg)
            if not 0 < p <= 1:
                raise ValueError
            return lambda x, y, w: stochastic_steps(x, y, w, [p] * steps, rng, rank)
        if kind == "anneal" and not arg:
            return lambda x, y, w: stochastic_steps(x, y, w, [q for q in (0.1, 0.2, 0.4, 0.8) for _ in range(3)], rng, rank)
        if kind == "union" and not arg:
            return lambda x, y, w: refine(x, y, w, n_iter=steps, max_rank=rank, mode="union")[0]
        if kind == "rank":
            n = int(arg)
            if n < 2:
                raise ValueError
            return lambda x, y, w: refine(x, y, w, n_iter=steps, max_rank=n)[0]
    except ValueError:
        pass
    raise SystemExit(f"error: unknown perturbation {spec!r}; use stochastic:P (0<P<=1), anneal, union or rank:N")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", action="append", required=True, help="RESULTS_JSON:SETTING_ID (repeatable)")
    ap.add_argument("--perturbations", default=DEFAULT_PERTURBATIONS,
                    help="comma-separated: stochastic:P, anneal, union, rank:N (each from the gw fixed point)")
    ap.add_argument("--perturb-steps", type=int, default=5, help="steps of stochastic:P / union / rank:N")
    ap.add_argument("--perturb-rank", type=int, default=20000, help="words taking part in stochastic and union induction")
    ap.add_argument("--max-steps", type=int, default=30, help="cap on each refinement to convergence (tol 1e-4)")
    ap.add_argument("--perturb-supervised", action="store_true",
                    help="also apply each perturbation to the supervised fixed point (does it lift supervised too?)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--name", default="basin_probe")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    if min(args.perturb_steps, args.max_steps) < 1 or args.perturb_rank < 2:
        raise SystemExit("error: --perturb-steps and --max-steps must be >= 1 and --perturb-rank >= 2")
    rng = np.random.default_rng(args.seed)
    kinds = [k for k in args.perturbations.split(",") if k]
    perturb = {k: perturbation(k, args.perturb_rank, args.perturb_steps, rng) for k in kinds}  # fail fast
    t_start = time.time()
    spaces = [(spec, load_space(spec, args.max_vocab)) for spec in args.space]
    rows: list[dict] = []
    for spec, data in spaces:
        x, y = data.x, data.y

        def settle(name: str, w: np.ndarray, t0: float) -> dict:
            w, hist = refine(x, y, w, n_iter=args.max_steps)
            row = {"space": space_label(spec), "map": name, "p1": data.p1(w), "criterion": muse_criterion(x @ w, y),
                   "steps": len(hist), "last_change": hist[-1]["change"], "seconds": time.time() - t0}
            log_row(row)
            return {**row, "_w": w}

        t0 = time.time()
        sup = settle("supervised", get_aligner("procrustes", refine_iters=0).fit(data.src, data.tgt, data.train).W, t0)
        t0 = time.time()
        base = settle("gw", get_aligner("gw", seed=args.seed, refine_iters=0).fit(data.src, data.tgt).W, t0)
        found = [sup, base]
        for start in [base, sup] if args.perturb_supervised else [base]:
            for k in kinds:
                t0 = time.time()
                found.append(settle(f"{start['map']} + {k}", perturb[k](x, y, start["_w"]), t0))
        sup_dict = induce_dictionary(x @ sup["_w"], y)
        for r in found:
            r["jaccard_to_supervised"] = jaccard(sup_dict, induce_dictionary(x @ r.pop("_w"), y))
            rows.append(r)
    meta = probe_meta("basin_probe.py", argv, t_start)
    lines = report_header("Basin hopping: do perturbations of the gw fixed point that the criterion prefers reach supervised?",
                          "basin_probe.py", meta) + [
        f"- fixed points: the supervised Procrustes start (train lexicon) and the gw start (seed {args.seed}), each refined "
        f"by the shared refinement until W stops moving (at most {args.max_steps} steps); `gw + X` (`supervised + X`): perturbation X applied "
        f"to the gw (or the supervised) fixed point, then refined the same way. stochastic:P = {args.perturb_steps} Procrustes steps on union "
        f"induction among the top {args.perturb_rank} words keeping each pair with probability P; anneal = 3 such steps "
        f"at each of P = 0.1, 0.2, 0.4, 0.8; union = {args.perturb_steps} refinement steps with union induction among the "
        f"top {args.perturb_rank}; rank:N = {args.perturb_steps} refinement steps among the top N. P@1 = CSLS P@1 (%) on "
        "the test lexicon; Jaccard = overlap of the map's induced dictionary with the supervised fixed point's\n",
        "| space | map | P@1 | MUSE criterion | steps to settle | Jaccard to supervised |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['space']} | {r['map']} | {fmt(100 * r['p1'], 1)} | {r['criterion']:.5f} | {r['steps']} | "
                     f"{r['jaccard_to_supervised']:.3f} |")
    lines += ["", "Per space, among the unsupervised maps (gw and its perturbations): the one the criterion picks, "
              "and how the criterion ranks them against P@1 (supervised = the supervised fixed point, unperturbed):", "",
              "| space | supervised P@1 | picked | picked P@1 | ratio to supervised | best unsup. P@1 | "
              "maps above supervised criterion | Spearman criterion vs P@1 |", "|---|---|---|---|---|---|---|---|"]
    for space in dict.fromkeys(r["space"] for r in rows):
        sup = next(r for r in rows if r["space"] == space and r["map"] == "supervised")
        uns = [r for r in rows if r["space"] == space and not r["map"].startswith("supervised")]
        pick = max(uns, key=lambda r: r["criterion"])
        rho = spearman([r["criterion"] for r in uns], [r["p1"] for r in uns])
        lines.append(f"| {space} | {100 * sup['p1']:.1f} | {pick['map']} | {100 * pick['p1']:.1f} | "
                     f"{pick['p1'] / max(1e-9, sup['p1']):.2f} | {100 * max(r['p1'] for r in uns):.1f} | "
                     f"{sum(r['criterion'] > sup['criterion'] for r in uns)}/{len(uns)} | {fmt(rho, 2)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
