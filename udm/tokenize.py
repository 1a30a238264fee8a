"""Tokenisation in one place, shared by the corpus builder and the embedding trainer.

Space-delimited languages: NFC-normalise, words are runs of letters/digits joined by internal
apostrophes or hyphens ("don't", "arc-en-ciel", "2000"); punctuation is dropped. Elided clitics of
French/Italian/Catalan ("l'homme" -> "l'", "homme") and the English possessive ("god's" -> "god", "'s")
are split off so that the bare word matches dictionary headwords. Chinese (``zh``) is segmented with
jieba (loaded lazily, quiet); see corpora/README.md for why jieba rather than sentencepiece.
"""
from __future__ import annotations

import gzip
import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Iterator

from udm.errors import UdmError

__all__ = ["tokenize", "iter_sentences", "SUPPORTED_LANGS"]

SUPPORTED_LANGS = ("en", "es", "fr", "de", "it", "pt", "ru", "zh")

# Apostrophe look-alikes mapped to ASCII ' ; dash look-alikes inside words mapped to '-'.
_APOS = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'",
                       "\u2010": "-", "\u2011": "-",
                       "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\ufeff": None})
# A word: letters/digits ([^\W_]), optionally joined by single internal apostrophes/hyphens.
_WORD = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
# Elided clitics written with an apostrophe before a vowel-initial word.
_ELISION = {
    "fr": re.compile(r"^((?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu)')(.+)$", re.IGNORECASE),
    "it": re.compile(r"^((?:[cdlmnstv]|un|all|dall|dell|nell|sull|coll|quell|quest|bell|sant|tutt)')(.+)$",
                     re.IGNORECASE),
}
_EN_POSSESSIVE = re.compile(r"^(.+)('s)$", re.IGNORECASE)
# Stand-alone clitic tokens (as in already-tokenised text: "l' homme", "god 's") are kept, so that
# tokenize(" ".join(tokenize(t))) == tokenize(t).
_STANDALONE = {
    "fr": r"(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu|quoiqu|presqu)'",
    "it": r"(?:[cdlmnstv]|un|all|dall|dell|nell|sull|coll|quell|quest|bell|sant|tutt)'",
    "en": r"'s",
}
_WORD_BY_LANG = {lang: re.compile(rf"(?<![^\W_]){alt}(?![^\W_])|{_WORD.pattern}", re.IGNORECASE)
                 for lang, alt in _STANDALONE.items()}

_jieba_lock = threading.Lock()
_jieba_tok = None


def _jieba():
    """Return a initialised jieba tokenizer, loading its dictionary once and without log noise."""
    global _jieba_tok
    if _jieba_tok is None:
        with _jieba_lock:
            if _jieba_tok is None:
                try:
                    import jieba
                except ImportError as exc:  # pragma: no cover - depends on the environment
                    raise UdmError("Chinese tokenisation needs jieba: run `pip install jieba`") from exc
                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                _jieba_tok = tok
    return _jieba_tok


def normalize(text: str) -> str:
    """NFC-normalise and unify apostrophe/hyphen variants."""
    return unicodedata.normalize("NFC", text).translate(_APOS)


def _split_word(word: str, lang: str) -> list[str]:
    """Split elided clitics (fr/it) and the English possessive off one word."""
    if "'" not in word:
        return [word]
    rule = _ELISION.get(lang)
    if rule is not None:
        m = rule.match(word)
        if m:
            return [m.group(1)] + _split_word(m.group(2), lang)
        return [word]
    if lang == "en":
        m = _EN_POSSESSIVE.match(word)
        if m:
            return [m.group(1), m.group(2)]
    return [word]


def tokenize(text: str, lang: str, lower: bool = True) -> list[str]:
    """Split ``text`` into word tokens for language ``lang`` (ISO 639-1); punctuation is dropped.

    ``zh`` is segmented with jieba; every other language uses the Unicode word rule above.
    """
    text = normalize(text)
    if lower:
        text = text.lower()
    if lang == "zh":
        out = []
        for piece in _jieba().lcut(text):
            piece = piece.strip()
            if piece and any(ch.isalnum() for ch in piece):
                # Latin runs inside Chinese text still follow the word rule.
                out.extend(_WORD.findall(piece) if piece.isascii() else [piece])
        return out
    tokens: list[str] = []
    for word in _WORD_BY_LANG.get(lang, _WORD).findall(text):
        tokens.extend(_split_word(word, lang))
    return tokens


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_sentences(path: str | Path, lang: str, lower: bool = True) -> Iterator[list[str]]:
    """Stream a UTF-8 text file (optionally .gz), yielding the tokens of each non-empty line.

    Raises UdmError naming the file and line when the file is unreadable or not UTF-8.
    """
    path = Path(path)
    try:
        fh = _open_binary(path)
    except OSError as exc:
        raise UdmError(f"cannot read corpus file {path}: {exc.strerror or exc}; check the path") from exc
    lineno = 0
    try:
        with fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise UdmError(f"{path}: line {lineno} is not valid UTF-8 (byte {exc.start}); "
                                   f"re-encode the file as UTF-8 (e.g. iconv -t utf-8)") from None
                toks = tokenize(line, lang, lower=lower)
                if toks:
                    yield toks
    except (OSError, EOFError) as exc:
        raise UdmError(f"{path}: read error after line {lineno}: {exc}; check the file is complete") from exc
