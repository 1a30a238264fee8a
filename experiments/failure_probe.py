"""Which dictionary-free statistic tells a failed unsupervised map from a correct one, across spaces?

The failure check of the unsupervised aligners compares the final MUSE criterion with a random orthogonal start put
through the same refinement ("headroom share", ``udm/aligners/unsupervised.py``). On small spaces (25% of the en-fr
shared documents without the glosses) it let failed maps through. This probe refits, on each given space, the
supervised map (Procrustes on the train lexicon + refinement, as the study) and the unsupervised aligners (seed 0,
no time budget), refines ``--random-starts`` random orthogonal starts the same way, and scores every map with the
dictionary-free statistics, each made relative to the refined random starts of its space so that spaces compare:

* ``muse share``: (MUSE criterion - refined random's) / (1 - refined random's), the quantity the check thresholds;
* ``gw share``: 1 - distortion / refined random's distortion, where distortion = mean squared difference of the
  source and target cosine similarities over the CSLS-matched top 2,000 words (``udm.criteria.gw_criterion``);
* ``sinkhorn share``: 1 - Sinkhorn divergence / refined random's (``udm.criteria.sinkhorn_criterion``).

It then reports, per statistic, the threshold that best separates successes (CSLS P@1 > 5%) from failures over all
maps of the run and how many maps it gets right: an in-sample fit, stated as such. Spaces are named by a results
file of ``run_bli.py`` and a setting id in it (vectors and lexicon split are read from there)::

    python experiments/failure_probe.py --space experiments/results/bli_none.json:en-de/none/1 ... --name failure_probe
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

from probe_common import PairData, fmt, log_row, pair_data, probe_meta, report_header, write_probe_report  # noqa: E402

from udm import Embeddings, Lexicon, get_aligner  # noqa: E402
from udm.criteria import gw_criterion, headroom_share, muse_criterion, random_orthogonal, sinkhorn_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.refinement import refine  # noqa: E402

STATS = ("muse_share", "gw_share", "sinkhorn_share")


def space_label(spec: str) -> str:
    """``RESULTS_JSON:SETTING_ID`` as the reports name it: the results file's stem and the setting id."""
    path, _, sid = spec.rpartition(":")
    return f"{Path(path).stem}:{sid}"


def load_space(spec: str, max_vocab: int) -> PairData:
    """``RESULTS_JSON:SETTING_ID`` -> that setting's top ``max_vocab`` vectors and lexicon split, normalised."""
    path, _, sid = spec.rpartition(":")
    if not path or not sid:
        raise SystemExit(f"error: --space {spec!r} is not RESULTS_JSON:SETTING_ID")
    try:
        settings = json.loads(Path(path).read_text())["settings"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"error: cannot read settings from {path}: {exc}") from None
    match = [s for s in settings if s.get("id") == sid and s.get("vectors")]
    if not match:
        raise SystemExit(f"error: no setting {sid!r} with vectors in {path}")
    s = match[0]
    try:
        src = Embeddings.load(s["vectors"]["src"]["path"]).top(max_vocab)
        tgt = Embeddings.load(s["vectors"]["tgt"]["path"]).top(max_vocab)
        train, test = Lexicon.load(s["train_lexicon"]), Lexicon.load(s["test_lexicon"])
    except (UdmError, KeyError) as exc:
        raise SystemExit(f"error: setting {sid!r} of {path}: {exc}") from None
    return pair_data(src, tgt, train, test)


def raw_stats(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict:
    """The three dictionary-free scores of the map ``w`` (higher = better for each)."""
    return {"muse": muse_criterion(x @ w, y), "gw": gw_criterion(x @ w, y, n_words=2000),
            "sinkhorn": sinkhorn_criterion(x @ w, y, n_words=2000)}


def shares(raw: dict, null: dict) -> dict:
    """Each score relative to the refined random starts' (0 = no better than them)."""
    return {"muse_share": headroom_share(raw["muse"], null["muse"]),
            "gw_share": 1.0 - raw["gw"] / null["gw"], "sinkhorn_share": 1.0 - raw["sinkhorn"] / null["sinkhorn"]}


def best_threshold(values: list[float], ok: list[bool]) -> tuple[float, int]:
    """The cut (success iff value > cut) that classifies the most maps right, and how many."""
    cands = sorted(set(values))
    cuts = [cands[0] - 1e-6] + [(a + b) / 2 for a, b in zip(cands, cands[1:])] + [cands[-1] + 1e-6]
    scored = [(sum((v > c) == o for v, o in zip(values, ok)), c) for c in cuts]
    right, cut = max(scored)
    return cut, right


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--space", action="append", required=True, help="RESULTS_JSON:SETTING_ID (repeatable)")
    ap.add_argument("--methods", default="gw,wp")
    ap.add_argument("--random-starts", type=int, default=3)
    ap.add_argument("--max-vocab", type=int, default=20000)
    ap.add_argument("--refine-iters", type=int, default=5)
    ap.add_argument("--name", default="failure_probe")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    t_start = time.time()
    spaces = [(spec, load_space(spec, args.max_vocab)) for spec in args.space]  # fail fast on bad input
    methods = [m for m in args.methods.split(",") if m]
    rows: list[dict] = []
    for spec, data in spaces:
        x, y = data.x, data.y
        nulls = []
        for r in range(args.random_starts):
            w, _ = refine(x, y, random_orthogonal(x.shape[1], np.random.default_rng(1000 + r)), n_iter=args.refine_iters)
            nulls.append(raw_stats(x, y, w))
        null = {k: float(np.mean([n[k] for n in nulls])) for k in nulls[0]}
        for name in ["procrustes", *methods]:
            t0 = time.time()
            if name == "procrustes":
                mp = get_aligner("procrustes", refine_iters=args.refine_iters).fit(data.src, data.tgt, data.train)
            else:
                mp = get_aligner(name, seed=0, refine_iters=args.refine_iters).fit(data.src, data.tgt)
            raw = raw_stats(x, y, mp.W)
            row = {"space": space_label(spec), "words": [len(data.src), len(data.tgt)], "map": name, "p1": data.p1(mp.W),
                   "flagged_failed": mp.meta.get("failed") if name != "procrustes" else None,
                   "own_headroom_share": mp.meta.get("criterion_headroom_share"), **raw,
                   **{f"null_{k}": v for k, v in null.items()},
                   "null_muse_spread": float(np.ptp([n["muse"] for n in nulls])), **shares(raw, null),
                   "seconds": time.time() - t0}
            rows.append(row)
            log_row(row)

    ok = [r["p1"] > 0.05 for r in rows]
    cuts = {s: best_threshold([r[s] for r in rows], ok) for s in STATS}
    meta = probe_meta("failure_probe.py", argv, t_start,
                      thresholds={s: {"cut": c, "right": n, "of": len(rows)} for s, (c, n) in cuts.items()})
    lines = report_header("Failure detection: which dictionary-free statistic separates failed maps from correct ones?",
                          "failure_probe.py", meta) + [
        f"- maps: supervised Procrustes on the train lexicon + {args.refine_iters} refinement steps, and "
        f"{', '.join(methods)} (seed 0, no time budget); shares are relative to {args.random_starts} random orthogonal "
        f"starts put through the same refinement (mean); success = CSLS P@1 > 5%; `flag` = the aligner's own failure "
        "flag; `own share` = the headroom share the aligner's check used (one refined random start)\n",
        "| space | words | map | P@1 | flag | own share | MUSE crit. | refined random | muse share | gw share | sinkhorn share |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['space']} | {r['words'][0]}/{r['words'][1]} | {r['map']} | {fmt(100 * r['p1'], 1)} | "
                     f"{'-' if r['flagged_failed'] is None else ('failed' if r['flagged_failed'] else 'ok')} | "
                     f"{fmt(r['own_headroom_share'], 3)} | {fmt(r['muse'], 4)} | {fmt(r['null_muse'], 4)} | "
                     f"{fmt(r['muse_share'], 3)} | {fmt(r['gw_share'], 3)} | {fmt(r['sinkhorn_share'], 3)} |")
    lines += ["", "Best single cut per statistic over these maps (in-sample: the cut is chosen on the same maps it is "
              "scored on, so it is an upper bound on what the statistic can do here):", "",
              "| statistic | cut (success iff above) | maps right |", "|---|---|---|"]
    for s, (c, n) in cuts.items():
        lines.append(f"| {s.replace('_', ' ')} | {c:.3f} | {n}/{len(rows)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
