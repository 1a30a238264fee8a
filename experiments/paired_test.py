"""Paired significance of a study's unsupervised runs against its supervised baseline, word by word.

A P@1 difference of a point on 1,500 test words is about one standard error; the exact McNemar test on the
words only one of two mappings gets right says whether it is more than noise. This reads a ``run_bli.py``
study JSON, loads the mappings its cells kept (``<cache>/cells/<cell>.mapping.npz``), scores each run and the
baseline on the same test words (``udm.significance.compare_hit_pair``) and checks that the recomputed P@1 is
the cell's recorded one. With ``--recorded`` it compares the per-word hits the study JSON recorded instead, so a
committed study can be tested on a checkout without the cell cache (nothing is recomputed then).

    python experiments/paired_test.py --study experiments/results/<study>.json  # -> paired_<study>.md

A method's runs are also pooled (their mean against the baseline): within each study, or with ``--pool-across``
over every study given whose runs share the setting, vectors, test words and baseline (word for word). With
``--pool-trainings`` the runs of several vector trainings of one setting (same test words, other vectors), each
against its own training's baseline, are pooled too, each training weighted once (``compare_groups``).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from probe_common import difference_cells, find_cached, probe_meta, read_study, report_header, study_vectors, write_probe_report  # noqa: E402
from udm import Lexicon, Mapping, evaluate_mapping  # noqa: E402
from udm.evaluate import BLIReport, unpack_hits, words_digest  # noqa: E402
from udm.significance import compare_groups, compare_hit_pair, compare_hits  # noqa: E402
from udm.errors import UdmError  # noqa: E402

ALPHA = 0.05


def verdict(c, alpha: float = ALPHA) -> str:
    """``better``/``worse`` when the run differs from the baseline at level ``alpha``, else ``not significant``."""
    if c.p_value >= alpha:
        return "not significant"
    return "better" if c.difference > 0 else "worse"


def same_score(recomputed: float, recorded: Optional[float]) -> bool:
    """Whether a recomputed P@1 is the recorded one (a P@1 of exactly 0 counts; a missing record does not)."""
    return recorded is not None and abs(recomputed - recorded) < 1e-9


def input_key(setting: dict) -> tuple:
    """A study setting's inputs: its two vector files' content hashes and its test lexicon's name."""
    return (setting["vectors"]["src"].get("sha256"), setting["vectors"]["tgt"].get("sha256"),
            Path(setting["test_lexicon"]).name)


def same_inputs(a: dict, b: dict) -> bool:
    """Whether two study settings used the same vector files (content hashes) and test lexicon."""
    return input_key(a) == input_key(b)


def recorded_hits(cell: dict) -> tuple[Optional[np.ndarray], str, str]:
    """A cell's per-word CSLS hits at 1 as its study JSON recorded them, their test words' digest, and why there
    are none (``None`` hits and a reason when the cell recorded no usable hits)."""
    packed = cell.get("hits")
    if not packed:
        return None, "", "recorded no per-word hits (a cell run before they were kept)"
    if (packed.get("method"), packed.get("k")) != ("csls", 1):
        return None, "", f"recorded {packed.get('method')} hits at {packed.get('k')}, not CSLS at 1"
    return unpack_hits(packed), packed.get("words_sha256", ""), ""


def setting_rows(study: dict, setting: dict, cache: Path, baseline: str,
                 baseline_studies: Optional[list[dict]] = None,
                 recorded: bool = False) -> tuple[list[dict], dict, list[str]]:
    """One row per run of a setting compared with its baseline cell, the runs' per-word hits grouped for pooling
    (see ``pool_groups``), and the lines of what could not be compared.

    The baseline cell is the setting's own, or with ``baseline_studies`` the same setting's cell in the one of them
    that used the same inputs (for example the orthogonal supervised map of a study run without --reweight; one
    such study per vector training). Each mapping is scored again from the mapping its cell kept, or with
    ``recorded`` the per-word hits the study JSON recorded are compared as they are (no cache needed).
    """
    cells = [c for c in setting.get("cells", []) if c.get("status") == "ok"]
    sid = setting["id"]
    pool = cells
    if baseline_studies:
        twins = [s for b in baseline_studies for s in b["settings"] if s["id"] == sid and same_inputs(s, setting)]
        if not twins:
            return [], {}, [f"{sid}: no baseline study has a setting {sid} on the same vectors and test lexicon"]
        pool = [c for c in twins[0].get("cells", []) if c.get("status") == "ok"]
    base = [c for c in pool if c["method"] == baseline and c.get("cell")]
    if not base:
        return [], {}, [f"{sid}: no {baseline} cell with a cell key in the baseline study"]
    if recorded:
        ref, words, problem = recorded_hits(base[0])
        if ref is None:
            return [], {}, [f"{sid}: the {baseline} cell {problem}"]
        split = words  # trainings pool when their test words (in order) are the same

        def score(c: dict) -> tuple[Optional[np.ndarray], str]:
            if not c.get("cell"):  # runs pool and list by cell key, as in the rescoring path
                return None, "no cell key (a cell run before cells were keyed)"
            hits, digest, problem = recorded_hits(c)
            if hits is not None and digest != words:
                return None, "recorded hits on other test words than the baseline's"
            return hits, problem
    else:
        base_map = cache / "cells" / f"{base[0]['cell']}.mapping.npz"
        if not base_map.is_file():
            return [], {}, [f"{sid}: the {baseline} cell kept no mapping (run run_bli.py again with --need-mappings, "
                            "or compare the recorded hits with --recorded)"]
        src, tgt = study_vectors(study, setting, cache)
        test_path = find_cached(setting["test_lexicon"], cache, "lexicons")
        test = Lexicon.load(test_path)
        # trainings match on the split's content: each training caches the same split under its own file name
        split = hashlib.sha256(Path(test_path).read_bytes()).hexdigest()

        def report_of(path: Path) -> BLIReport:
            return evaluate_mapping(Mapping.load(path), src, tgt, test, methods=("csls",))

        ref_report = report_of(base_map)
        ref, words = ref_report.method_scores("csls").hits(1), words_digest(ref_report.words)

        def score(c: dict) -> tuple[Optional[np.ndarray], str]:
            kept = cache / "cells" / f"{c.get('cell')}.mapping.npz"
            if not c.get("cell") or not kept.is_file():
                return None, ("no kept mapping (cell run before mappings were kept; run_bli.py --need-mappings "
                              "reruns it)")
            return report_of(kept).method_scores("csls").hits(1), ""
    # the baseline's identity is its per-word hits (one supervised map cached under two keys is one baseline)
    base_hits = hashlib.sha256(np.ascontiguousarray(ref).tobytes()).hexdigest()
    rows, missing, hits, keys = [], [], {}, {}
    for c in cells:
        if c is base[0]:
            continue
        run, why = score(c)
        if run is None:
            missing.append(f"{sid}: {c['method']} seed {c['seed']}: {why}")
            continue
        hits.setdefault(c["method"], []).append(run)
        keys.setdefault(c["method"], []).append(c["cell"])
        cmp = compare_hit_pair(run, ref, "csls", 1)
        rows.append({**cmp.to_dict(), "retrieval": cmp.method, "setting": sid, "method": c["method"], "seed": c["seed"],
                     "baseline": baseline, "cell": c["cell"], "baseline_hits": base_hits[:16],
                     "recorded_p1": c.get("p1"), "recorded_baseline_p1": base[0].get("p1"),
                     "reproduced": None if recorded else (same_score(cmp.p_a, c.get("p1"))
                                                          and same_score(cmp.p_b, base[0].get("p1"))),
                     "verdict": verdict(cmp)})
        print(f"[paired] {sid} {c['method']} seed {c['seed']}: {cmp}", file=sys.stderr, flush=True)
    # runs pool only against the same baseline, word for word (two cells of one supervised fit, keyed apart by a
    # code change, pool), on the same vectors and test words
    inputs = input_key(setting)
    key = (sid, base_hits) + inputs
    groups = {key + (m,): {"setting": sid, "method": m, "baseline": baseline, "ref": ref, "hits": runs,
                           "cells": keys[m], "lexicon": split, "words": words, "vectors": inputs[:2]}
              for m, runs in hits.items()}
    return rows, groups, missing


def merge_groups(into: dict, groups: dict, study: str) -> None:
    """Add one study's run groups to ``into`` (same key: the same setting, method, inputs and baseline hits),
    recording which studies each group's runs came from; a cell already there (one cached run named by two studies,
    e.g. the supervised cell of two seed slices) counts once."""
    for key, g in groups.items():
        if key in into:
            new = [(c, r) for c, r in zip(g["cells"], g["hits"]) if c not in into[key]["cells"]]
            into[key]["hits"] = into[key]["hits"] + [r for _, r in new]
            into[key]["cells"] = into[key]["cells"] + [c for c, _ in new]
            into[key]["studies"].append(study)
        else:
            into[key] = {**g, "studies": [study]}


def pool_groups(groups: dict) -> list[dict]:
    """One pooled row per group of two or more runs: their mean against the baseline (``compare_hits``)."""
    return [{**compare_hits(g["hits"], g["ref"], "csls", 1).to_dict(), "setting": g["setting"],
             "method": g["method"], "baseline": g["baseline"], "studies": g["studies"]}
            for g in groups.values() if len(g["hits"]) > 1]


def pool_trainings(groups: dict) -> tuple[list[dict], list[str]]:
    """One row per setting and method run on two or more vector trainings (the groups of ``merge_groups``, each
    one training's runs against its own baseline): the trainings pooled word by word, each weighted once
    (``compare_groups``); and the lines of what could not be pooled."""
    by: dict[tuple, list[dict]] = {}
    for g in groups.values():
        by.setdefault((g["setting"], g["lexicon"], g["method"], g["baseline"]), []).append(g)
    rows, missing = [], []
    for (sid, _, method, baseline), gs in by.items():
        if len(gs) < 2:
            continue
        if len({g["words"] for g in gs}) > 1:
            missing.append(f"{sid} {method}: not pooled over trainings: the trainings were scored on different test "
                           "words; pool only trainings whose vocabularies cover the same test words")
            continue
        if len({g["vectors"] for g in gs}) < len(gs):
            missing.append(f"{sid} {method}: two run groups on the same vectors with different baselines; not "
                           "pooled over trainings (give one baseline per training)")
            continue
        try:
            cmp = compare_groups([(g["hits"], g["ref"]) for g in gs], "csls", 1)
        except UdmError as e:
            missing.append(f"{sid} {method}: not pooled over trainings: {e}")
            continue
        per = []
        for g in gs:
            own = compare_hits(g["hits"], g["ref"], "csls", 1)
            per.append({"vectors": [h[:12] if h else None for h in g["vectors"]], "runs": len(g["hits"]),
                        "p_a": own.p_a, "p_b": own.p_b, "difference": own.difference, "p_value": own.p_value,
                        "studies": g["studies"]})
        rows.append({**cmp.to_dict(), "setting": sid, "method": method, "baseline": baseline, "trainings": len(gs),
                     "per_training": per, "studies": sorted({s for g in gs for s in g["studies"]})})
    return rows, missing


def pooled_where(meta: dict) -> str:
    """How the report pooled runs: within each study, or across the studies given (``--pool-across``)."""
    if not meta.get("pool_across"):
        return "within each study."
    return ("over all the studies given (`--pool-across`) where they share the setting, the vectors, the test words "
            "and the baseline's per-word hits (the same supervised map, cached under two keys, pools).")


def render(meta: dict, rows: list[dict], missing: list[str], pooled: Optional[list[dict]] = None,
           trainings: Optional[list[dict]] = None) -> list[str]:
    lines = report_header("Paired test: each unsupervised run against the supervised baseline, word by word",
                          "paired_test.py", meta)
    where = (f"the {meta['baseline']} cell of `{', '.join(meta['baseline_from'])}` (same setting, vectors and test "
             "words)"
             if meta.get("baseline_from") else f"the {meta['baseline']} cell of the same study (same vectors, test "
             "words and final step)")
    lines += [f"- studies: {', '.join(meta['studies'])}",
              f"- A = the run, B = {where}; "
              "CSLS P@1. `only A` / `only B`: test words only that mapping translates right. p: two-sided exact "
              "McNemar test on those words. 95% CI: normal approximation of the paired difference. `reproduced`: "
              + ("`recorded`: the per-word hits each cell recorded in its study JSON, compared as they are "
                 "(`--recorded`: no mapping rescored)." if meta.get("recorded") else
                 "the recomputed P@1 of both mappings equals the cells' recorded P@1."), ""]
    lines += ["| setting | method | seed | P@1 A | P@1 B | A-B | 95% CI | only A | only B | p | verdict | reproduced |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        diff, ci = difference_cells(r)
        lines.append(f"| {r['setting']} | {r['method']} | {r['seed']} | {100 * r['p_a']:.2f} | {100 * r['p_b']:.2f} | "
                     f"{diff} | {ci} | {r['only_a']} | "
                     f"{r['only_b']} | {r['p_value']:.3g} | {r['verdict']} | {reproduced_cell(r['reproduced'])} |")
    if rows:
        counts = {v: sum(r["verdict"] == v for r in rows) for v in ("better", "not significant", "worse")}
        mean = sum(r["difference"] for r in rows) / len(rows)
        lines += ["", f"{len(rows)} runs: {counts['better']} significantly better than the baseline, "
                      f"{counts['not significant']} not significantly different, {counts['worse']} significantly "
                      f"worse (level {ALPHA}); mean A-B {100 * mean:+.2f} points."]
    if pooled:
        lines += ["", "Pooled over a method's runs: A = the runs' per-word hit rate averaged over the runs (its mean is "
                  "their mean P@1), B = the baseline; 95% CI and p (normal approximation, two-sided) from the per-word "
                  "differences: whether these runs on average differ from B by more than the sampling of test words "
                  "explains (the runs are taken as given). Runs are pooled " + pooled_where(meta), "",
                  "| setting | method | runs | studies | mean P@1 A | P@1 B | A-B | 95% CI | p |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in pooled:
            diff, ci = difference_cells(r)
            lines.append(f"| {r['setting']} | {r['method']} | {r['runs']} | {', '.join(r['studies'])} | "
                         f"{100 * r['p_a']:.2f} | {100 * r['p_b']:.2f} | {diff} | {ci} | {r['p_value']:.3g} |")
    if trainings:
        lines += ["", "Pooled over vector trainings (`--pool-trainings`): each training's runs against its own "
                  "training's baseline, per word (runs' hit rate minus the baseline's hit), averaged over the trainings "
                  "with equal weight; A and B are the trainings' mean P@1. 95% CI and p (normal approximation, "
                  "two-sided) sample the test words only: the trainings and runs are taken as given, so this says "
                  "whether the gap on these trainings exceeds test-word noise, not how a new training would land.", "",
                  "| setting | method | trainings | runs | mean P@1 A | mean P@1 B | A-B | 95% CI | p | per training "
                  "(A-B, p) |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in trainings:
            diff, ci = difference_cells(r)
            per = "; ".join(f"{t['runs']} run{'s' * (t['runs'] != 1)} {100 * t['p_a']:.2f} vs {100 * t['p_b']:.2f} "
                            f"({100 * t['difference']:+.2f}, p {t['p_value']:.3g})" for t in r["per_training"])
            lines.append(f"| {r['setting']} | {r['method']} | {r['trainings']} | {r['runs']} | {100 * r['p_a']:.2f} | "
                         f"{100 * r['p_b']:.2f} | {diff} | {ci} | {r['p_value']:.3g} | {per} |")
    if missing:
        lines += ["", "Not compared:", ""] + [f"- {m}" for m in missing]
    return lines


def reproduced_cell(reproduced: Optional[bool]) -> str:
    """The `reproduced` column: yes / NO for a rescored run, `recorded` for hits compared as the study recorded them."""
    return "recorded" if reproduced is None else ("yes" if reproduced else "NO")


def default_name(studies: list[str], baseline_from: Optional[list[str]]) -> str:
    """paired_<first study>[_vs_<baseline study>] (a study's bli_ prefix dropped): the name when --name is not given."""
    def stem(path: str) -> str:
        return Path(path).stem.removeprefix("bli_")
    name = "paired_" + stem(studies[0])
    return name + f"_vs_{stem(baseline_from[0])}" if baseline_from else name


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", action="append", required=True, help="a run_bli.py study JSON (repeatable)")
    ap.add_argument("--baseline", default="procrustes", help="the cell every run is compared with (default procrustes)")
    ap.add_argument("--baseline-from", metavar="STUDY", action="append",
                    help="take the baseline cell from this study JSON instead (same setting, vectors and test words), "
                         "e.g. the orthogonal supervised map when the runs used --reweight; repeatable, one per "
                         "vector training (each run takes the one on its own vectors)")
    ap.add_argument("--pool-across", action="store_true",
                    help="pool a method's runs over all the given studies (same setting, vectors, test words and "
                         "baseline, word for word), e.g. aligner seeds run as separate studies; default: within "
                         "each study")
    ap.add_argument("--pool-trainings", action="store_true",
                    help="also pool a method's runs over vector trainings of one setting (same test words, other "
                         "vectors), each training against its own baseline and weighted once; implies --pool-across")
    ap.add_argument("--recorded", action="store_true",
                    help="compare the per-word CSLS hits each cell recorded in its study JSON instead of rescoring "
                         "the kept mappings (no cell cache, vectors or lexicon files needed; nothing is reproduced)")
    ap.add_argument("--cache-dir", default=str(ROOT / "experiments" / "cache"))
    ap.add_argument("--name", help="report name (default paired_<study>, with --baseline-from paired_<study>_vs_<that "
                                   "study>, so two comparisons of one study do not overwrite each other)")
    ap.add_argument("--out-dir", default=str(ROOT / "experiments" / "results"))
    args = ap.parse_args(argv)
    if len({Path(p).resolve() for p in args.study}) < len(args.study):
        ap.error("a --study is given twice: its runs would count twice in the pooled rows")
    args.pool_across = args.pool_across or args.pool_trainings
    args.name = args.name or default_name(args.study, args.baseline_from)
    t0, cache = time.time(), Path(args.cache_dir)
    rows, pooled, missing, across = [], [], [], {}
    base_studies = [read_study(b) for b in args.baseline_from] if args.baseline_from else None
    listed: set[tuple] = set()  # a cached run named by two studies (same cell, same baseline hits) is listed once
    for path in args.study:
        study, groups = read_study(path), {}
        for setting in study["settings"]:
            r, g, m = setting_rows(study, setting, cache, args.baseline, base_studies, recorded=args.recorded)
            for row in r:
                key = (row["setting"], row["method"], row["seed"], row["cell"], row["baseline_hits"])
                if key not in listed:
                    listed.add(key)
                    rows.append(row)
            merge_groups(across if args.pool_across else groups, g, Path(path).name)
            missing += [f"{Path(path).name}: {line}" for line in m]
        pooled += pool_groups(groups)
    pooled += pool_groups(across)
    trainings = []
    if args.pool_trainings:
        trainings, unpooled = pool_trainings(across)
        missing += unpooled
    meta = probe_meta("paired_test.py", argv, t0, studies=[Path(p).name for p in args.study], baseline=args.baseline,
                      pool_across=args.pool_across, pool_trainings=args.pool_trainings, recorded=args.recorded,
                      baseline_from=[Path(b).name for b in args.baseline_from] if args.baseline_from else None)
    meta["pooled"] = pooled  # the JSON's rows stay one per run
    meta["pooled_trainings"] = trainings
    write_probe_report(args, meta, rows, render(meta, rows, missing, pooled, trainings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
