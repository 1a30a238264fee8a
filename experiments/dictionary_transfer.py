"""Carry an unsupervised map's induced dictionary from one pair of vector sets to another of the same languages.

Where the two corpora mix their domains differently (the standard en-es build: English glosses, more Bible
versions and man pages), GW does not find the map on the whole corpora but does on a build balanced by source
(``udm corpora balance``: the sources both languages have, cut to the same tokens a side). Both builds are the
same raw text, so no dictionary is involved anywhere: align the balanced vectors unsupervised, read the
dictionary the map induces (CSLS mutual nearest neighbours among the ``--rank`` most frequent words,
:meth:`udm.Mapping.induced_lexicon`), and fit Procrustes + the shared refinement on the *whole* build's vectors
seeded with it. The result is compared word by word (exact McNemar) with the supervised Procrustes map of the
whole build's study (seeded with the train lexicon, then refined), on that study's test split::

    python experiments/dictionary_transfer.py --from experiments/results/bli_balanced_enes_v7.json:gw \\
        --to experiments/results/bli_standard_enes_v7_sup.json --name transfer_enes

``--from STUDY_JSON:METHOD`` names the unsupervised cells (each seed's kept mapping; one row per seed); give it
more than once to pool the seeds of several studies (for example seeds run in separate batches on the same
vectors) into one report; ``--to STUDY_JSON`` the study whose vectors, test split, refinement and final step
(``--reweight``) are used.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from probe_common import (ROOT, count_correct, difference_cells, find_cached, first_setting, fmt,  # noqa: E402
                          gold_translations, log_row, probe_meta, read_study, report_header, study_procrustes,
                          study_vectors, vector_names, vector_paths)
from bli_core import write_report  # noqa: E402

from udm import Lexicon, Mapping, evaluate_mapping  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.significance import compare_reports, compare_runs  # noqa: E402

CACHE = ROOT / "experiments" / "cache"


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="sources", action="append", required=True,
                    help="STUDY_JSON:METHOD: the unsupervised runs to carry over (repeat to pool several studies)")
    ap.add_argument("--to", dest="target", required=True, help="STUDY_JSON with a procrustes cell: the vectors to map")
    ap.add_argument("--rank", type=int, default=5000, help="induce the dictionary among this many words a side (default 5000)")
    ap.add_argument("--cache-dir", default=str(CACHE), help="run_bli's cache (kept mappings, vectors, lexicons)")
    ap.add_argument("--name", default="dictionary_transfer")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)

    t_start = time.time()
    cache = Path(args.cache_dir)
    sources = []  # (study path, method, study, its first setting, its ok runs of method)
    for source in args.sources:
        path, _, method = source.rpartition(":")
        if not path or not method:
            raise SystemExit(f"error: --from {source!r} is not STUDY_JSON:METHOD")
        study = read_study(path)
        setting = first_setting(study, path)
        runs = [c for c in setting.get("cells", []) if c.get("method") == method and c.get("status") == "ok"]
        if not runs:
            raise SystemExit(f"error: need ok {method} cells in {path}")
        sources.append((path, method, study, setting, runs))
    to_study = read_study(args.target)
    to_setting = first_setting(to_study, args.target)
    params = to_study["meta"]["params"]
    sup = [c for c in to_setting.get("cells", []) if c.get("method") == "procrustes" and c.get("status") == "ok"]
    if not sup:
        raise SystemExit(f"error: need a procrustes cell in {args.target}")
    # one row per distinct kept mapping, in seed order (the same cell named by two studies counts once), each with
    # the files of the vectors it was fitted on
    runs = sorted({cell["cell"]: (cell, vector_paths(setting)) for *_, setting, cells in sources for cell in cells}.values(),
                  key=lambda r: (r[0]["seed"], r[0]["cell"]))
    try:
        from_vectors = {}  # the source studies' vectors, loaded once per pair of files
        for _, _, study, setting, _ in sources:
            key = vector_paths(setting)
            if key not in from_vectors:
                from_vectors[key] = study_vectors(study, setting, cache)
        src, tgt = study_vectors(to_study, to_setting, cache)
        test = Lexicon.load(find_cached(to_setting["test_lexicon"], cache, "lexicons"))
        gold = gold_translations(Lexicon.load(cache / "lexicons" / f"{to_setting.get('pair') or to_setting['id'].split('/')[0]}.txt"))
        sup_map = Mapping.load(cache / "cells" / f"{sup[0]['cell']}.mapping.npz")
    except (UdmError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    ref = evaluate_mapping(sup_map, src, tgt, test, methods=("csls",))
    rows, reports = [], []
    for cell, from_paths in runs:
        t0 = time.time()
        try:
            mapping = Mapping.load(cache / "cells" / f"{cell['cell']}.mapping.npz")
        except UdmError as exc:
            raise SystemExit(f"error: {cell['method']} seed {cell['seed']}: {exc}") from None
        bal_src, bal_tgt = from_vectors[from_paths]
        induced = mapping.induced_lexicon(bal_src, bal_tgt, max_rank=args.rank)
        seeds = induced.restrict(src, tgt)
        correct = count_correct(induced.pairs, gold)
        listed = sum(1 for s, _ in induced.pairs if s in gold)
        fitted = study_procrustes(params, cell["seed"]).fit(src, tgt, seeds)
        rep = evaluate_mapping(fitted, src, tgt, test, methods=("csls",))
        reports.append(rep)
        cmp = compare_reports(rep, ref, "csls", 1)
        row = {"seed": cell["seed"], "from_p1": cell.get("p1"), "from_failed": cell.get("aligner_failed"),
               "induced": len(induced), "carried": len(seeds), "correct": correct, "listed": listed,
               **cmp.to_dict(), "seconds": time.time() - t0}
        rows.append(row)
        log_row({k: v for k, v in row.items() if k != "ci95"})
    pooled = compare_runs(reports, ref, "csls", 1).to_dict() if len(reports) > 1 else None

    meta = probe_meta("dictionary_transfer.py", argv, t_start, rank=args.rank, sources=list(args.sources),
                      target=args.target, refine_iters=params["refine_iters"], refine_rank=params.get("refine_rank"),
                      reweight=bool(params.get("reweight")), supervised_p1=sup[0].get("p1"))
    lines = report_header("An unsupervised map's induced dictionary carried to other vectors of the same languages",
                          "dictionary_transfer.py", meta) + [
        "- from: " + "; ".join(f"the `{method}` runs of `{path}` (their vectors: {vector_names(setting)})"
                               for path, method, _, setting, _ in sources)
        + "; each run's map induces a dictionary (CSLS mutual "
        f"nearest neighbours among the top {args.rank} words a side), kept where both words are in the target study's vocabularies",
        f"- to: `{args.target}` ({vector_names(to_setting)}): Procrustes seeded with the carried pairs, "
        f"{params['refine_iters']} refinement steps (rank {params.get('refine_rank') or 'default'})"
        f"{', the multi-step final map (--reweight)' if params.get('reweight') else ''}; CSLS P@1 on its test split "
        f"({len(test.golds)} words) against its supervised Procrustes cell (train lexicon, then refined), exact McNemar",
        "- correct / listed: induced pairs the whole gold lexicon lists / induced pairs whose source word it has "
        "(dictionary precision where it can be checked; the gold lexicon is used only for this column)\n",
        "| seed | unsupervised P@1 there | induced | carried | correct / listed | carried-seed P@1 | supervised P@1 | A - B | 95% CI | p | s |",
        "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff, ci = difference_cells(r)
        lines.append(f"| {r['seed']} | {fmt(None if r['from_p1'] is None else 100 * r['from_p1'], 1)}{' (flagged)' if r['from_failed'] else ''} | {r['induced']} | "
                     f"{r['carried']} | {r['correct']} / {r['listed']} | {100 * r['p_a']:.1f} | {100 * r['p_b']:.1f} | "
                     f"{diff} | {ci} | {r['p_value']:.3g} | {r['seconds']:.0f} |")
    if pooled:
        diff, ci = difference_cells(pooled)
        lines += ["", f"Pooled over the {pooled['runs']} runs: {100 * pooled['p_a']:.2f} against {100 * pooled['p_b']:.2f} "
                      f"({diff}, 95% CI {ci}, p {pooled['p_value']:.3g})."]
    write_report(Path(args.out_dir), args.name, {"meta": meta, "rows": rows, "pooled": pooled}, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
