"""Robustness over seeds: one table from several ``run_bli.py`` runs (``--vector-seed K`` or ``--first-seed N``).

``run_bli.py``'s own seeds vary the aligner only; the vectors stay those trained with seed 0, and the ``gw``
aligner's first start is deterministic, so its seeds would repeat one run. Re-training the vectors with another
seed changes both spaces (and the supervised baseline), which is the variation a user meets. Runs of one method
with other aligner seeds (``--first-seed``) on the same vectors are rows of their own; restarts, ``--self-learning``
and ``--reweight`` make another method (named in its label). Each ``--restarts K`` run is also set beside the
single-start runs of its K start seeds, when those were read: did the criterion keep the better start? Example::

    for k in 0 1 2 3 4; do python experiments/run_bli.py --pairs en-de --regimes none --fractions 1 --seeds 1 \\
        --methods procrustes,gw --vector-seed $k --name bli_vs_ende_vs$k --no-build; done
    python experiments/robustness_vectors.py --prefix bli_none --prefix bli_vs_ende_vs --setting en-de/none/1 \
        --build data/corpora-none --name robustness_vectors_ende
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bli_core import SUCCESS_P1, SUPERVISED_CELLS, script_command, write_report  # noqa: E402  (the study's one success threshold and writer)


def variant_options(params: dict) -> str:
    """The study options that make another method of a run: restarts, the self-learning stage, the final map."""
    restarts = params.get("restarts") or 1
    sl = params.get("self_learning") and (f"self-learning (top {params['sl_stochastic_cutoff']} while p < 1)"
                                          if params.get("sl_stochastic_cutoff") else "self-learning")
    return ", ".join(x for x in (restarts > 1 and f"{restarts} restarts", sl, params.get("reweight") and "reweight") if x)


def restart_starts(cell: dict) -> list[dict] | None:
    """A ``--restarts K`` cell's starts, in order: their aligner seeds, the criterion each was compared by (after
    the self-learning stage when it ran) and which one was kept; None for a single start."""
    starts = (cell.get("trace") or {}).get("restarts") or []
    if len(starts) < 2:
        return None
    chosen = (cell.get("meta") or {}).get("chosen_restart")
    return [{"seed": x.get("seed"), "criterion": x.get("sl_criterion", x.get("criterion")), "kept": i == chosen,
             "stopped_by_time": bool(x.get("sl_stopped_by_time"))} for i, x in enumerate(starts)]


def restart_rows(ok: list[dict]) -> list[str]:
    """Markdown rows: each restarts run beside the single-start runs of its starts' seeds (same vectors, same
    options but the restarts): did the criterion keep the better start, and does the run reproduce that start?"""
    single = {(r["setting"], r["build"], r["method"], r["vector_seed"], r["seed"]): r for r in ok if not r.get("starts")}
    p1 = lambda a: "-" if a is None else f"{100 * a['p1']:.1f}"  # noqa: E731
    crit = lambda x: "?" if x["criterion"] is None else f"{x['criterion']:.4f}"  # noqa: E731
    out = []
    for r in sorted((r for r in ok if r.get("starts")), key=lambda r: (r["setting"], r["build"], r["method"], r["seed"])):
        alone = [single.get((r["setting"], r["build"], r["single_method"], r["vector_seed"], x["seed"])) for x in r["starts"]]
        shown = "; ".join(f"{x['seed']}: {crit(x)}{' (kept)' if x['kept'] else ''}"
                          f"{' (stage cut by the time budget)' if x['stopped_by_time'] else ''} -> {p1(a)}"
                          for x, a in zip(r["starts"], alone))
        kept = next((a for x, a in zip(r["starts"], alone) if x["kept"]), None)
        known = [a["p1"] for a in alone if a is not None]
        better = "-" if len(known) < len(alone) or kept is None else ("yes" if kept["p1"] >= max(known) else "no")
        same = "-" if kept is None else ("yes" if abs(kept["p1"] - r["p1"]) < 5e-4 else f"no ({100 * kept['p1']:.1f})")
        out.append(f"| {r['setting']} | {r['method']} | {r['seed']} | {shown} | {100 * r['p1']:.1f} | {better} | {same} |")
    if not out:
        return []
    return ["\nRestarts against their single starts (`start seed: criterion compared -> that seed's single-start P@1`, "
            "from the single-start runs with the same options on the same vectors; `-` where that run is not among the files "
            "read): did the criterion keep the better start, and does the run equal its kept start's single run?\n",
            "| setting | method | run seed | starts | run P@1 | kept the better start | = kept start alone |",
            "|---|---|---|---|---|---|---|", *out]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prefix", required=True, action="append",
                    help="result basename prefix; files <prefix>*.json are read (repeat for several)")
    ap.add_argument("--setting", default=None, help="keep one setting only, e.g. en-de/none/1")
    ap.add_argument("--build", default=None,
                    help="keep runs on this corpus build only, e.g. data/corpora-none (a setting id does not name its "
                         "build: an ablation's en-de/none/1 is another corpus)")
    ap.add_argument("--results-dir", default=str(ROOT / "experiments" / "results"))
    ap.add_argument("--name", default="robustness_vectors")
    args = ap.parse_args(argv)
    res = Path(args.results_dir)
    files = sorted({f for pre in args.prefix for f in res.glob(f"{pre}*.json")}, key=lambda p: p.stem)
    if not files:
        print(f"robustness_vectors: no {' or '.join(args.prefix)}*.json in {res}", file=sys.stderr)
        return 2
    rows: list[dict] = []
    latest: dict[tuple, dict] = {}  # one row per run: a cell found in several result files counts once (the newest)
    for f in files:
        d = json.loads(f.read_text())
        vseed = d["meta"]["params"].get("vector_seed", 0)
        options = variant_options(d["meta"]["params"])
        single_options = variant_options({**d["meta"]["params"], "restarts": 1})  # the same run with one start
        for st in d["settings"]:
            if args.setting and st["id"] != args.setting:
                continue
            build = (st.get("info") or {}).get("corpus_build") or "?"
            build = os.path.relpath(build, ROOT) if os.path.isabs(build) else build
            if args.build and os.path.normpath(build) != os.path.normpath(args.build):
                continue
            if st.get("status") != "ok":
                rows.append({"file": f.name, "vector_seed": vseed, "setting": st["id"], "build": build,
                             "error": st.get("reason")})
                continue
            cells = st["cells"]
            sup = next((c for c in cells if c["method"] == "procrustes" and c.get("status") == "ok"), None)
            for c in cells:
                if c["method"] in SUPERVISED_CELLS or c.get("status") != "ok":
                    continue
                r = {"file": f.name, "vector_seed": vseed, "setting": st["id"], "build": build,
                     "method": c["method"] + (f" ({options})" if options else ""),
                     "seed": c["seed"], "sup_p1": sup and sup["p1"], "p1": c["p1"], "criterion": c["criterion"],
                     "flagged_failed": c["aligner_failed"], "wall_s": c["wall_s"],
                     "commit": d["meta"]["git"]["commit"][:12], "date": d["meta"]["date"],
                     "starts": restart_starts(c),
                     "single_method": c["method"] + (f" ({single_options})" if single_options else "")}
                key = (r["setting"], build, r["method"], vseed, r["seed"])
                if key not in latest or r["date"] >= latest[key]["date"]:
                    latest[key] = r
    rows += latest.values()
    if not rows:
        wanted = " and ".join(x for x in (args.setting and f"setting {args.setting}", args.build and f"build {args.build}") if x)
        print(f"robustness_vectors: no run in {' or '.join(args.prefix)}*.json matches {wanted}", file=sys.stderr)
        return 2
    ok = [r for r in rows if "p1" in r]
    lines = ["# Robustness over seeds (vector training and aligner)\n",
             "Written by `experiments/robustness_vectors.py` from the `run_bli.py` results "
             f"`{'`, `'.join(p + '*.json' for p in args.prefix)}`; nothing edited by hand. Success = CSLS P@1 > {100 * SUCCESS_P1:.0f}%; "
             "`flag ok` = the aligner's own failed flag agrees with the outcome.\n",
             f"- command: `{script_command(__file__, argv)}`",
             f"- written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; runs: "
             + ", ".join(sorted({f"{r['file']} (commit {r.get('commit', '?')}, {r.get('date', '?')})" for r in ok})) + "\n",
             "| setting | corpus build | vector seed | method | aligner seed | supervised P@1 | unsupervised P@1 | ratio | criterion | flagged failed | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(ok, key=lambda r: (r["setting"], r["build"], r["method"], r["vector_seed"], r["seed"])):
        ratio = r["p1"] / r["sup_p1"] if r["sup_p1"] else None
        lines.append(f"| {r['setting']} | {r['build']} | {r['vector_seed']} | {r['method']} | {r['seed']} | {100 * r['sup_p1']:.1f} | {100 * r['p1']:.1f} | "
                     f"{'-' if ratio is None else f'{ratio:.2f}'} | {r['criterion']:.4f} | {r['flagged_failed']} | {r['wall_s']:.0f} |")
    lines.append("\n| setting | corpus build | method | runs | success | mean P@1 | std | min | max | mean ratio | >= supervised | flag ok |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted({(r["setting"], r["build"], r["method"]) for r in ok}):
        rs = [r for r in ok if (r["setting"], r["build"], r["method"]) == key]
        p = [r["p1"] for r in rs]
        succ = [x > SUCCESS_P1 for x in p]
        flag_ok = sum(1 for r, s in zip(rs, succ) if r["flagged_failed"] != s)
        ratios = [r["p1"] / r["sup_p1"] for r in rs if r["sup_p1"]]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {len(rs)} | {sum(succ)}/{len(rs)} | {100 * statistics.mean(p):.1f} | "
                     f"{100 * (statistics.pstdev(p) if len(p) > 1 else 0.0):.1f} | {100 * min(p):.1f} | {100 * max(p):.1f} | "
                     f"{statistics.mean(ratios):.2f} | {sum(1 for r in rs if r['sup_p1'] and r['p1'] >= r['sup_p1'])}/{len(rs)} | "
                     f"{flag_ok}/{len(rs)} |")
    lines += restart_rows(ok)
    for r in rows:
        if "error" in r:
            lines.append(f"\n- {r['file']}: {r['setting']} ({r['build']}) failed: {r['error']}")
    write_report(Path(args.results_dir), args.name, rows, "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
