"""Does re-inducing the dictionary with the multi-step final map, and refitting it, move unsupervised toward supervised?

Every aligner's ``--reweight`` final map (``udm.reweighting``: whitening, orthogonal mapping, re-weighting,
de-whitening; Artetxe et al. 2018) is fitted once, on the dictionary the refined *orthogonal* map induces. Where
the orthogonal map is much weaker than the final one (en-de vectors trained for 15 epochs: 15.8 orthogonal against
21.4 reweighted supervised), that dictionary may hold the final map back. This probe takes a study's kept
reweighted mappings (its supervised Procrustes cell and every unsupervised run of ``--method``), and for
``--rounds`` rounds induces a dictionary in the final map's shared space (bidirectional CSLS among the top
``--rank`` words a side, as ``reweighted_final_map`` does from the orthogonal map) and refits the multi-step map on
it. It reports CSLS P@1 on the study's test split after each round, and per round the unsupervised runs pooled
against the supervised map refitted the same way (paired, word by word): if the rounds lift the unsupervised maps
more than the supervised one, a longer final step closes the gap. No gold pair is used by the rounds::

    python experiments/final_rounds_probe.py --study experiments/results/bli_epochs15_ende_lift.json \\
        --study experiments/results/bli_epochs15_ende_lift_s7to10.json --rounds 4 --name final_rounds_epochs15_ende
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import (ROOT, difference_cells, find_cached, jaccard, log_row, probe_meta, read_study,  # noqa: E402
                          report_header, study_vectors, write_probe_report)

from udm import Lexicon, Mapping, evaluate_mapping  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.normalize import normalize  # noqa: E402
from udm.refinement import induce_dictionary  # noqa: E402
from udm.reweighting import multistep_map  # noqa: E402
from udm.significance import compare_runs  # noqa: E402

CACHE = ROOT / "experiments" / "cache"


def refit_round(mapping: Mapping, x: np.ndarray, y: np.ndarray, rank: int) -> tuple[Mapping, np.ndarray]:
    """Induce a dictionary in ``mapping``'s shared space (union CSLS, top ``rank``) and refit the multi-step map on it.

    ``x`` / ``y`` are the source / target vectors normalised as the mapping expects (``src_norm`` / ``tgt_norm``).
    Returns the refitted mapping and the dictionary (index pairs) it was fitted on.
    """
    pairs = induce_dictionary(mapping.transform(x, normalized=True), mapping.prepare_target(y, normalized=True),
                              max_rank=rank, mode="union")
    w_src, w_tgt = multistep_map(x, y, pairs)
    return Mapping(w_src, mapping.src_norm, mapping.tgt_norm, {}, w_tgt, mapping.mapped_norm), pairs


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--study", action="append", required=True,
                    help="a run_bli results JSON with kept reweighted mappings (repeatable: studies on the same vectors)")
    ap.add_argument("--method", default="gw", help="the unsupervised method whose runs are refitted")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--rank", type=int, default=20000, help="most frequent words a side the induction uses")
    ap.add_argument("--cache-dir", default=str(CACHE), help="run_bli's cache (kept mappings, vectors, lexicons)")
    ap.add_argument("--name", default="final_rounds")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    if args.rounds < 1:
        raise SystemExit("error: --rounds must be at least 1")
    t_start = time.time()
    cache = Path(args.cache_dir)

    studies = [(path, read_study(path)) for path in args.study]
    for path, study in studies:
        if not study["settings"]:
            raise SystemExit(f"error: {path} has no settings")
    first = studies[0][1]["settings"][0]
    if not first.get("vectors") or not first.get("test_lexicon"):
        raise SystemExit(f"error: {args.study[0]} names no vectors or test lexicon (not a run_bli study with a trained setting)")
    if any(s["settings"][0].get("vectors") != first["vectors"] for _, s in studies[1:]):
        raise SystemExit("error: every --study must be on the same vectors (the first one's)")
    sup = [c for c in first.get("cells", []) if c.get("method") == "procrustes" and c.get("status") == "ok"]
    if not sup:
        raise SystemExit(f"error: need an ok procrustes cell in {args.study[0]}")
    runs = sorted({c["cell"]: c for _, s in studies for c in s["settings"][0].get("cells", [])
                   if c.get("method") == args.method and c.get("status") == "ok"}.values(),
                  key=lambda c: (c.get("seed", 0), c["cell"]))
    if not runs:
        raise SystemExit(f"error: no ok {args.method} cells in the studies given")
    try:
        src, tgt = study_vectors(studies[0][1], first, cache)
        test = Lexicon.load(find_cached(first["test_lexicon"], cache, "lexicons"))
        maps = [("supervised", 0, Mapping.load(cache / "cells" / f"{sup[0]['cell']}.mapping.npz"))]
        maps += [(args.method, c.get("seed", 0), Mapping.load(cache / "cells" / f"{c['cell']}.mapping.npz")) for c in runs]
    except (UdmError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    if any(m.W_tgt is None for *_, m in maps):
        raise SystemExit("error: every kept mapping must have a multi-step final map (a study run with --reweight)")

    rows, reports = [], []  # reports[i][r]: map i's evaluation after r rounds (0 = the study's own map)
    for kind, seed, mapping in maps:
        t0 = time.time()
        x, y = mapping.prepare_source(src.vectors), normalize(tgt.vectors, mapping.tgt_norm)
        reps, sizes, overlaps, previous = [evaluate_mapping(mapping, src, tgt, test, methods=("csls",))], [], [], None
        for _ in range(args.rounds):
            mapping, pairs = refit_round(mapping, x, y, args.rank)
            sizes.append(int(len(pairs)))
            if previous is not None:
                overlaps.append(jaccard(previous, pairs))
            previous = pairs
            reps.append(evaluate_mapping(mapping, src, tgt, test, methods=("csls",)))
        reports.append(reps)
        row = {"map": kind, "seed": seed, "p1": [r.get("csls", 1) for r in reps], "pairs": sizes,
               "overlap": overlaps, "seconds": time.time() - t0}
        rows.append(row)
        log_row({"map": kind, "seed": seed, "p1": " ".join(f"{100 * p:.1f}" for p in row["p1"]),
                 "seconds": row["seconds"]})
    pooled = []
    for r in range(args.rounds + 1):
        cmp = compare_runs([reps[r] for reps in reports[1:]], reports[0][r], "csls", 1).to_dict()
        pooled.append({"round": r, **cmp})

    meta = probe_meta("final_rounds_probe.py", argv, t_start, studies=list(args.study), method=args.method,
                      rounds=args.rounds, rank=args.rank, vectors=[first["vectors"][s]["path"] for s in ("src", "tgt")],
                      test_words=len(test.golds))
    lines = report_header("The multi-step final map refitted on the dictionary it induces, round by round",
                          "final_rounds_probe.py", meta) + [
        "- studies: " + ", ".join(f"`{p}`" for p in args.study) + f"; their kept maps: the supervised Procrustes cell "
        f"(train lexicon, refined, multi-step final map) and {len(runs)} `{args.method}` runs (seeds "
        f"{', '.join(str(c.get('seed', 0)) for c in runs)})",
        f"- each round: bidirectional CSLS dictionary among the top {args.rank:,} words a side in the current map's "
        "shared space, then the multi-step map refitted on it (no gold pair used); round 0 is the study's own map",
        f"- CSLS P@1 (%) on the study's test split ({len(test.golds)} words)\n",
        "- overlap: Jaccard overlap of each round's dictionary with the previous round's (from round 2 on)\n",
        "| map | seed | " + " | ".join(f"round {r}" for r in range(args.rounds + 1))
        + " | dictionary pairs per round | overlap | s |",
        "|---|---|" + "---|" * (args.rounds + 1) + "---|---|---|"]
    for row in rows:
        lines.append(f"| {row['map']} | {row['seed']} | " + " | ".join(f"{100 * p:.1f}" for p in row["p1"])
                     + f" | {' / '.join(f'{n:,}' for n in row['pairs'])} | "
                     + f"{' / '.join(f'{j:.3f}' for j in row['overlap']) or '-'} | {row['seconds']:.0f} |")
    lines += ["", f"The {len(runs)} `{args.method}` runs pooled against the supervised map after the same number of "
              "rounds (each word's hit rate over the runs minus the supervised map's hit; 95% CI from its standard "
              "error):\n",
              "| round | unsupervised mean | supervised | A - B | 95% CI | p |", "|---|---|---|---|---|---|"]
    for c in pooled:
        diff, ci = difference_cells(c)
        lines.append(f"| {c['round']} | {100 * c['p_a']:.2f} | {100 * c['p_b']:.2f} | {diff} | {ci} | {c['p_value']:.3g} |")
    write_probe_report(args, meta, [*rows, *pooled], lines)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
