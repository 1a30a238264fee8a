"""Copy a corpus build with its lines in another order (the line-order probe and its controls).

The corpora builder writes each language's text source by source (Bible, then Wikipedia, ..., fortunes last), and
the trainer reads it in that order with a learning rate that decays linearly, so the vectors end every epoch on
the same sources. The copy has the same lines, vocabulary and counts in another order; its manifest records the
new checksums and where it came from, so ``run_bli.py --data-dir OUT --no-build`` trains and caches it apart.

``--how`` picks the order:

- ``lines`` (default): every line of a language in a random order;
- ``within-sources``: each source's lines in a random order, the sources still in the built order;
- ``source-order``: the sources in the order ``--order`` names (default: reversed), each source's lines kept.

``--langs`` reorders only the named languages and copies the others unchanged, so a pair can be given a shared
order or two different ones.

Usage:
    python experiments/shuffle_build.py data/enes/bli/none-all-f1 data/enes-shuf/bli/none-all-f1 --seed 0
    python experiments/shuffle_build.py data/ende/bli/none-all-f1 data/ende-rev/bli/none-all-f1 --how source-order
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
from udm.corpora.balance import source_blocks  # noqa: E402
from udm.corpora.fetch import sha256_file  # noqa: E402 (the checksum the corpora builder writes)
from udm.errors import UdmError  # noqa: E402

HOWS = ("lines", "within-sources", "source-order")


def _source_blocks(lang: str, info: dict, lines: list[str]) -> dict[str, list[str]]:
    """Cut a language's lines into its sources' blocks (``udm.corpora.balance.source_blocks``); one line on failure."""
    try:
        return source_blocks(lang, info, lines)
    except UdmError as exc:
        raise SystemExit(str(exc)) from None


def reorder(lang: str, info: dict, lines: list[str], how: str, rng: random.Random,
            order: list[str] | None = None) -> tuple[list[str], dict]:
    """Return ``lines`` in the order ``how`` asks for, and the language's sources in their new order."""
    if how == "lines":
        rng.shuffle(lines)
        return lines, info.get("sources", {})
    blocks = _source_blocks(lang, info, lines)
    if how == "within-sources":
        for block in blocks.values():
            rng.shuffle(block)
        names = list(blocks)
    else:  # source-order (shuffle_build checks ``how``)
        wanted = order if order is not None else list(reversed(blocks))
        names = [n for n in wanted if n in blocks]  # a source this language lacks is skipped
        missing = [n for n in blocks if n not in names]
        if missing:
            raise SystemExit(f"{lang}: --order leaves out {', '.join(missing)}; name every source of the build")
    return [line for n in names for line in blocks[n]], {n: info["sources"][n] for n in names}


def shuffle_build(build: Path, out: Path, seed: int = 0, how: str = "lines", order: list[str] | None = None,
                  langs: list[str] | None = None) -> dict:
    """Write the reordered copy of ``build`` to ``out``; returns the new manifest."""
    if how not in HOWS:
        raise SystemExit(f"--how must be one of {', '.join(HOWS)}, not {how!r}")
    try:
        manifest = json.loads((build / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{build}: not a finished corpus build (no readable manifest.json: {exc})") from None
    unknown = [lang for lang in langs or [] if lang not in manifest["languages"]]
    if unknown:
        raise SystemExit(f"--langs: {', '.join(unknown)} not in this build ({', '.join(manifest['languages'])})")
    if order is not None:
        if how != "source-order":
            raise SystemExit(f"--order is for --how source-order, not --how {how}")
        known = {name for info in manifest["languages"].values() for name in info.get("sources", {})}
        lacking = [n for n in order if n not in known]
        if lacking:
            raise SystemExit(f"--order names sources this build lacks: {', '.join(lacking)}")
    texts = {}
    for lang, info in manifest["languages"].items():  # reorder everything before writing anything
        data = (build / info["file"]).read_bytes()
        if langs is None or lang in langs:
            lines = data.decode("utf-8").split("\n")
            if lines and lines[-1] == "":
                lines.pop()
            lines, info["sources"] = reorder(lang, info, lines, how, random.Random(seed), order)
            data = ("\n".join(lines) + "\n").encode("utf-8")
        texts[lang] = data
    out.mkdir(parents=True, exist_ok=True)
    for lang, info in manifest["languages"].items():
        with atomic_path(out / info["file"]) as tmp:
            Path(tmp).write_bytes(texts[lang])
        info["sha256"] = sha256_file(out / info["file"])
        vocab = build / f"{lang}.vocab.txt"
        if vocab.is_file():
            shutil.copyfile(vocab, out / vocab.name)
    described = {"lines": "random.Random(seed).shuffle of each language's lines",
                 "within-sources": "random.Random(seed).shuffle of each source's lines, sources in the built order",
                 "source-order": "the sources in the order given, each source's lines kept"}[how]
    manifest["shuffled_from"] = {"build": str(build), "seed": seed, "how": described,
                                 "mode": how, "languages": sorted(langs or manifest["languages"])}
    if how == "source-order":
        manifest["shuffled_from"]["order"] = {lang: list(info["sources"])
                                              for lang, info in manifest["languages"].items()}
    with atomic_path(out / "manifest.json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, help="a finished corpus build (a folder with manifest.json)")
    ap.add_argument("out", type=Path, help="folder for the reordered copy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--how", choices=HOWS, default="lines")
    ap.add_argument("--order", help="comma-separated source names for --how source-order (default: reversed)")
    ap.add_argument("--langs", help="comma-separated languages to reorder (default: all); others are copied")
    args = ap.parse_args(argv)
    order = args.order.split(",") if args.order else None
    langs = args.langs.split(",") if args.langs else None
    m = shuffle_build(args.build, args.out, args.seed, args.how, order, langs)
    for lang, info in m["languages"].items():
        print(f"{lang}: {info['file']} sha256 {info['sha256'][:12]} sources {','.join(info.get('sources', {}))}")


if __name__ == "__main__":
    main()
