"""Every committed study run that has a self-learned null: its P@1, refined share and self-learned-null share.

The failure check's margin (``UnsupervisedAligner.sl_null_margin``) is set against these runs; this lists them
so the README's statement of where failures and successes sit can be regenerated. Beside the share (of a headroom
that assumes a ceiling of 1) it gives the scale-free measure the refined-null check also uses
(``udm.criteria.lift_ratio``: how many times as far above random maps' criterion the run rises as the self-learned
null does) and, for both, how many runs the best single threshold would judge right in-sample, so whether a
scale-free margin would separate failures better can be read off::

    python experiments/sl_null_shares.py   # -> experiments/results/sl_null_shares.md and .json
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bli_core import SUCCESS_P1, write_report  # noqa: E402
from probe_common import probe_meta, report_header  # noqa: E402

from udm.aligners.unsupervised import UnsupervisedAligner  # noqa: E402
from udm.criteria import lift_ratio  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def runs_with_sl_null(results: Path = RESULTS) -> list[dict]:
    """One row per distinct run (the same P@1 and shares seen in several studies count once), by null share."""
    rows, seen = [], set()
    for path in sorted(results.glob("*.json")):
        try:
            study = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        settings = study.get("settings") if isinstance(study, dict) else None
        for st in settings if isinstance(settings, list) else []:
            for c in st.get("cells", []) if isinstance(st, dict) else []:
                m = c.get("meta") or {}
                if "criterion_sl_null_share" not in m or c.get("p1") is None:
                    continue
                lift = (lift_ratio(m["criterion"], m["criterion_sl_null"], m["criterion_null_mean"])
                        if {"criterion", "criterion_sl_null", "criterion_null_mean"} <= m.keys() else None)
                row = {"p1": c["p1"], "refined_share": m.get("criterion_headroom_share"),
                       "sl_null_share": m["criterion_sl_null_share"], "sl_null_lift": lift, "flagged": bool(m.get("failed")),
                       "null_cut": bool(m.get("sl_null_stopped_by_time")), "method": c["method"],
                       "setting": f"{st['pair']}/{st['regime']}/{st['fraction']:g}", "seed": c["seed"], "study": path.name}
                key = (round(row["p1"], 4), round(row["sl_null_share"], 4), round(row["refined_share"] or 0, 4))
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
    return sorted(rows, key=lambda r: r["sl_null_share"])


def best_threshold(rows: list[dict], measure: str) -> tuple[int, float]:
    """How many runs the best single threshold on ``measure`` judges right (pass = at or above it, success = P@1
    above the study's line), and that threshold (ties: the highest): chosen on these very runs, an in-sample best."""
    scored = [r for r in rows if r.get(measure) is not None]
    best = (-1, 0.0)
    for t in sorted({r[measure] for r in scored}):
        right = sum((r[measure] >= t) == (r["p1"] > SUCCESS_P1) for r in scored)
        best = max(best, (right, t))
    return best


def separation(rows: list[dict], measure: str) -> str:
    """One line: the failures' and successes' range on ``measure`` and how many of each sit inside the other's."""
    fail = [r[measure] for r in rows if r.get(measure) is not None and r["p1"] <= SUCCESS_P1]
    succ = [r[measure] for r in rows if r.get(measure) is not None and r["p1"] > SUCCESS_P1]
    if not fail or not succ:
        return "needs failures and successes"
    return (f"failures {min(fail):.3f}-{max(fail):.3f}, successes {min(succ):.3f}-{max(succ):.3f}; "
            f"{sum(v >= min(succ) for v in fail)} failure(s) at or above the lowest success, "
            f"{sum(v <= max(fail) for v in succ)} success(es) at or below the highest failure")


def main() -> int:
    t0 = time.time()
    rows = runs_with_sl_null()
    margin = UnsupervisedAligner.sl_null_margin
    meta = probe_meta("sl_null_shares.py", [], t0)
    L = report_header("Runs with a self-learned null: where failures and successes sit", "sl_null_shares.py", meta)
    L += ["", f"Every distinct run of the committed studies in `experiments/results/` whose failure check had a "
              f"self-learned null ({len(rows)} runs). success = CSLS P@1 > {100 * SUCCESS_P1:.0f}%; the current margin "
              f"is {margin} of the headroom above the null; `flagged` is the verdict of the code of the run's day; "
              "`null cut` = the null was stopped by the time budget.\n",
          "`SL-null lift` = (criterion - random maps' criterion) / (self-learned null's criterion - random maps'), "
          "the scale-free measure of `udm.criteria.lift_ratio`.\n",
          "| CSLS P@1 | outcome | refined share | SL-null share | SL-null lift | passes the current margin | flagged then "
          "| null cut | method | setting | seed | study |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r["p1"] > SUCCESS_P1
        L.append(f"| {100 * r['p1']:.1f} | {'success' if ok else 'failure'} | {r['refined_share']:.3f} | "
                 f"{r['sl_null_share']:.3f} | {'-' if r['sl_null_lift'] is None else format(r['sl_null_lift'], '.3f')} | "
                 f"{'yes' if r['sl_null_share'] >= margin else 'no'} | "
                 f"{'yes' if r['flagged'] else 'no'} | {'yes' if r['null_cut'] else 'no'} | {r['method']} | "
                 f"{r['setting']} | {r['seed']} | `{r['study']}` |")
    n_fail = sum(r["p1"] <= SUCCESS_P1 for r in rows)
    current = sum((r["sl_null_share"] >= margin) == (r["p1"] > SUCCESS_P1) for r in rows)
    summary = {"failures": n_fail, "successes": len(rows) - n_fail, "current_margin_right": current}
    L += ["", f"{n_fail} failures, {len(rows) - n_fail} successes. The current margin ({margin}) alone judges "
              f"{current} of {len(rows)} right (this check only; a run can be flagged by the others).", "",
          "| measure | where failures and successes sit | best single threshold (in-sample) | runs it judges right |",
          "|---|---|---|---|"]
    for measure, label in (("sl_null_share", "SL-null share"), ("sl_null_lift", "SL-null lift")):
        right, t = best_threshold(rows, measure)
        scored = sum(r.get(measure) is not None for r in rows)
        summary[measure] = {"best_threshold": t, "right": right, "scored": scored}
        L.append(f"| {label} | {separation(rows, measure)} | {t:.3f} | {right} of {scored} |")
    write_report(RESULTS, "sl_null_shares", {"meta": meta, "margin": margin, "summary": summary, "runs": rows}, "\n".join(L) + "\n")
    print(f"{len(rows)} runs -> {RESULTS / 'sl_null_shares.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
