"""Balance a finished corpus build: the same sources, at the same size, in every language.

A shared-documents build gives each language whatever its packages hold: on en-es the English side has four Bible
versions to Spanish's two, 2.5 times the man pages and WordNet glosses Spanish lacks (7.3M tokens against 3.3M),
so the two frequency lists rank different domains' words at the top and the two vector spaces are far less alike
than the shared documents suggest. The balanced copy keeps only the sources every language of the build has and
gives each of them the same number of tokens in every language (the smallest language's): a seeded random subset
of the larger sides' lines, kept in the built order. Distribution matching finds en-es on the balanced copy and
not on the build (``experiments/FINDINGS.md``).
"""
from __future__ import annotations

import collections
import json
import random
from pathlib import Path

from udm.atomic import atomic_open
from udm.corpora.build import write_vocab
from udm.corpora.fetch import sha256_file
from udm.errors import UdmError
from udm.tokenize import tokenize

__all__ = ["source_blocks", "balance_build"]


def source_blocks(lang: str, info: dict, lines: list[str]) -> dict[str, list[str]]:
    """Cut a language's lines into its sources' blocks, in the built order, from the manifest's line counts."""
    sources = info.get("sources") or {}
    if sum(s.get("lines", -1) for s in sources.values()) != len(lines):
        raise UdmError(f"{lang}: the manifest's per-source line counts do not add up to the file's "
                       f"{len(lines)} lines; this build cannot be cut into sources")
    blocks, start = {}, 0
    for name, meta in sources.items():
        blocks[name] = lines[start:start + meta["lines"]]
        start += meta["lines"]
    return blocks


def read_build(build: Path) -> tuple[dict, dict[str, list[str]]]:
    """A finished build's manifest and each language's lines."""
    try:
        manifest = json.loads((build / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise UdmError(f"{build}: not a finished corpus build (no readable manifest.json: {exc})") from None
    texts = {}
    for lang, info in manifest["languages"].items():
        try:
            lines = (build / info["file"]).read_text(encoding="utf-8").split("\n")
        except OSError as exc:
            raise UdmError(f"{build}: {lang} text unreadable ({exc}); rebuild it") from None
        if lines and lines[-1] == "":
            lines.pop()
        texts[lang] = lines
    return manifest, texts


def _take_tokens(lines: list[str], lang: str, budget: int,
                 rng: random.Random) -> list[tuple[str, list[str]]]:
    """A random subset of ``lines`` holding about ``budget`` tokens, in their original order, with their tokens."""
    order = list(range(len(lines)))
    rng.shuffle(order)
    kept, total = {}, 0
    for i in order:
        if total >= budget:
            break
        kept[i] = tokenize(lines[i], lang, lower=True)
        total += len(kept[i])
    return [(lines[i], kept[i]) for i in sorted(kept)]


def balance_build(build: str | Path, out: str | Path, seed: int = 0) -> dict:
    """Write the balanced copy of the finished build ``build`` to ``out`` (text, vocabularies, manifest).

    Returns the new manifest; its ``balanced_from`` records the build, the seed, the tokens per source and the
    sources dropped because a language lacks them.
    """
    build, out = Path(build), Path(out)
    manifest, texts = read_build(build)
    langs = manifest["languages"]
    if len(langs) < 2:
        raise UdmError(f"{build}: balancing needs a build of at least two languages, not {', '.join(langs)}")
    blocks = {lang: source_blocks(lang, info, texts[lang]) for lang, info in langs.items()}
    first = next(iter(langs))
    shared = [n for n in blocks[first] if all(n in blocks[lang] for lang in langs)]
    if not shared:
        raise UdmError(f"{build}: no source is in every language of the build; nothing to balance")
    dropped = {lang: [n for n in blocks[lang] if n not in shared] for lang in langs}
    budget = {n: min(langs[lang]["sources"][n]["tokens"] for lang in langs) for n in shared}
    out.mkdir(parents=True, exist_ok=True)
    for lang, info in langs.items():
        sources, vocab, text = {}, collections.Counter(), []
        for n in shared:
            kept = _take_tokens(blocks[lang][n], lang, budget[n], random.Random(f"{seed}:{lang}:{n}"))
            for _, toks in kept:
                vocab.update(toks)
            sources[n] = {**info["sources"][n], "lines": len(kept), "tokens": sum(len(t) for _, t in kept),
                          "lines_built": info["sources"][n]["lines"], "tokens_built": info["sources"][n]["tokens"]}
            text.extend(line for line, _ in kept)
        with atomic_open(out / info["file"], "w") as fh:
            fh.write("\n".join(text) + "\n")
        info.update(sha256=sha256_file(out / info["file"]), lines=len(text), tokens=sum(vocab.values()),
                    **write_vocab(out / f"{lang}.vocab.txt", vocab), sources=sources)
    manifest["balanced_from"] = {
        "build": str(build), "seed": seed,
        "how": "sources every language has, each cut to the smallest language's tokens by a seeded random subset "
               "of lines (random.Random(f'{seed}:{lang}:{source}')), kept in the built order",
        "tokens_per_source": budget, "dropped": {lang: d for lang, d in dropped.items() if d}}
    with atomic_open(out / "manifest.json", "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
    return manifest
