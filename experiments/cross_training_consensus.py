"""Does a vote across separately trained vector sets of the same corpora give a better seed dictionary? Measured.

On en-de the unsupervised maps stop below the supervised map of the vectors they are fitted on, yet a dictionary
induced on one vector training and carried to another reaches that other training's supervised level
(``dictionary_transfer.py``). A vote over ten seeds of one training gained nothing (``consensus_probe.py``): runs on
the same vectors share their errors. Runs on different trainings (other epochs, other character n-grams) may not.

This reads several ``run_bli.py`` studies of one pair whose unsupervised runs kept their mappings; studies on the
same vector files are one training (their runs pooled). Each run induces the refinement's dictionary (CSLS mutual
nearest neighbours among the top ``--max-rank`` words a side) on its own vectors; a training's dictionary is the
pairs at least half its runs induce (``--run-share``). Each training's dictionary alone, then the pairs at least V trainings share
(V = the number of trainings down to 1), seed the supervised pipeline of the ``--to`` study on its vectors
(Procrustes, its refinement steps and rank, the multi-step final map if it used ``--reweight``); so does its train
lexicon, the supervised reference, and every row is compared with that reference word by word (exact McNemar).
``--draws N`` repeats the vote N times with one run drawn at random from each training, and pools each rule (and
the row the dictionary-free criterion picks in each draw) over the draws against the supervised reference.
No gold pair enters an unsupervised row's fit; the gold lexicon only scores them and counts correct pairs::

    python experiments/cross_training_consensus.py --study experiments/results/bli_subwords56_epochs15_ende.json \\
        --study experiments/results/bli_subwords_ende_plain.json --study experiments/results/bli_subwords56_ende.json \\
        --to experiments/results/bli_subwords56_epochs15_ende.json --name cross_training_consensus_ende
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from consensus_probe import consensus, vote  # noqa: E402
from probe_common import (count_correct, difference_cells, find_cached, first_setting, fmt,  # noqa: E402
                          gold_translations, log_row, probe_meta, read_study, report_header, study_procrustes,
                          study_vectors, vector_names, write_probe_report)
from udm import Lexicon, Mapping, evaluate_mapping  # noqa: E402
from udm.criteria import muse_criterion  # noqa: E402
from udm.errors import UdmError  # noqa: E402
from udm.significance import compare_reports, compare_runs  # noqa: E402


def significantly_below(cmp: dict) -> bool:
    """Whether a paired comparison (``to_dict`` of :func:`compare_reports`) puts A significantly below B (0.05)."""
    return cmp["p_value"] < 0.05 and cmp["difference"] < 0


def training_dictionary(dictionaries: list[list[tuple[str, str]]], share: float = 0.5) -> Lexicon:
    """The pairs at least ``share`` of one training's runs induce (at least one run; ``share=0``: their union)."""
    return consensus(vote(dictionaries), max(1, math.ceil(share * len(dictionaries) - 1e-9)))


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="append", required=True,
                    help="a run_bli.py study JSON whose unsupervised runs kept their mappings (repeat; at least two trainings)")
    ap.add_argument("--to", required=True, help="the study whose vectors, test split and supervised pipeline are used")
    ap.add_argument("--setting", help="setting id in every study, e.g. en-de/none/1 (default: each study's first)")
    ap.add_argument("--method", default="gw", help="the unsupervised method whose runs vote (default gw)")
    ap.add_argument("--max-rank", type=int, default=5000, help="induce each run's dictionary among this many words")
    ap.add_argument("--aligner-seed", type=int,
                    help="use only the run of this aligner seed in each training (a replicate of the vote per seed)")
    ap.add_argument("--draws", type=int, default=0,
                    help="replicates: in each, one run drawn at random from each training (seeded by the draw's number); "
                         "reports every draw and each rule pooled over the draws")
    ap.add_argument("--run-share", type=float, default=0.5,
                    help="a training's dictionary: the pairs at least this share of its runs induce (default 0.5; 0: any run)")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache"))
    ap.add_argument("--name", default="cross_training_consensus")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    if not 0 <= args.run_share <= 1:
        ap.error(f"--run-share {args.run_share}: expected a share between 0 and 1")
    if args.draws < 0:
        ap.error(f"--draws {args.draws}: expected a number of replicates, 0 or more")
    t0, cache = time.time(), Path(args.cache_dir)

    trainings: dict[str, dict] = {}  # vector file names -> {studies, study, setting, cells by cell key}
    for path in args.study:
        study = read_study(path)
        setting = first_setting(study, path, args.setting)
        t = trainings.setdefault(vector_names(setting), {"studies": [], "study": study, "setting": setting, "cells": {}})
        t["studies"].append(Path(path).name)
        for c in setting.get("cells", []):
            if c.get("method") == args.method and c.get("status") == "ok" and c.get("cell") \
                    and args.aligner_seed in (None, c.get("seed")) \
                    and (cache / "cells" / f"{c['cell']}.mapping.npz").is_file():
                t["cells"][c["cell"]] = c
    for key, t in trainings.items():
        if not t["cells"]:
            seed = "" if args.aligner_seed is None else f" with aligner seed {args.aligner_seed}"
            raise SystemExit(f"error: no {args.method} run{seed} of {', '.join(t['studies'])} kept a mapping "
                             "(run_bli.py --need-mappings keeps them)")
    if len(trainings) < 2:
        raise SystemExit(f"error: the studies name {len(trainings)} vector training(s); a vote across trainings needs two")
    to_study = read_study(args.to)
    to_setting = first_setting(to_study, args.to, args.setting)
    params = to_study["meta"]["params"]
    try:
        src, tgt = study_vectors(to_study, to_setting, cache)
        train = Lexicon.load(find_cached(to_setting["train_lexicon"], cache, "lexicons"))
        test = Lexicon.load(find_cached(to_setting["test_lexicon"], cache, "lexicons"))
    except (UdmError, OSError) as exc:
        raise SystemExit(f"error: {exc}") from None
    gold = gold_translations(Lexicon(train.pairs + test.pairs))

    summaries, induced = [], []  # per training: its runs' (cell, induced pairs)
    for key, t in trainings.items():
        try:
            t_src, t_tgt = study_vectors(t["study"], t["setting"], cache)
        except (UdmError, OSError) as exc:
            raise SystemExit(f"error: {exc}") from None
        runs = sorted(t["cells"].values(), key=lambda c: (c["seed"], c["cell"]))
        induced.append([(c, Mapping.load(cache / "cells" / f"{c['cell']}.mapping.npz")
                         .induced_lexicon(t_src, t_tgt, max_rank=args.max_rank).pairs) for c in runs])
        lex = training_dictionary([pairs for _, pairs in induced[-1]], args.run_share)
        summaries.append({"training": key, "studies": t["studies"], "runs": len(runs),
                          "run_p1": [c.get("p1") for c in runs], "pairs": len(lex), "correct": count_correct(lex.pairs, gold),
                          "target": key == vector_names(to_setting)})
        log_row({k: v for k, v in summaries[-1].items() if k != "run_p1"})

    def fit_seed(label: str, lex: Lexicon) -> tuple[dict, object]:
        """The --to study's supervised pipeline seeded with ``lex``: its row (P@1, criterion) and its evaluation."""
        t1 = time.time()
        used = lex.restrict(src, tgt)
        m = study_procrustes(params).fit(src, tgt, used)
        report = evaluate_mapping(m, src, tgt, test, methods=("csls",))
        row = {"seed_dictionary": label, "pairs": len(used), "correct": count_correct(used.pairs, gold), "p1": report.get("csls", 1),
               "criterion": muse_criterion(m.transform(src.vectors), m.prepare_target(tgt.vectors)),
               "seconds": time.time() - t1}
        log_row(row)
        return row, report

    def fit_votes(dictionaries: list[list[tuple[str, str]]]) -> list[tuple[dict, object]]:
        """Each training's dictionary alone, then the pairs at least V of them share, each through :func:`fit_seed`."""
        votes = vote(dictionaries)
        seeds = [(f"training {i + 1} alone", Lexicon(d)) for i, d in enumerate(dictionaries)]
        seeds += [(f">= {v} of {len(dictionaries)} trainings", consensus(votes, v)) for v in range(len(dictionaries), 0, -1)]
        return [fit_seed(label, lex) for label, lex in seeds]

    supervised = fit_seed("train lexicon (supervised)", train)
    reference = supervised[1]
    draws = []
    if args.draws:
        labels, by_label, picked = None, {}, []
        for d in range(1, args.draws + 1):
            rng = np.random.default_rng(d)
            chosen = [runs[int(rng.integers(len(runs)))] for runs in induced]
            fitted = fit_votes([pairs for _, pairs in chosen])
            labels = [row["seed_dictionary"] for row, _ in fitted]
            for row, report in fitted:
                by_label.setdefault(row["seed_dictionary"], []).append(report)
            best, best_report = max(fitted, key=lambda f: f[0]["criterion"])
            picked.append(best_report)
            draws.append({"draw": d, "aligner_seeds": [c["seed"] for c, _ in chosen],
                          "p1": {row["seed_dictionary"]: row["p1"] for row, _ in fitted}, "pick": best["seed_dictionary"],
                          **compare_reports(best_report, reference, "csls", 1).to_dict()})
        rows = [{"seed_dictionary": label, **compare_runs(by_label[label], reference, "csls", 1).to_dict(),
                 "below": sum(significantly_below(compare_reports(r, reference, "csls", 1).to_dict()) for r in by_label[label])}
                for label in labels]
        rows.append({"seed_dictionary": "the criterion's pick in each draw", **compare_runs(picked, reference, "csls", 1).to_dict(),
                     "below": sum(significantly_below(d) for d in draws)})
    else:
        dictionaries = [training_dictionary([pairs for _, pairs in runs], args.run_share).pairs for runs in induced]
        fitted = fit_votes(dictionaries) + [supervised]
        rows = [{**row, **compare_reports(report, reference, "csls", 1).to_dict()} for row, report in fitted]

    final_step = "Procrustes + %d refinement steps%s%s" % (
        params["refine_iters"], f" (rank {params['refine_rank']})" if params.get("refine_rank") else "",
        " + the multi-step final map" if params.get("reweight") else "")
    meta = probe_meta("cross_training_consensus.py", argv, t0, studies=list(args.study), to=Path(args.to).name,
                      setting=to_setting["id"], method=args.method, max_rank=args.max_rank, run_share=args.run_share,
                      aligner_seed=args.aligner_seed, draws=draws, final_step=final_step, trainings=summaries)
    lines = report_header(f"A vote across {len(trainings)} vector trainings as a seed dictionary ({to_setting['id']})",
                          "cross_training_consensus.py", meta)
    lines += [f"- fitted on `{Path(args.to).name}` ({vector_names(to_setting)}): {final_step}, seeded with "
              f"each dictionary; CSLS P@1 (%) on its test split ({len(test.golds)} words), each row against the last "
              "(the same pipeline on the train lexicon) word by word, exact McNemar",
              f"- each run's dictionary: CSLS mutual nearest neighbours among the top {args.max_rank} words a side, "
              f"under its kept map, on its own vectors; a training's dictionary: the pairs at least {args.run_share:g} of its "
              "runs induce (at least one run)",
              "- correct = pairs the gold lexicon (train + test) lists, a diagnostic only; pairs = pairs of words both "
              "target vocabularies hold; criterion = MUSE criterion (dictionary-free)\n",
              "| training | vector files | studies | runs (P@1 there) | dictionary pairs | correct |",
              "|---|---|---|---|---|---|"]
    for i, s in enumerate(summaries):
        p1s = ", ".join(fmt(None if p is None else 100 * p, 1) for p in s["run_p1"])
        lines.append(f"| {i + 1}{' (the fitted one)' if s['target'] else ''} | {s['training']} | "
                     f"{', '.join(s['studies'])} | {s['runs']} ({p1s}) | {s['pairs']} | {s['correct']} |")
    if draws:
        sup_p1 = fmt(100 * reference.get("csls", 1), 1)
        labels = [r["seed_dictionary"] for r in rows[:-1]]
        lines += ["", f"{len(draws)} draws: in each, one run drawn at random from each training (numpy's default_rng seeded with "
                  "the draw's number; a run may be drawn again), its dictionary the training's; every rule fitted; the "
                  f"criterion's pick = the row with the highest MUSE criterion; supervised (train lexicon) {sup_p1}\n",
                  "| draw | aligner seed per training | " + " | ".join(labels) + " | criterion's pick | its P@1 | A - B | p |",
                  "|---|---|" + "---|" * len(labels) + "---|---|---|---|"]
        for d in draws:
            diff, _ = difference_cells(d)
            lines.append(f"| {d['draw']} | {', '.join(str(x) for x in d['aligner_seeds'])} | "
                         + " | ".join(fmt(100 * d["p1"][label], 1) for label in labels)
                         + f" | {d['pick']} | {fmt(100 * d['p_a'], 1)} | {diff} | {d['p_value']:.3g} |")
        lines += ["", "Each rule pooled over the draws against supervised, word by word (`udm.significance.compare_runs`); "
                  "`below` = draws significantly below supervised (exact McNemar, 0.05)\n",
                  "| rule | mean P@1 | supervised | A - B | 95% CI | p | below |", "|---|---|---|---|---|---|---|"]
        for r in rows:
            diff, ci = difference_cells(r)
            lines.append(f"| {r['seed_dictionary']} | {100 * r['p_a']:.2f} | {sup_p1} | {diff} | {ci} | {r['p_value']:.3g} | "
                         f"{r['below']} of {len(draws)} |")
    else:
        lines += ["", "| seed dictionary | pairs | correct | P@1 | criterion | A - B | 95% CI | p | seconds |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            diff, ci = difference_cells(r)
            last = r is rows[-1]
            lines.append(f"| {r['seed_dictionary']} | {r['pairs']} | {r['correct']} | {fmt(100 * r['p1'], 1)} | "
                         f"{fmt(r['criterion'], 5)} | {'-' if last else diff} | {'-' if last else ci} | "
                         f"{'-' if last else format(r['p_value'], '.3g')} | {fmt(r['seconds'], 0)} |")
    write_probe_report(args, meta, rows, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
