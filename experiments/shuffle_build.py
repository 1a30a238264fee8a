"""Copy a corpus build with every language's lines in a random order (the line-order probe).

The corpora builder writes each language's text source by source (Bible, then Wikipedia, ..., fortunes last), and
the trainer reads it in that order with a learning rate that decays linearly, so the vectors end every epoch on
the same sources. The copy has the same lines, vocabulary and counts in another order; its manifest records the
new checksums and where it came from, so ``run_bli.py --data-dir OUT --no-build`` trains and caches it apart.

Usage:
    python experiments/shuffle_build.py data/enes/bli/none-all-f1 data/enes-shuf/bli/none-all-f1 --seed 0
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from udm.atomic import atomic_path  # noqa: E402
from udm.corpora.fetch import sha256_file  # noqa: E402 (the checksum the corpora builder writes)


def shuffle_build(build: Path, out: Path, seed: int = 0) -> dict:
    """Write the shuffled copy of ``build`` to ``out``; returns the new manifest."""
    try:
        manifest = json.loads((build / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{build}: not a finished corpus build (no readable manifest.json: {exc})") from None
    out.mkdir(parents=True, exist_ok=True)
    for lang, info in manifest["languages"].items():
        lines = (build / info["file"]).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        random.Random(seed).shuffle(lines)
        data = ("\n".join(lines) + "\n").encode("utf-8")
        with atomic_path(out / info["file"]) as tmp:
            Path(tmp).write_bytes(data)
        info["sha256"] = sha256_file(out / info["file"])
        vocab = build / f"{lang}.vocab.txt"
        if vocab.is_file():
            shutil.copyfile(vocab, out / vocab.name)
    manifest["shuffled_from"] = {"build": str(build), "seed": seed,
                                 "how": "random.Random(seed).shuffle of each language's lines"}
    with atomic_path(out / "manifest.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, help="a finished corpus build (a folder with manifest.json)")
    ap.add_argument("out", type=Path, help="folder for the shuffled copy")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    m = shuffle_build(args.build, args.out, args.seed)
    for lang, info in m["languages"].items():
        print(f"{lang}: {info['file']} sha256 {info['sha256'][:12]}")


if __name__ == "__main__":
    main()
