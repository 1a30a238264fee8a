"""Can the dictionary-free criterion be trusted? One audit over every unsupervised run of the committed studies.

Each ``run_bli.py`` report judges the criterion within its own runs. This script pools the unsupervised runs of
all ``experiments/results/<glob>.json`` study files (default ``bli*.json``), counts each distinct run once (the
same cached cell can appear in several reports), and reports

* how often the aligner's own "failed" flag agrees with the outcome (success = CSLS P@1 > 5%, the study's
  threshold), with the false accepts (a failed map returned as good) and false rejects listed;
* Spearman's rank correlation of the criterion with P@1 over all runs and within each pair of vector spaces;
* whether cells computed again (at a later commit) gave the same result;
* the refined-null check's two measures, the headroom share and the scale-free lift ratio, for successes and
  failures, and the runs the lift rescues;
* whether a dictionary-stability check would help: the last refinement step's W change and dictionary overlap
  (from the runs' refinement traces) for successes and failures, and the flags a stability rule would give;
* a scatter plot of criterion against P@1 (``<name>.png``, needs matplotlib: the ``bench`` extra).

    python experiments/criterion_audit.py --name criterion_audit
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bli_core import SUCCESS_P1, SUPERVISED_CELLS, script_command, spearman, write_report  # noqa: E402

from udm.aligners.unsupervised import UnsupervisedAligner  # noqa: E402
from udm.criteria import refined_null_check  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _trained(v: dict) -> Optional[str]:
    """One vector training: its cache key, plus its recorded wall time when the report has one (reports from
    2026-11-30 13:00 on also name the vector file's content hash, which is what the wall time stands in for)."""
    if v.get("key") is None:
        return None
    return v["key"] if v.get("train_wall_s") is None else f"{v['key']}@{v['train_wall_s']}"


def collect(files: list[Path]) -> tuple[list[dict], list[dict], dict[tuple, list[dict]]]:
    """Distinct unsupervised runs of the study files, one provenance row per file read, and every report of each
    cell identity (vectors, lexicon, method, seed, restarts, budget, vocabulary, refinement steps)."""
    runs: dict[tuple, dict] = {}
    reports: dict[tuple, list[dict]] = {}
    sources: list[dict] = []
    for f in files:
        try:
            d = json.loads(f.read_text())
            meta, settings = d["meta"], d["settings"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a run_bli study file (a probe or another benchmark)
        params = meta.get("params", {})
        commit = meta.get("git", {}).get("commit", "?")[:12]
        n = 0
        for st in settings:
            if st.get("status") != "ok":
                continue
            vec = st.get("vectors") or {}
            for c in st.get("cells", []):
                if c.get("method") in SUPERVISED_CELLS or c.get("status") != "ok" or c.get("criterion") is None:
                    continue
                method = c["method"] + ("+reweight" if params.get("reweight") else "")  # another final map
                # a vector key names the training inputs, not the result (two-thread training is not deterministic):
                # the recorded training wall time tells two trainings under one key apart
                key = (_trained(vec.get("src", {})), _trained(vec.get("tgt", {})), st.get("test_lexicon"),
                       method, c.get("seed"), params.get("restarts") or 1, round(c["p1"], 6),
                       round(c["criterion"], 6))
                n += 1
                identity = key[:6] + (params.get("time_budget"), params.get("max_vocab"), params.get("refine_iters"))
                reports.setdefault(identity, []).append({
                    "file": f.name, "commit": commit, "setting": st["id"],
                    "method": method, "seed": c.get("seed"), "p1": c["p1"], "criterion": c["criterion"],
                    "wall_s": c.get("wall_s")})
                pair, regime = st["id"].split("/")[:2]
                run = runs.setdefault(key, {"file": f.name, "setting": st["id"], "pair": pair, "regime": regime,
                                            "vectors": f"{key[0]}/{key[1]}", "method": method, "seed": c.get("seed"),
                                            "restarts": key[5], "p1": c["p1"], "criterion": c["criterion"],
                                            "flagged_failed": bool(c.get("aligner_failed")), "refinement": None,
                                            "first_reported": meta.get("date") or "?",
                                            **{k: (c.get("meta") or {}).get(f"criterion_{k}")
                                               for k in ("null_mean", "refined_null", "headroom_share",
                                                         "headroom_needed")}})
                run["first_reported"] = min(run["first_reported"], meta.get("date") or "?")
                history = (c.get("trace") or {}).get("refinement")
                if history and run["refinement"] is None:  # an older report of the same run may lack the trace
                    run["refinement"] = [{k: h[k] for k in ("change", "overlap", "pairs") if k in h} for h in history]
        sources.append({"file": f.name, "commit": commit, "date": meta.get("date"),
                        "unsupervised_cells": n})
    return list(runs.values()), sources, reports


def reproducibility_section(reports: dict[tuple, list[dict]]) -> tuple[list[str], dict]:
    """Cells computed more than once (reported with different wall times, so not a cache reuse): did the rerun give
    the same P@1 and criterion? The code may have changed between the runs; each report names its commit."""
    reruns = {k: v for k, v in reports.items() if len({r["wall_s"] for r in v}) > 1}
    differ = {k: v for k, v in reruns.items()
              if len({(round(r["p1"], 6), round(r["criterion"], 6)) for r in v}) > 1}
    lines = ["\n## Reruns: does the same cell give the same result?\n",
             "Cells (same vectors, lexicon split, method, seed, restarts, budget, vocabulary, refinement steps) "
             f"computed more than once (different wall times, so not a cache reuse): {len(reruns)}, usually at a later "
             "commit after a code change had made the cached cell stale. Same P@1 and criterion every time: "
             f"**{len(reruns) - len(differ)}/{len(reruns)}**.\n"]
    for v in differ.values():
        lines.append(f"- {v[0]['setting']} {v[0]['method']} seed {v[0]['seed']}: " + "; ".join(
            f"P@1 {100 * r['p1']:.1f}, criterion {r['criterion']:.4f} ({r['file']}, {r['commit']})" for r in v))
    return lines, {"cells_rerun": len(reruns), "reproduced": len(reruns) - len(differ)}


def scatter(rows: list[dict], path: Path) -> Optional[str]:
    """Criterion against P@1, flagged runs marked; None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for flagged, marker, label in ((False, "o", "returned as a mapping"), (True, "x", "flagged failed")):
        pts = [r for r in rows if r["flagged_failed"] == flagged]
        ax.scatter([r["criterion"] for r in pts], [100 * r["p1"] for r in pts], marker=marker, label=label, alpha=0.7)
    ax.axhline(100 * SUCCESS_P1, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("dictionary-free criterion (mean CSLS cosine of the top-10k translations)")
    ax.set_ylabel("CSLS P@1 (%)")
    ax.set_title(f"{len(rows)} distinct unsupervised runs")
    ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path.name


def verdicts(rows: list[dict], flags: list[bool]) -> tuple[int, list[dict], list[dict]]:
    """Flags right, false accepts, false rejects of one set of failed-flags over ``rows``."""
    ok = [r["p1"] > SUCCESS_P1 for r in rows]
    right = sum(1 for f, s in zip(flags, ok) if f != s)
    return (right, [r for r, f, s in zip(rows, flags, ok) if not s and not f],
            [r for r, f, s in zip(rows, flags, ok) if s and f])


STABILITY_MIN_STEPS = 3  # refinements a time budget cut shorter are not judged: the first steps move every map


def unstable(history: Optional[list[dict]], *, max_change: Optional[float] = None,
             min_overlap: Optional[float] = None) -> bool:
    """Was the map still moving at the last shared-refinement step? True when that step moved W by more than
    ``max_change`` (``||W_new - W||_F / sqrt(d)``) or kept less than ``min_overlap`` (Jaccard) of the previous
    step's induced dictionary, as ``udm.refinement.refine`` records them; short or missing histories: False."""
    if not history or len(history) < STABILITY_MIN_STEPS:
        return False
    last = history[-1]
    if max_change is not None and last.get("change", 0.0) > max_change:
        return True
    return min_overlap is not None and "overlap" in last and last["overlap"] < min_overlap


def stability_section(rows: list[dict], holdout_after: Optional[str] = None) -> tuple[list[str], dict]:
    """Would a dictionary-stability check (is the refined map a fixed point of induction + Procrustes?) catch the
    criterion's mistakes? Replayed on every run whose report keeps its refinement trace, over a sweep of limits;
    with ``holdout_after`` (a report date) the rules are also scored on the runs first reported after it alone, the
    runs no limit was chosen on."""
    traced = [r for r in rows if r.get("refinement") and len(r["refinement"]) >= STABILITY_MIN_STEPS]
    lines = ["\n## Dictionary stability: is the refined map a fixed point?\n",
             "Signals of the last shared-refinement step, for the runs whose reports keep the refinement trace "
             f"(with at least {STABILITY_MIN_STEPS} steps): `change` = how far that step moved W "
             "(`||W_new - W||_F / sqrt(d)`), `overlap` = Jaccard overlap of its induced dictionary with the previous "
             "step's (recorded from commit 9cbcd97 on). If failed maps drifted while correct ones sat at a fixed point, "
             "a check on these would catch what the criterion misses.\n",
             "| corpora | outcome | signal | runs | min | median | max |", "|---|---|---|---|---|---|---|"]
    summary: dict = {"signals": {}}
    for kind, is_cipher in (("cipher control", True), ("real corpora", False)):
        for label, want in (("success", True), ("failure", False)):
            for sig in ("change", "overlap"):
                v = sorted(r["refinement"][-1][sig] for r in traced
                           if (r["regime"] == "cipher") == is_cipher and (r["p1"] > SUCCESS_P1) == want
                           and sig in r["refinement"][-1])
                if v:
                    summary["signals"][f"{kind}_{label}_{sig}"] = {"runs": len(v), "min": v[0], "median": v[len(v) // 2],
                                                                   "max": v[-1]}
                    lines.append(f"| {kind} | {label} | {sig} | {len(v)} | {v[0]:.4f} | {v[len(v) // 2]:.4f} | {v[-1]:.4f} |")
    crit = [r["flagged_failed"] for r in rows]
    rules = [("criterion flag alone", {})]
    rules += [(f"criterion flag, or final change > {t:g}", {"max_change": t}) for t in (0.1, 0.2, 0.3, 0.4)]
    rules += [(f"criterion flag, or final overlap < {t:g}", {"min_overlap": t}) for t in (0.8, 0.9, 0.95)]
    held = [i for i, r in enumerate(rows) if holdout_after and r.get("first_reported", "?") > holdout_after]
    lines += ["\nEach rule over all runs (runs without a trace keep the criterion's flag)"
              + (f"; `held out` = only the {len(held)} runs first reported after {holdout_after}, after the limits "
                 "above were looked at" if holdout_after else "") + ":\n",
              "| rule | flag right | false accepts | false rejects |" + (" held out: flag right | false accepts | false rejects |" if holdout_after else ""),
              "|---|---|---|---|" + ("---|---|---|" if holdout_after else "")]
    summary["rules"] = {}
    for label, limits in rules:
        flags = [c or (bool(limits) and unstable(r.get("refinement"), **limits)) for r, c in zip(rows, crit)]
        right, fa, fr = verdicts(rows, flags)
        summary["rules"][label] = {"flag_right": right, "false_accepts": len(fa), "false_rejects": len(fr)}
        line = f"| {label} | {right}/{len(rows)} | {len(fa)} | {len(fr)} |"
        if holdout_after:
            h_right, h_fa, h_fr = verdicts([rows[i] for i in held], [flags[i] for i in held])
            summary["rules"][label]["held_out"] = {"runs": len(held), "flag_right": h_right,
                                                   "false_accepts": len(h_fa), "false_rejects": len(h_fr)}
            line += f" {h_right}/{len(held)} | {len(h_fa)} | {len(h_fr)} |"
        lines.append(line)
    return lines, summary


def lift_section(rows: list[dict], lift_needed: float) -> tuple[list[str], dict]:
    """The refined-null check with and without its scale-free rescue (``udm.criteria.lift_ratio``): over every run
    whose report records the random maps' and the refined null's criteria, the lift ratio of successes and
    failures, and the runs the rescue passes: those below the share that clear ``lift_needed`` (flagged by the code
    of their day where it predates the rescue; the later checks, which such runs then meet, are not replayed)."""
    judged = [r for r in rows if r.get("refined_null") is not None and r.get("null_mean") is not None]
    below, rescued = [], []
    for r in judged:
        failed, terms = refined_null_check(r["criterion"], r["refined_null"], r["null_mean"], lift_needed=lift_needed,
                                           margin=r.get("headroom_needed") or UnsupervisedAligner.refined_null_margin)
        r["lift"] = terms["criterion_lift_ratio"]
        if r.get("headroom_share") is not None and terms["criterion_headroom_share"] < terms["criterion_headroom_needed"]:
            below.append(r)
            if not failed:
                rescued.append(r)
    lines = ["\n## The refined-null check: headroom share and lift ratio\n",
             "Runs whose report records the random maps' criterion and the refined null's (a random orthogonal start "
             "put through the same refinement): `share` = the run's criterion above the refined null as a share of the "
             "headroom up to 1 (needs 0.14), `lift` = how many times as far above random maps' criterion the run rises "
             f"as the refined null does (`udm.criteria.lift_ratio`; a run below the share passes with lift >= {lift_needed:g}).\n",
             "| outcome | runs | share min | share max | lift min | lift max |", "|---|---|---|---|---|---|"]
    summary: dict = {"runs": len(judged), "lift_needed": lift_needed}
    for label, want in (("success", True), ("failure", False)):
        rs = [r for r in judged if (r["p1"] > SUCCESS_P1) == want]
        if rs:
            sh, li = sorted(r["headroom_share"] for r in rs if r.get("headroom_share") is not None), sorted(r["lift"] for r in rs)
            summary[label] = {"runs": len(rs), "lift_min": li[0], "lift_max": li[-1]}
            lines.append(f"| {label} | {len(rs)} | {sh[0]:.3f} | {sh[-1]:.3f} | {li[0]:.2f} | {li[-1]:.2f} |")
    summary["below_share"] = len(below)
    summary["rescued"] = [{k: r[k] for k in ("file", "setting", "method", "seed", "p1", "headroom_share", "lift")}
                          for r in rescued]
    lines.append(f"\nRuns below the share: {len(below)} ({sum(r['p1'] > SUCCESS_P1 for r in below)} of them succeeded); "
                 f"the lift rescues {len(rescued)} ({sum(r['p1'] > SUCCESS_P1 for r in rescued)} succeeded):")
    lines += [f"- {r['setting']} {r['method']} seed {r['seed']} ({r['file']}): P@1 {100 * r['p1']:.1f}, share "
              f"{r['headroom_share']:.3f}, lift {r['lift']:.2f}" for r in rescued]
    return lines, summary


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--glob", action="append", help="study files to read, relative to --results-dir (default bli*.json)")
    ap.add_argument("--results-dir", default=str(ROOT / "experiments" / "results"))
    ap.add_argument("--name", default="criterion_audit")
    ap.add_argument("--holdout-after", default=None, metavar="'YYYY-MM-DD HH:MM UTC'",
                    help="also score the stability rules on the runs first reported after this date alone (runs the "
                         "rules' limits were not chosen on)")
    args = ap.parse_args(argv)
    if args.holdout_after:
        try:  # compared as text with the reports' dates, so it must have their exact form
            time.strptime(args.holdout_after, "%Y-%m-%d %H:%M UTC")
        except ValueError:
            ap.error(f"--holdout-after {args.holdout_after!r}: expected 'YYYY-MM-DD HH:MM UTC', the reports' date form")
    res = Path(args.results_dir)
    files = sorted({f for g in (args.glob or ["bli*.json"]) for f in res.glob(g)})
    rows, sources, reports = collect(files)
    if not rows:
        print(f"criterion_audit: no unsupervised runs in {', '.join(args.glob or ['bli*.json'])} under {res}",
              file=sys.stderr)
        return 2
    ok = [r["p1"] > SUCCESS_P1 for r in rows]
    agree, false_accept, false_reject = verdicts(rows, [r["flagged_failed"] for r in rows])
    rho = spearman([r["criterion"] for r in rows], [r["p1"] for r in rows])
    f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    lines = ["# Criterion audit: every unsupervised run of the committed studies\n",
             "Written by `experiments/criterion_audit.py`; nothing edited by hand. A run is counted once however many "
             f"reports hold it. Success = CSLS P@1 > {100 * SUCCESS_P1:.0f}%; `flag right` = the aligner's own failed "
             "flag agrees with the outcome.\n",
             f"- command: `{script_command(__file__, argv)}`",
             f"- written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             "- read: " + ", ".join(f"{s['file']} ({s['unsupervised_cells']} unsupervised cells, commit {s['commit']}, "
                                    f"{s['date']})" for s in sources) + "\n",
             "| distinct runs | successes | flagged failed | flag right | false accepts | false rejects | Spearman(criterion, P@1) |",
             "|---|---|---|---|---|---|---|",
             f"| {len(rows)} | {sum(ok)} | {sum(r['flagged_failed'] for r in rows)} | {agree}/{len(rows)} | "
             f"{len(false_accept)} | {len(false_reject)} | {f(rho)} |\n",
             "## Per regime and method\n",
             "| regime | method | runs | successes | flag right | Spearman |", "|---|---|---|---|---|---|"]
    for key in sorted({(r["regime"], r["method"]) for r in rows}):
        rs = [r for r in rows if (r["regime"], r["method"]) == key]
        s = [r["p1"] > SUCCESS_P1 for r in rs]
        lines.append(f"| {key[0]} | {key[1]} | {len(rs)} | {sum(s)} | "
                     f"{sum(1 for r, x in zip(rs, s) if r['flagged_failed'] != x)}/{len(rs)} | "
                     f"{f(spearman([r['criterion'] for r in rs], [r['p1'] for r in rs]))} |")
    lines += ["\n## Within one pair of vector spaces (3 or more runs)\n",
              "Criterion values are comparable only on the same two spaces, so this is where ranking runs by it matters.\n",
              "| setting | vectors (src/tgt key) | runs | Spearman | best-criterion run's P@1 | best P@1 |", "|---|---|---|---|---|---|"]
    groups = [[r for r in rows if (r["setting"], r["vectors"]) == key]
              for key in sorted({(r["setting"], r["vectors"]) for r in rows})]
    groups = [rs for rs in groups if len(rs) >= 3]
    best_picked = sum(1 for rs in groups if max(rs, key=lambda r: r["criterion"])["p1"] == max(r["p1"] for r in rs))
    for rs in groups:
        key = (rs[0]["setting"], rs[0]["vectors"])
        pick = max(rs, key=lambda r: r["criterion"])
        lines.append(f"| {key[0]} | {key[1]} | {len(rs)} | {f(spearman([r['criterion'] for r in rs], [r['p1'] for r in rs]))} | "
                     f"{100 * pick['p1']:.1f} | {100 * max(r['p1'] for r in rs):.1f} |")
    lines.append(f"\nThe best-criterion run is a best run (highest P@1) in {best_picked} of {len(groups)} groups.")
    crit_ok = [r["criterion"] for r, x in zip(rows, ok) if x]
    crit_bad = [r["criterion"] for r, x in zip(rows, ok) if not x]
    lines.append("\n| outcome | runs | criterion min | criterion max |\n|---|---|---|---|")
    for label, cs in (("success", crit_ok), ("failure", crit_bad)):
        if cs:
            lines.append(f"| {label} | {len(cs)} | {min(cs):.4f} | {max(cs):.4f} |")
    for title, bad in (("False accepts (failed, returned as a mapping)", false_accept),
                       ("False rejects (succeeded, flagged failed)", false_reject)):
        lines.append(f"\n## {title}: {len(bad)}\n")
        lines += [f"- {r['setting']} {r['method']} seed {r['seed']} (restarts {r['restarts']}, {r['file']}): "
                  f"P@1 {100 * r['p1']:.1f}, criterion {r['criterion']:.4f}" for r in bad]
    stab_lines, stab = stability_section(rows, args.holdout_after)
    lift_lines, lift = lift_section(rows, UnsupervisedAligner.refined_null_lift)
    rep_lines, rep = reproducibility_section(reports)
    lines += stab_lines + lift_lines + rep_lines
    plot = scatter(rows, res / f"{args.name}.png")
    if plot:
        lines.append(f"\nPlot: `{plot}` (criterion against P@1, flagged runs as crosses).")
    write_report(res, args.name, {"runs": rows, "sources": sources, "spearman_all": rho, "stability": stab,
                                  "lift": lift, "reruns": rep}, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
