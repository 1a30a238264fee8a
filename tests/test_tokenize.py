"""Tests of the shared tokenizer (udm.tokenize)."""
from __future__ import annotations

import gzip

import pytest

from udm.errors import UdmError
from udm.tokenize import iter_sentences, tokenize


def test_english():
    assert tokenize("God's people don't—well-known! In 2000, “men” ran.", "en") == [
        "god", "'s", "people", "don't", "well-known", "in", "2000", "men", "ran"]


def test_case_kept_when_not_lower():
    assert tokenize("The Cat", "en", lower=False) == ["The", "Cat"]


def test_spanish():
    assert tokenize("¿Dónde está el niño? ¡Allí!", "es") == ["dónde", "está", "el", "niño", "allí"]


def test_french_elision_and_hyphen():
    assert tokenize("L'homme qu’il aime, aujourd'hui l'arc-en-ciel.", "fr") == [
        "l'", "homme", "qu'", "il", "aime", "aujourd'hui", "l'", "arc-en-ciel"]


def test_nfc_and_soft_hyphen():
    decomposed = "creo\u0301\u00ad"  # o + combining acute, soft hyphen
    assert tokenize(decomposed, "es") == ["creó"]


@pytest.mark.parametrize("lang,text", [("en", "God's dogs' bone"), ("fr", "l'eau d'un jour"),
                                       ("it", "dell'uomo c'è"), ("de", "Straße, Größe!")])
def test_idempotent_on_tokenised_text(lang, text):
    toks = tokenize(text, lang)
    assert tokenize(" ".join(toks), lang) == toks


def test_chinese_segmentation():
    toks = tokenize("起初， 神创造天地。Python3 很好", "zh")
    assert "创造" in toks and "天地" in toks and "python3" in toks
    assert "，" not in toks and "。" not in toks


def test_iter_sentences_streams(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("Hello, world!\n\n  \nSecond line.\n", encoding="utf-8")
    assert list(iter_sentences(p, "en")) == [["hello", "world"], ["second", "line"]]
    g = tmp_path / "c.txt.gz"
    g.write_bytes(gzip.compress(p.read_bytes()))
    assert list(iter_sentences(g, "en")) == [["hello", "world"], ["second", "line"]]


def test_iter_sentences_non_utf8_names_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_bytes("fine\nalso fine\n".encode() + "caf\u00e9\n".encode("latin-1"))
    it = iter_sentences(p, "fr")
    with pytest.raises(UdmError, match=r"bad.txt: line 3 .*UTF-8"):
        list(it)


def test_iter_sentences_missing_file(tmp_path):
    with pytest.raises(UdmError, match="cannot read"):
        list(iter_sentences(tmp_path / "nope.txt", "en"))
