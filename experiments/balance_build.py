"""Copy a corpus build with every source cut to the same size in each language (the domain-balance probe).

A shared-documents build gives each language whatever its packages hold: on en-es the English side has four Bible
versions to Spanish's two, 2.5 times the man pages and WordNet glosses Spanish lacks (7.3M tokens against 3.3M),
so the two frequency lists rank different domains' words at the top. This copy keeps only the sources every
language of the build has, and gives each of them the same number of tokens per language (the smallest
language's): a seeded random subset of the larger sides' lines, kept in the built order. It asks whether distribution
matching fails on a pair because the two corpora mix their domains in different proportions.

The manifest records the new checksums, token and line counts and where the copy came from, and the vocabulary
files are recounted, so ``run_bli.py --data-dir OUT --no-build`` trains and caches it apart.

Usage:
    python experiments/balance_build.py data/enes/bli/none-all-f1 data/enes-bal/bli/none-all-f1 --seed 0
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from shuffle_build import _source_blocks  # noqa: E402 (cuts a language's lines into its sources)
from udm.atomic import atomic_open  # noqa: E402
from udm.corpora.fetch import sha256_file  # noqa: E402
from udm.tokenize import tokenize  # noqa: E402 (the builder's token count)


def _take_tokens(lines: list[str], lang: str, budget: int, rng: random.Random) -> list[str]:
    """A random subset of ``lines`` holding about ``budget`` tokens, in their original order."""
    order = list(range(len(lines)))
    rng.shuffle(order)
    kept, total = [], 0
    for i in order:
        if total >= budget:
            break
        kept.append(i)
        total += len(tokenize(lines[i], lang, lower=True))
    return [lines[i] for i in sorted(kept)]


def balance_build(build: Path, out: Path, seed: int = 0) -> dict:
    """Write the balanced copy of ``build`` to ``out``; returns the new manifest."""
    try:
        manifest = json.loads((build / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{build}: not a finished corpus build (no readable manifest.json: {exc})") from None
    langs = manifest["languages"]
    if len(langs) < 2:
        raise SystemExit(f"{build}: balancing needs a build of at least two languages, not {', '.join(langs)}")
    blocks = {}
    for lang, info in langs.items():
        lines = (build / info["file"]).read_text(encoding="utf-8").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        blocks[lang] = _source_blocks(lang, info, lines)
    first = next(iter(langs))
    shared = [n for n in blocks[first] if all(n in blocks[lang] for lang in langs)]
    if not shared:
        raise SystemExit(f"{build}: no source is in every language of the build; nothing to balance")
    dropped = {lang: [n for n in blocks[lang] if n not in shared] for lang in langs}
    budget = {n: min(langs[lang]["sources"][n]["tokens"] for lang in langs) for n in shared}
    out.mkdir(parents=True, exist_ok=True)
    for lang, info in langs.items():
        sources, vocab, text = {}, collections.Counter(), []
        for n in shared:
            rng = random.Random(f"{seed}:{lang}:{n}")
            kept = _take_tokens(blocks[lang][n], lang, budget[n], rng)
            tokens = 0
            for line in kept:
                toks = tokenize(line, lang, lower=True)
                vocab.update(toks)
                tokens += len(toks)
            sources[n] = {**info["sources"][n], "lines": len(kept), "tokens": tokens,
                          "lines_built": info["sources"][n]["lines"], "tokens_built": info["sources"][n]["tokens"]}
            text.extend(kept)
        with atomic_open(out / info["file"], "w") as fh:
            fh.write("\n".join(text) + "\n")
        with atomic_open(out / f"{lang}.vocab.txt", "w") as fh:
            for w, c in vocab.most_common():
                if c < 2:
                    break
                fh.write(f"{w} {c}\n")
        info.update(sha256=sha256_file(out / info["file"]), lines=len(text), tokens=sum(vocab.values()),
                    vocab=len(vocab), vocab_min2=sum(1 for c in vocab.values() if c >= 2), sources=sources)
    manifest["balanced_from"] = {
        "build": str(build), "seed": seed,
        "how": "sources every language has, each cut to the smallest language's tokens by a seeded random subset "
               "of lines (random.Random(f'{seed}:{lang}:{source}')), kept in the built order",
        "tokens_per_source": budget, "dropped": {lang: d for lang, d in dropped.items() if d}}
    with atomic_open(out / "manifest.json", "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
    return manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("build", type=Path, help="a finished corpus build (a folder with manifest.json)")
    ap.add_argument("out", type=Path, help="folder for the balanced copy")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    m = balance_build(args.build, args.out, args.seed)
    for lang, info in m["languages"].items():
        per = ", ".join(f"{n} {s['tokens']:,}" for n, s in info["sources"].items())
        print(f"{lang}: {info['tokens']:,} tokens ({per}); sha256 {info['sha256'][:12]}")
    for lang, names in m["balanced_from"]["dropped"].items():
        print(f"{lang}: dropped {', '.join(names)} (not in every language)")


if __name__ == "__main__":
    main()
