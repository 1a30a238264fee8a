"""Does a vote over several unsupervised runs give a better seed dictionary than any one run? Measured.

Ten aligner seeds of one unsupervised method land on slightly different maps (en-de shared documents: 16.9-17.9
CSLS P@1 against 18.4 supervised, `bli_gw2starts_sl_reweight_seeds10_ende.md`). If their errors are independent,
the word pairs most runs agree on should be a cleaner seed dictionary than any one run's. This reads a
``run_bli.py`` study JSON, loads the mappings its runs of ``--method`` kept (``<cache>/cells/<cell>.mapping.npz``),
induces from each the CSLS mutual-nearest-neighbour dictionary among the top ``--max-rank`` words (the shared
refinement's induction), and for each vote threshold V fits the supervised pipeline of the study (Procrustes, the
shared refinement, and the multi-step final map if the study used ``--reweight``) on the pairs at least V runs
induced. No gold pairs enter the fit: the consensus is a dictionary-free method, and its MUSE criterion is reported
beside its P@1. The gold lexicon (train and test) only counts how many consensus pairs are correct::

    python experiments/consensus_probe.py --study experiments/results/<study>.json --name consensus_<study>
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from probe_common import (count_correct, find_cached, fmt, gold_translations, log_row, probe_meta, report_header,  # noqa: E402
                          read_study, study_procrustes, study_vectors, write_probe_report)
from udm import Lexicon, Mapping, evaluate_mapping  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.refinement import induce_dictionary  # noqa: E402


def vote(dictionaries: list[list[tuple[str, str]]]) -> dict[tuple[str, str], int]:
    """How many of the runs' dictionaries contain each word pair (a pair counts once per run)."""
    votes: dict[tuple[str, str], int] = {}
    for pairs in dictionaries:
        for p in set(pairs):
            votes[p] = votes.get(p, 0) + 1
    return votes


def consensus(votes: dict[tuple[str, str], int], min_votes: int) -> Lexicon:
    """The pairs with at least ``min_votes`` votes, most-voted first (ties in first-seen order)."""
    kept = [p for p, v in votes.items() if v >= min_votes]
    return Lexicon(sorted(kept, key=lambda p: -votes[p]))


def pick_setting(study: dict, sid: Optional[str], method: str) -> dict:
    """The setting named ``sid``, or the first one with at least two ok runs of ``method``."""
    for s in study["settings"]:
        runs = [c for c in s.get("cells", []) if c.get("method") == method and c.get("status") == "ok"]
        if (sid is None and len(runs) >= 2) or s.get("id") == sid:
            return s
    raise SystemExit(f"error: no setting {sid!r}" if sid else f"error: no setting with two or more {method} runs")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", required=True, help="a run_bli.py study JSON whose cells kept their mappings")
    ap.add_argument("--setting", help="setting id, e.g. en-de/none/1 (default: the first with two or more runs)")
    ap.add_argument("--method", default="gw", help="the unsupervised method whose runs vote (default gw)")
    ap.add_argument("--votes", default="10,8,5,3,1", help="vote thresholds, comma-separated (default 10,8,5,3,1)")
    ap.add_argument("--max-rank", type=int, default=15000, help="induce each run's dictionary among this many words")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache"))
    ap.add_argument("--name", default="consensus_probe")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    try:
        thresholds = sorted({int(v) for v in args.votes.split(",")}, reverse=True)
    except ValueError:
        ap.error(f"--votes {args.votes!r}: expected comma-separated integers")
    if not thresholds or thresholds[-1] < 1:
        ap.error("--votes: thresholds must be at least 1")
    t0, cache = time.time(), Path(args.cache_dir)
    study = read_study(args.study)
    setting = pick_setting(study, args.setting, args.method)
    params = study["meta"]["params"]
    try:
        src, tgt = study_vectors(study, setting, cache)
        train = Lexicon.load(find_cached(setting["train_lexicon"], cache, "lexicons"))
        test = Lexicon.load(find_cached(setting["test_lexicon"], cache, "lexicons"))
    except UdmError as exc:
        raise SystemExit(f"error: {exc}") from None
    gold = gold_translations(Lexicon(train.pairs + test.pairs))

    runs, dictionaries = [], []
    for c in setting["cells"]:
        kept = cache / "cells" / f"{c.get('cell')}.mapping.npz"
        if c.get("method") != args.method or c.get("status") != "ok" or not kept.is_file():
            continue
        m = Mapping.load(kept)
        idx = induce_dictionary(m.transform(src.vectors), m.prepare_target(tgt.vectors), max_rank=args.max_rank)
        pairs = [(src.words[a], tgt.words[b]) for a, b in idx.tolist()]
        dictionaries.append(pairs)
        runs.append({"seed": c["seed"], "p1": c.get("p1"), "pairs": len(pairs), "correct": count_correct(pairs, gold)})
        log_row(runs[-1])
    if len(runs) < 2:
        raise SystemExit(f"error: {len(runs)} {args.method} run(s) of {setting['id']} kept a mapping; two are needed "
                         "(run_bli.py --need-mappings keeps them)")
    votes = vote(dictionaries)
    rows = []
    seeds = [(v, consensus(votes, v)) for v in thresholds if v <= len(runs)] + [(None, train)]
    for v, lex in seeds:  # the train lexicon last: the supervised reference through the same two pipelines
        row = {"min_votes": v, "seed_dictionary": f">= {v} votes" if v else "train lexicon (supervised)",
               "pairs": len(lex.restrict(src, tgt)), "correct": count_correct(lex.restrict(src, tgt).pairs, gold)}
        for label in ("procrustes", "final"):
            t1 = time.time()
            m = study_procrustes(params, final=label == "final").fit(src, tgt, lex)
            row[f"p1_{label}"] = evaluate_mapping(m, src, tgt, test, methods=("csls",)).get("csls", 1)
            row[f"criterion_{label}"] = muse_criterion(m.transform(src.vectors), m.prepare_target(tgt.vectors))
            row[f"seconds_{label}"] = time.time() - t1
        rows.append(row)
        log_row(row)
    sup = [c for c in setting["cells"] if c.get("method") == "procrustes" and c.get("status") == "ok"]
    run_p1 = [r["p1"] for r in runs if r["p1"] is not None]
    final_step = "Procrustes + %d refinement steps%s" % (params["refine_iters"],
                                                         " + the multi-step final map" if params.get("reweight") else "")
    meta = probe_meta("consensus_probe.py", argv, t0, study=Path(args.study).name, setting=setting["id"],
                      method=args.method, max_rank=args.max_rank, final_step=final_step, runs=runs,
                      supervised_p1=sup[0].get("p1") if sup else None)
    lines = report_header(f"Consensus of {len(runs)} {args.method} runs as a seed dictionary ({setting['id']})",
                          "consensus_probe.py", meta)
    lines += [f"- study `{Path(args.study).name}`, setting {setting['id']}; each run's dictionary: CSLS mutual nearest "
              f"neighbours among the top {args.max_rank} words under its kept mapping",
              f"- the runs: CSLS P@1 {fmt(100 * min(run_p1), 1)}-{fmt(100 * max(run_p1), 1)} (mean "
              f"{fmt(100 * statistics.mean(run_p1), 2)}); their dictionaries {min(r['pairs'] for r in runs)}-"
              f"{max(r['pairs'] for r in runs)} pairs, {min(r['correct'] for r in runs)}-"
              f"{max(r['correct'] for r in runs)} of them in the gold lexicon (train + test); "
              f"{len(votes)} distinct pairs in all",
              f"- supervised ({final_step} on the train lexicon), recorded in the study: "
              f"{fmt(100 * sup[0]['p1'], 1) if sup else '-'}",
              f"- P@1 = CSLS P@1 (%) on the test lexicon; criterion = MUSE criterion (dictionary-free); `final` = "
              f"{final_step} seeded with the consensus pairs; correct = consensus pairs in the gold lexicon "
              "(train + test), a diagnostic only; pairs = pairs of words both vocabularies hold. The last row fits the "
              "same two pipelines on the train lexicon: the supervised reference\n",
              "| seed dictionary | pairs | correct | P@1 Procrustes | criterion Procrustes | P@1 final | criterion final "
              "| seconds |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['seed_dictionary']} | {r['pairs']} | {r['correct']} | {fmt(100 * r['p1_procrustes'], 1)} | "
                     f"{fmt(r['criterion_procrustes'], 5)} | {fmt(100 * r['p1_final'], 1)} | {fmt(r['criterion_final'], 5)} | "
                     f"{fmt(r['seconds_procrustes'] + r['seconds_final'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
