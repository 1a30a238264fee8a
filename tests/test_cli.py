"""The ``udm`` command line end to end on a small real fixture (cipher-control vectors trained by udm)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from udm import Embeddings, Lexicon, Mapping
from udm.cli import main

DATA = Path(__file__).parent / "data"
FIX = Path(__file__).parent.parent / "corpora" / "fixtures"


@pytest.fixture(scope="module")
def vecs(tmp_path_factory):
    """The cipher fixture vectors as .vec text files (real vectors: 2,000 words, 50 dims)."""
    d = tmp_path_factory.mktemp("vecs")
    Embeddings.load(DATA / "as_cipher_en.npz").save(d / "en.vec")
    Embeddings.load(DATA / "as_cipher_code.npz").save(d / "code.vec")
    return d


def test_align_eval_translate_end_to_end(vecs, tmp_path, capsys):
    out = tmp_path / "sup"
    rc = main(["align", "--method", "procrustes", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"),
               "--dict", str(FIX / "cipher.train.txt"), "--refine", "2", "-o", str(out), "--export",
               "--eval", str(FIX / "cipher.test.txt"), "--quiet"])
    assert rc == 0
    report = json.loads((out / "bli.json").read_text())
    assert report["scores"]["csls"]["p@1"] > 0.9
    assert report["coverage"]["covered_words"] <= report["coverage"]["source_words"]
    assert (out / "mapping.npz").is_file() and (out / "src.mapped.vec").is_file()
    induced = Lexicon.load(out / "dictionary.txt")  # the map's own dictionary: on the cipher, mostly the cipher
    gold = Lexicon.load(FIX / "cipher.txt").golds
    assert len(induced) > 500 and sum(t in gold.get(s, ()) for s, t in induced.pairs) > 0.9 * len(induced)
    assert Mapping.load(out / "mapping.npz").meta["method"] == "procrustes"

    capsys.readouterr()
    rc = main(["eval", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"), "--mapping",
               str(out / "mapping.npz"), "--dict", str(FIX / "cipher.test.txt"), "--markdown", str(tmp_path / "r.md"),
               "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 0 and "CSLS" in printed and "coverage" in printed
    assert "| CSLS |" in (tmp_path / "r.md").read_text()

    # the fitted map against the identity, paired on the same test words: far better, and the test says so
    rc = main(["eval", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"), "--mapping",
               str(out / "mapping.npz"), "--compare", str(out / "mapping.npz"), "--dict", str(FIX / "cipher.test.txt"),
               "--retrieval", "csls", "--json", str(tmp_path / "same.json"), "--quiet"])
    same = json.loads((tmp_path / "same.json").read_text())["meta"]["compare"]["p@1"]["csls"]
    assert rc == 0 and same["only_a"] == same["only_b"] == 0 and same["p_value"] == 1.0
    capsys.readouterr()
    rc = main(["eval", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"), "--compare",
               str(out / "mapping.npz"), "--dict", str(FIX / "cipher.test.txt"), "--json", str(tmp_path / "id.json"),
               "--quiet"])
    printed = capsys.readouterr().out
    vs_identity = json.loads((tmp_path / "id.json").read_text())["meta"]["compare"]["p@1"]["csls"]
    assert rc == 0 and "A = identity" in printed and "exact McNemar p = " in printed
    assert vs_identity["only_b"] > 50 * max(1, vs_identity["only_a"]) and vs_identity["p_value"] < 1e-10
    assert vs_identity["difference"] == pytest.approx(vs_identity["p_a"] - vs_identity["p_b"])

    gold = dict(line.split() for line in (FIX / "cipher.txt").read_text().splitlines())
    rc = main(["translate", "the", "god", "zzznotaword", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"),
               "--mapping", str(out / "mapping.npz"), "-k", "3"])
    lines = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert lines[0].startswith("zzznotaword") and "not in the source vocabulary" in lines[0]
    assert lines[1].split("\t")[1].split()[0] == gold["the"]
    assert lines[2].split("\t")[1].split()[0] == gold["god"]


def test_align_unsupervised_selflearn_cli(vecs, tmp_path):
    rc = main(["align", "--method", "selflearn", "--src", str(vecs / "en.vec"), "--tgt", str(vecs / "code.vec"),
               "-o", str(tmp_path), "--max-vocab", "1000", "--eval", str(FIX / "cipher.test.txt"), "--quiet"])
    assert rc == 0
    meta = json.loads((tmp_path / "align.json").read_text())
    assert meta["failed"] is False and "criterion" in meta
    assert json.loads((tmp_path / "bli.json").read_text())["scores"]["csls"]["p@1"] > 0.9


def test_failed_alignment_exits_3_without_mapping(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):  # two unrelated random clouds: nothing to match
        Embeddings([f"{name}{i}" for i in range(400)], rng.standard_normal((400, 20)).astype(np.float32)).save(tmp_path / f"{name}.vec")
    rc = main(["align", "--method", "selflearn", "--src", str(tmp_path / "a.vec"), "--tgt", str(tmp_path / "b.vec"),
               "-o", str(tmp_path / "o"), "--quiet"])
    assert rc == 3
    assert not (tmp_path / "o" / "mapping.npz").exists() and (tmp_path / "o" / "failed_mapping.npz").exists()


def test_orthographic_failure_is_explained_and_can_be_turned_off(vecs, tmp_path, capsys):
    """The cipher's target words renamed as false friends (each spelled as the English word of its neighbour):
    the map is found, but it sends no shared spelling to itself, so the run fails unless the check is off."""
    en, code = Embeddings.load(vecs / "en.vec").top(1000), Embeddings.load(vecs / "code.vec").top(1000)
    gold = {c: e for e, c in Lexicon.load(FIX / "cipher.txt").pairs}
    names = [gold.get(w) for w in code.words]
    rolled = [names[(j + 1) % len(names)] or f"x{j}" for j in range(len(names))]
    assert len(set(rolled)) == len(rolled) and sum(w in en.index for w in rolled) > 900
    code.__class__(rolled, code.vectors).save(tmp_path / "ff.vec")
    argv = ["align", "--method", "selflearn", "--src", str(vecs / "en.vec"), "--tgt", str(tmp_path / "ff.vec"),
            "--max-vocab", "1000", "--quiet"]
    assert main(argv + ["-o", str(tmp_path / "on")]) == 3
    assert "identically spelled words" in capsys.readouterr().err
    assert main(argv + ["-o", str(tmp_path / "off"), "--no-orthographic-check"]) == 0
    meta = json.loads((tmp_path / "off" / "align.json").read_text())
    assert meta["failed"] is False and meta["orthographic_agreement"] < 0.012 and meta["orthographic_needed"] is None


@pytest.mark.parametrize("argv,message", [
    (["align", "--method", "nope", "--src", "a.vec", "--tgt", "b.vec", "-o", "o"], "unknown alignment method 'nope'"),
    (["align", "--method", "gw", "--src", "missing.vec", "--tgt", "b.vec", "-o", "o"], "missing.vec: no such embedding file"),
    (["align", "--method", "procrustes", "--src", "{en}", "--tgt", "{code}", "-o", "o"], "needs a dictionary file"),
    (["eval", "--src", "{en}", "--tgt", "{code}", "--dict", "{bad}"], "bad.txt:1: expected 'source target'"),
    (["eval", "--src", "{en}", "--tgt", "{code}", "--dict", "{test}", "--compare", "missing.npz"],
     "missing.npz: no such mapping file"),
    (["align", "--method", "procrustes", "--normalize", "unit,wobble", "--src", "{en}", "--tgt", "{code}",
      "--dict", "{bad}", "-o", "o"], "unknown normalisation step 'wobble'"),
])
def test_bad_input_is_one_line_and_exit_2(vecs, tmp_path, capsys, argv, message):
    (tmp_path / "bad.txt").write_text("one two three\n")
    subst = {"{en}": str(vecs / "en.vec"), "{code}": str(vecs / "code.vec"), "{bad}": str(tmp_path / "bad.txt"),
             "{test}": str(FIX / "cipher.test.txt")}
    argv = [subst.get(a, a) for a in argv]
    argv = [str(tmp_path / a) if a == "o" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("udm: ") and message in err[0]
    assert not (tmp_path / "o" / "mapping.npz").exists()


def test_console_entry_point_runs():
    res = subprocess.run([sys.executable, "-m", "udm", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "align" in res.stdout and "demo" in res.stdout
