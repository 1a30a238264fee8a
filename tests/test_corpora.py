"""Tests of udm.corpora: dictd parser, split modes, lexicon split, fixtures, error paths (no network)."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from udm.corpora.build import assign_sources, build_corpora, doc_owner, keep_document
from udm.corpora.dictd import b64_decode, b64_encode, read_dictd
from udm.corpora.fetch import Package, fetch
from udm.corpora.lexicons import freedict_pairs, read_muse, read_vocab, split_lexicon, write_muse
from udm.corpora.sources import DEFAULT_SOURCES, SOURCES, Source, resolve_sources
from udm.errors import UdmError

FIX = Path(__file__).resolve().parent.parent / "corpora" / "fixtures"


def _write_dictd(folder: Path, name: str, entries: list[str]) -> Path:
    """Write a dictd .index/.dict.dz pair with real dictd base64 offsets."""
    blob, index = b"", []
    head = "00-database-info\nA test dictionary\n".encode()
    index.append(f"00databaseinfo\t{b64_encode(0)}\t{b64_encode(len(head))}")
    blob += head
    for e in entries:
        data = e.encode("utf-8")
        hw = e.split("\n", 1)[0].split(" /")[0]
        index.append(f"{hw}\t{b64_encode(len(blob))}\t{b64_encode(len(data))}")
        blob += data
    (folder / f"{name}.dict.dz").write_bytes(gzip.compress(blob))
    (folder / f"{name}.index").write_text("\n".join(sorted(index)) + "\n", encoding="utf-8")
    return folder / f"{name}.index"


def test_b64_roundtrip():
    assert b64_decode("A") == 0 and b64_decode("BA") == 64 and b64_decode("c/") == 28 * 64 + 63
    for n in (0, 1, 63, 64, 4095, 123456789):
        assert b64_decode(b64_encode(n)) == n


def test_dictd_parser(tmp_path):
    idx = _write_dictd(tmp_path, "eng-fra", [
        "house /haʊs/ <n>\n1. maison, demeure <fem>\n2. foyer [fig.]\n",
        "run /rʌn/\ncourir; fonctionner (machine)\n   Synonym: {sprint}\n see: {race}\n",
        "good morning /gʊd/\nbonjour\n",
        "light /laɪt/\n\"a light bulb\"\nlumière, avoir coutume\n",
    ])
    got = dict(read_dictd(idx))
    assert got["house"] == ["maison", "demeure", "foyer"]
    assert got["run"] == ["courir", "fonctionner"]
    assert got["light"] == ["lumière", "avoir coutume"]
    assert "00databaseinfo" not in got and len(got) == 4


def test_freedict_pairs_from_dir(tmp_path):
    """A FreeDict .deb-like tree supplied through the cache; multiword items are dropped."""
    root = tmp_path / "cache" / "extracted" / "dict-freedict-eng-fra_1_all.deb" / "usr" / "share" / "dictd"
    root.mkdir(parents=True)
    _write_dictd(root, "freedict-eng-fra", ["house /h/\nmaison, la maison\n", "Light /l/\nlumière\n"])
    dl = tmp_path / "cache" / "downloads" / "deb"
    dl.mkdir(parents=True)
    (dl / "dict-freedict-eng-fra_1_all.deb").write_bytes(b"x")
    with pytest.raises(UdmError):  # fra-eng is not there and may not be fetched: error is about the package
        fetch(Package("deb", "dict-freedict-fra-eng"), tmp_path / "cache", offline=True)
    pairs = freedict_pairs("en", "fr", tmp_path / "cache", offline=True)
    assert pairs == {("house", "maison"), ("light", "lumière")}


def test_missing_package_offline_names_from_dir(tmp_path):
    with pytest.raises(UdmError) as ei:
        fetch(Package("deb", "dict-freedict-eng-xyz"), tmp_path, from_dir=tmp_path, offline=True)
    msg = str(ei.value)
    assert "\n" not in msg and "dict-freedict-eng-xyz" in msg and "--from-dir" in msg


def test_build_goes_on_when_a_package_is_missing(tmp_path, capsys):
    text = tmp_path / "en.txt"
    text.write_text("The quick brown fox jumps over the dog.\nA second line of words here.\n", encoding="utf-8")
    m = build_corpora(["en"], "none", tmp_path / "out", sources=["fortunes"], cache_dir=tmp_path / "c",
                      texts={"en": text}, progress=False, offline=True)
    assert m["failures"] and "--from-dir" in m["failures"][0] and "fortunes" in m["failures"][0]
    assert m["languages"]["en"]["tokens"] == 14
    assert (tmp_path / "out" / "en.txt").read_text(encoding="utf-8").count("\n") == 2
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["languages"]["en"]["sources"]["text"]
    assert "--from-dir" in capsys.readouterr().err


def _fake_source(parallel: bool, langs=("en", "es", "fr")) -> Source:
    return Source("fake", "none", parallel, {lang: [] for lang in langs}, lambda lang, roots: iter(()))


def test_split_half_sends_each_document_to_one_language():
    src = _fake_source(True)
    langs = ["en", "es", "fr"]
    docs = [f"bible:{i}" for i in range(200)]
    owners = {}
    for d in docs:
        kept = [lang for lang in langs if keep_document(d, lang, src, "half", langs, 1.0)]
        assert len(kept) == 1, d
        owners[d] = kept[0]
        assert kept[0] == doc_owner(d, langs)
    counts = {lang: list(owners.values()).count(lang) for lang in langs}
    assert all(40 < c < 100 for c in counts.values()), counts  # roughly balanced, stable hash


def test_split_none_and_nonparallel_keep_everything():
    par, nonpar = _fake_source(True), _fake_source(False)
    for d in ("a", "b", "c"):
        assert all(keep_document(d, lang, par, "none", ["en", "es"], 1.0) for lang in ("en", "es"))
        assert all(keep_document(d, lang, nonpar, "half", ["en", "es"], 1.0) for lang in ("en", "es"))


def test_fraction_is_nested_and_language_independent():
    src = _fake_source(True)
    docs = [f"d{i}" for i in range(400)]
    q = {d for d in docs if keep_document(d, "en", src, "none", ["en", "es"], 0.25)}
    h = {d for d in docs if keep_document(d, "es", src, "none", ["en", "es"], 0.5)}
    assert q <= h and 60 < len(q) < 140 and 160 < len(h) < 240


def _page(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body><p>{text}</p><pre>\\relative c' {{ c4 }}</pre></body></html>", encoding="utf-8")


def test_lilypond_and_debref_pages_share_document_ids_across_languages(tmp_path):
    """Translated pages get the English page's document id (so `half` sends each to one side); the manuals'
    big-page copies and code blocks are skipped."""
    docs = tmp_path / "en" / "usr/share/doc/lilypond/html/Documentation"
    _page(docs / "learning" / "tutorial.html", "Simple notation")
    _page(docs / "learning-big-page.html", "Simple notation again")
    es = tmp_path / "es" / "usr/share/doc/lilypond/html/Documentation"
    _page(es / "learning" / "tutorial.es.html", "Notación sencilla")
    _page(es / "learning-big-page.es.html", "Notación sencilla otra vez")
    read = SOURCES["lilypond"].read
    assert list(read("en", [tmp_path / "en"])) == [("lilypond:learning/tutorial", ["Simple notation"])]
    assert list(read("es", [tmp_path / "es"])) == [("lilypond:learning/tutorial", ["Notación sencilla"])]
    ref = tmp_path / "zh" / "usr/share/debian-reference"
    _page(ref / "ch01.zh-cn.html", "教程")
    assert list(SOURCES["debref"].read("zh", [tmp_path / "zh"])) == [("debref:ch01", ["教程"])]
    assert SOURCES["lilypond"].langs == ("en", "es", "fr", "de") and SOURCES["lilypond"].parallel


def test_opt_in_sources_are_left_out_of_the_default_set():
    assert resolve_sources(None) == list(DEFAULT_SOURCES)
    assert "lilypond" not in DEFAULT_SOURCES and "debref" not in DEFAULT_SOURCES and "bible" in DEFAULT_SOURCES
    assert resolve_sources(["all"]) == list(SOURCES)
    with pytest.raises(ValueError, match="unknown source"):
        resolve_sources(["bible", "nosuch"])


def test_disjoint_sources_share_nothing():
    owners = assign_sources(["en", "es"], SOURCES.values())
    assert set(owners.values()) == {"en", "es"}
    for name, lang in owners.items():
        other = "es" if lang == "en" else "en"
        assert not keep_document("x", other, SOURCES[name], "disjoint-sources", ["en", "es"], 1.0, owners)


def test_split_lexicon_disjoint_and_sizes():
    src_vocab = [f"s{i}" for i in range(100)]
    tgt_vocab = [f"t{i}" for i in range(100)]
    pairs = [(f"s{i}", f"t{i}") for i in range(80)] + [(f"s{i}", f"t{i + 1}") for i in range(0, 80, 2)]
    pairs += [("s5", "oov"), ("oov", "t5")]
    train, test, info = split_lexicon(pairs, src_vocab, tgt_vocab, test_size=20)
    tr, te = {s for s, _ in train}, {s for s, _ in test}
    assert not tr & te and len(te) == 20 and len(tr) == 60 and info["eligible_source_words"] == 80
    assert ("s5", "oov") not in test + train
    # spread: test words span the frequency range
    ranks = sorted(int(s[1:]) for s in te)
    assert ranks[0] < 5 and ranks[-1] > 70
    _, test_all, info = split_lexicon(pairs, src_vocab, tgt_vocab, test_size=1500, method="top")
    assert info["test_words"] == 80 and info["train_words"] == 0


def test_muse_and_vocab_io(tmp_path):
    n = write_muse([("b", "y"), ("a", "x"), ("a", "x")], tmp_path / "l.txt")
    assert n == 2 and read_muse(tmp_path / "l.txt") == [("a", "x"), ("b", "y")]
    (tmp_path / "v.vec").write_text("2 3\nthe 0.1 0.2 0.3\ncat 0 0 0\n", encoding="utf-8")
    assert read_vocab(tmp_path / "v.vec") == ["the", "cat"]
    (tmp_path / "bad.txt").write_text("a b c\n", encoding="utf-8")
    with pytest.raises(UdmError, match=r"bad\.txt:1: expected 'source target'"):
        read_muse(tmp_path / "bad.txt")


def test_fixture_integrity():
    man = json.loads((FIX / "MANIFEST.json").read_text(encoding="utf-8"))
    assert set(man["files"]) >= {"bible.en.txt", "bible.es.txt", "bible.fr.txt", "en-es.txt", "en-es.train.txt",
                                 "en-es.test.txt", "en-fr.txt", "en-fr.train.txt", "en-fr.test.txt",
                                 "cipher.txt", "cipher.code.txt", "cipher.train.txt", "cipher.test.txt"}
    for name, meta in man["files"].items():
        data = (FIX / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], name
        assert meta["licence"] and meta["source"]
    total = sum(p.stat().st_size for p in FIX.iterdir())
    assert total < 6 * 2 ** 20


def test_fixture_splits_are_disjoint_and_in_vocab():
    vocab = {lang: set((FIX / f"bible.{lang}.txt").read_text(encoding="utf-8").split()) for lang in ("en", "es", "fr")}
    for pair in ("en-es", "en-fr"):
        tgt = pair.split("-")[1]
        train, test = read_muse(FIX / f"{pair}.train.txt"), read_muse(FIX / f"{pair}.test.txt")
        assert not {s for s, _ in train} & {s for s, _ in test}
        assert len({s for s, _ in test}) >= 300
        assert all(s in vocab["en"] and t in vocab[tgt] for s, t in train + test)
    cipher = dict(read_muse(FIX / "cipher.txt"))
    plain = (FIX / "bible.en.txt").read_text(encoding="utf-8").splitlines()
    coded = set((FIX / "cipher.code.txt").read_text(encoding="utf-8").splitlines())
    line = plain[0].split()
    if all(w in cipher for w in line):
        assert " ".join(cipher[w] for w in line) in coded


def test_html_to_text_and_clean_line():
    from udm.corpora.clean import clean_line, html_to_text

    html = "<html><head><title>T</title></head><body><p>one\ntwo three</p><pre>x = 1</pre><div>a<br>b</div></body>"
    assert html_to_text(html) == ["one two three", "a", "b"]
    assert clean_line("  Hello   wide\u00a0world ") == "Hello wide world"
    assert clean_line("--- 123 456 ### ===") is None  # mostly non-letters
    assert clean_line("Hi there", min_words=3) is None
    assert clean_line("神创造天地", lower=True) == "神创造天地"


def test_cli_error_exit_code(tmp_path, capsys):
    from udm.corpora.cli import main

    assert main(["lexicon", "--pair", "en-xx", "--out", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("udm: ") and err.count("\n") == 1


def test_cli_split(tmp_path, capsys):
    from udm.corpora.cli import main

    (tmp_path / "lex.txt").write_text("".join(f"s{i} t{i}\n" for i in range(30)), encoding="utf-8")
    (tmp_path / "a.txt").write_text("".join(f"s{i}\n" for i in range(40)), encoding="utf-8")
    (tmp_path / "b.vec").write_text("40 2\n" + "".join(f"t{i} 0 0\n" for i in range(40)), encoding="utf-8")
    rc = main(["split", str(tmp_path / "lex.txt"), "--src-vocab", str(tmp_path / "a.txt"), "--tgt-vocab",
               str(tmp_path / "b.vec"), "--test-size", "10", "--out-train", str(tmp_path / "tr.txt"),
               "--out-test", str(tmp_path / "te.txt")])
    assert rc == 0
    assert len(read_muse(tmp_path / "te.txt")) == 10 and len(read_muse(tmp_path / "tr.txt")) == 20


def _toy_build(folder: Path, blocks: dict[str, dict[str, list[str]]]) -> None:
    """A finished build on disk: each language's sources' lines in order, with the manifest's counts."""
    folder.mkdir()
    manifest = {"split": "none", "languages": {}}
    for lang, srcs in blocks.items():
        rows = [line for block in srcs.values() for line in block]
        (folder / f"{lang}.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
        manifest["languages"][lang] = {"file": f"{lang}.txt", "sha256": "old", "sources": {
            n: {"lines": len(b), "tokens": 3 * len(b)} for n, b in srcs.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_balance_keeps_shared_sources_at_the_smallest_languages_size(tmp_path, capsys):
    """udm corpora balance: the sources every language has, each cut to the same tokens; the others dropped."""
    from udm.corpora.balance import balance_build
    from udm.corpora.cli import main

    blocks = {"en": {"bible": [f"en bible {i}" for i in range(40)], "glosses": ["en gloss"] * 6,
                     "man": [f"en man {i}" for i in range(10)]},
              "es": {"bible": [f"es biblia {i}" for i in range(10)], "man": [f"es man {i}" for i in range(30)]}}
    build = tmp_path / "b"
    _toy_build(build, blocks)
    m = balance_build(build, tmp_path / "o", seed=2)
    assert main(["balance", str(build), str(tmp_path / "a"), "--seed", "2"]) == 0
    assert "en: dropped glosses" in capsys.readouterr().out
    again = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["balanced_from"]["tokens_per_source"] == {"bible": 30, "man": 30}
    assert m["balanced_from"]["dropped"] == {"en": ["glosses"]}
    en = (tmp_path / "o" / "en.txt").read_text(encoding="utf-8").splitlines()
    assert len(en) == 20 and not any("gloss" in line for line in en)
    assert en[:10] == sorted(en[:10], key=blocks["en"]["bible"].index)  # a subset, in the built order
    assert en[10:] == blocks["en"]["man"]  # the smaller side is kept whole
    es = (tmp_path / "o" / "es.txt").read_text(encoding="utf-8").splitlines()
    assert es[:10] == blocks["es"]["bible"] and len(es) == 20
    for lang in blocks:
        info = m["languages"][lang]
        assert info["tokens"] == 60 and info["sha256"] == again["languages"][lang]["sha256"] != "old"  # seeded
        assert (tmp_path / "o" / f"{lang}.vocab.txt").read_text(encoding="utf-8").startswith(lang)
    other = balance_build(build, tmp_path / "s3", seed=3)
    assert other["languages"]["en"]["sha256"] != m["languages"]["en"]["sha256"]  # another subset


def test_balance_refuses_builds_it_cannot_balance_in_one_line(tmp_path, capsys):
    from udm.corpora.balance import balance_build
    from udm.corpora.cli import main

    _toy_build(tmp_path / "b", {"en": {"glosses": ["en gloss a"]}, "es": {"wiki": ["es wiki a"]}})
    with pytest.raises(UdmError, match="no source is in every language"):
        balance_build(tmp_path / "b", tmp_path / "x")
    _toy_build(tmp_path / "one", {"en": {"bible": ["en bible a"]}})
    with pytest.raises(UdmError, match="at least two languages"):
        balance_build(tmp_path / "one", tmp_path / "x")
    assert main(["balance", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    assert "not a finished corpus build" in capsys.readouterr().err
    _toy_build(tmp_path / "gone", {"en": {"bible": ["en bible a"]}, "es": {"bible": ["es biblia a"]}})
    (tmp_path / "gone" / "es.txt").unlink()
    assert main(["balance", str(tmp_path / "gone"), str(tmp_path / "x")]) == 2
    assert "es text unreadable" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # nothing written on a refusal
