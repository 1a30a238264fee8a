"""Every committed study run that has a self-learned null: its P@1, refined share and self-learned-null share.

The failure check's margin (``UnsupervisedAligner.sl_null_margin``) is set against these runs; this lists them
so the README's statement of where failures and successes sit can be regenerated::

    python experiments/sl_null_shares.py   # -> experiments/results/sl_null_shares.md and .json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bli_core import SUCCESS_P1, write_report  # noqa: E402

from udm.aligners.unsupervised import UnsupervisedAligner  # noqa: E402

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
                row = {"p1": c["p1"], "refined_share": m.get("criterion_headroom_share"),
                       "sl_null_share": m["criterion_sl_null_share"], "flagged": bool(m.get("failed")),
                       "null_cut": bool(m.get("sl_null_stopped_by_time")), "method": c["method"],
                       "setting": f"{st['pair']}/{st['regime']}/{st['fraction']:g}", "seed": c["seed"], "study": path.name}
                key = (round(row["p1"], 4), round(row["sl_null_share"], 4), round(row["refined_share"] or 0, 4))
                if key not in seen:
                    seen.add(key)
                    rows.append(row)
    return sorted(rows, key=lambda r: r["sl_null_share"])


def main() -> int:
    rows = runs_with_sl_null()
    margin = UnsupervisedAligner.sl_null_margin
    L = ["# Runs with a self-learned null: where failures and successes sit\n",
         f"`python experiments/sl_null_shares.py`: every distinct run of the committed studies in `experiments/results/` "
         f"whose failure check had a self-learned null ({len(rows)} runs). success = CSLS P@1 > {100 * SUCCESS_P1:.0f}%; "
         f"the current margin is {margin} of the headroom above the null; `flagged` is the verdict of the code of the "
         "run's day; `null cut` = the null was stopped by the time budget.\n",
         "| CSLS P@1 | outcome | refined share | SL-null share | passes the current margin | flagged then | null cut | method | setting | seed | study |",
         "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r["p1"] > SUCCESS_P1
        L.append(f"| {100 * r['p1']:.1f} | {'success' if ok else 'failure'} | {r['refined_share']:.3f} | "
                 f"{r['sl_null_share']:.3f} | {'yes' if r['sl_null_share'] >= margin else 'no'} | "
                 f"{'yes' if r['flagged'] else 'no'} | {'yes' if r['null_cut'] else 'no'} | {r['method']} | "
                 f"{r['setting']} | {r['seed']} | `{r['study']}` |")
    fail = [r["sl_null_share"] for r in rows if r["p1"] <= SUCCESS_P1]
    succ = [r["sl_null_share"] for r in rows if r["p1"] > SUCCESS_P1]
    if fail and succ:
        L.append(f"\nFailures: {len(fail)}, SL-null share {min(fail):.3f}-{max(fail):.3f}; successes: {len(succ)}, "
                 f"{min(succ):.3f}-{max(succ):.3f}.")
    write_report(RESULTS, "sl_null_shares", {"margin": margin, "runs": rows}, "\n".join(L) + "\n")
    print(f"{len(rows)} runs -> {RESULTS / 'sl_null_shares.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
