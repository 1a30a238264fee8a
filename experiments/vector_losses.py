"""Per-epoch training loss of the vectors that study reports used (from the vector cache's training records).

``run_bli.py`` caches every vector training with its record (``experiments/cache/vectors/<lang>-<key>.json``,
holding the mean loss per pair of each epoch); a study JSON names each side's cache key. This writes one table
with a row per vector training: the study, side, corpus, settings and the loss of every epoch, so a claim about
how the loss moved comes from a committed file.

    python experiments/vector_losses.py experiments/results/bli_none_enes_epochs15.json ... --name training_loss_order
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
sys.path.insert(0, str(ROOT))

from bli_core import read_cell  # noqa: E402
from udm.atomic import atomic_path  # noqa: E402


def loss_rows(study: Path, cache: Path) -> list[dict]:
    """One row per side of every setting of ``study`` whose training record is in ``cache``."""
    try:
        settings = json.loads(study.read_text()).get("settings", [])
    except (OSError, ValueError, AttributeError) as exc:
        raise SystemExit(f"{study}: not a study JSON written by run_bli.py ({exc})") from None
    rows = []
    for st in settings:
        for side, vec in sorted((st.get("vectors") or {}).items()):
            name = Path(vec["path"]).stem  # <lang>-<key>, as run_bli caches it, beside its <lang>-<key>.json record
            lang = name.split("-")[0]
            rec = read_cell(cache / "vectors" / f"{name}.json")
            if not rec or rec.get("status") != "ok":
                continue
            params = (rec.get("spec") or {}).get("params") or {}
            rows.append({"study": study.name, "side": side, "lang": lang, "corpus": vec.get("corpus"), "key": vec["key"],
                         "dim": params.get("dim"), "epochs": params.get("epochs"), "shuffle": bool(params.get("shuffle")),
                         "epoch_loss": rec.get("epoch_loss") or []})
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("studies", nargs="+", type=Path, help="study JSON files written by run_bli.py")
    ap.add_argument("--cache-dir", type=Path, default=ROOT / "experiments" / "cache")
    ap.add_argument("--out-dir", type=Path, default=ROOT / "experiments" / "results")
    ap.add_argument("--name", default="vector_losses")
    args = ap.parse_args(argv)
    rows = [r for s in args.studies for r in loss_rows(s, args.cache_dir)]
    if not rows:
        raise SystemExit("no training record found for these studies' vectors in " + str(args.cache_dir / "vectors"))
    cmd = "python experiments/vector_losses.py " + " ".join(str(s) for s in args.studies) + f" --name {args.name}"
    lines = ["# Per-epoch training loss of the studies' vectors", "",
             "Written by `experiments/vector_losses.py` from the vector cache's training records; nothing edited by hand. "
             "Loss = mean SGNS loss per (context, centre) pair over the epoch, measured before each step's update. "
             "Corpora under a `*-shuf` folder are builds whose lines `experiments/shuffle_build.py` shuffled once.", "",
             f"- command: `{cmd}`", f"- written: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "| study | side | corpus | dim | epochs | trainer's per-epoch shuffle | loss per epoch | lowest at epoch |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        losses = r["epoch_loss"]
        low = 1 + min(range(len(losses)), key=losses.__getitem__) if losses else "-"
        lines.append(f"| {r['study']} | {r['side']} ({r['lang']}) | {r['corpus']} | {r['dim']} | {r['epochs']} | "
                     f"{'yes' if r['shuffle'] else 'no'} | {' '.join(f'{x:.3f}' for x in losses)} | {low} |")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, text in ((".md", "\n".join(lines) + "\n"), (".json", json.dumps({"command": cmd, "rows": rows}, indent=1))):
        with atomic_path(args.out_dir / f"{args.name}{suffix}") as tmp:
            Path(tmp).write_text(text)
    print(f"wrote {args.out_dir / args.name}.md ({len(rows)} trainings)")


if __name__ == "__main__":
    main()
