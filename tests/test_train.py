"""Tests for the skip-gram trainer (udm.train, udm.subwords, udm.train_cli) on the Bible and cipher fixtures."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from udm.embeddings import Embeddings
from udm.errors import UdmError
from udm.evaluate import evaluate_bli
from udm.lexicon import Lexicon
from udm.normalize import normalize
from udm.procrustes import procrustes
from udm import train as train_mod
from udm.subwords import char_ngrams, parse_ngram_range
from udm.train import TrainConfig, read_corpus, train_embeddings, train_model
from udm.train_cli import main as train_main

FIX = Path(__file__).resolve().parents[1] / "corpora" / "fixtures"
EN = FIX / "bible.en.txt"
CODE = FIX / "cipher.code.txt"
SMALL = dict(dim=50, epochs=3, min_count=3, progress=False)


@pytest.fixture(scope="module")
def en_model():
    stats: dict = {}
    emb = train_embeddings(EN, "en", dim=50, epochs=5, min_count=3, threads=1, progress=False, stats=stats)
    return emb, stats


def _neighbours(emb: Embeddings, word: str, k: int = 10) -> list[str]:
    x = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    s = x @ x[emb.index[word]]
    return [emb.words[i] for i in np.argsort(-s)[1:k + 1]]


def test_loss_decreases(en_model):
    _, stats = en_model
    loss = stats["epoch_loss"]
    assert len(loss) == 5 and all(np.isfinite(loss))
    assert all(b < a for a, b in zip(loss, loss[1:])), loss
    assert loss[-1] < 0.9 * loss[0]


def test_frequency_order_and_vocab(en_model):
    emb, stats = en_model
    assert emb.words[:3] == ["the", "and", "of"]
    corpus = read_corpus(EN, "en", min_count=3)
    assert corpus.words == emb.words
    assert (np.diff(corpus.counts) <= 0).all() and corpus.counts[-1] >= 3
    assert corpus.ids.dtype == np.int32 and corpus.offsets[-1] == len(corpus.ids)


@pytest.mark.parametrize("word,related", [("eat", "drink"), ("morning", "evening"), ("brother", "sister"),
                                          ("bread", "unleavened"), ("day", "sabbath"), ("gold", "brass")])
def test_neighbours_are_related(en_model, word, related):
    emb, _ = en_model
    assert related in _neighbours(emb, word), (word, _neighbours(emb, word))


def test_cipher_spaces_align_under_procrustes():
    src = train_embeddings(EN, "en", dim=100, epochs=10, min_count=3, seed=1, progress=False)
    tgt = train_embeddings(CODE, "en", dim=100, epochs=10, min_count=3, seed=2, progress=False)
    train, test = Lexicon.load(FIX / "cipher.train.txt"), Lexicon.load(FIX / "cipher.test.txt")
    xn, yn = normalize(src.vectors, "unit,center,unit"), normalize(tgt.vectors, "unit,center,unit")
    pairs = train.index_pairs(src, tgt)
    w = procrustes(xn[pairs[:, 0]], yn[pairs[:, 1]])
    p1 = evaluate_bli(xn @ w, yn, src, tgt, test).get("csls", 1)
    assert p1 > 0.9, p1


def test_seeded_runs_are_bit_identical_with_one_thread():
    a = train_embeddings(EN, "en", threads=1, seed=7, epochs=1, dim=32, min_count=3, progress=False)
    b = train_embeddings(EN, "en", threads=1, seed=7, epochs=1, dim=32, min_count=3, progress=False)
    c = train_embeddings(EN, "en", threads=1, seed=8, epochs=1, dim=32, min_count=3, progress=False)
    assert a.words == b.words
    assert np.array_equal(a.vectors, b.vectors)
    assert not np.array_equal(a.vectors, c.vectors)


@pytest.mark.parametrize("suffix", [".vec", ".npz"])
def test_cli_writes_loadable_vectors(tmp_path, suffix):
    out = tmp_path / f"en{suffix}"
    rc = train_main([str(EN), "-o", str(out), "--dim", "20", "--epochs", "1", "--min-count", "5", "--threads", "1",
                     "--quiet"])
    assert rc == 0 and out.is_file()
    assert not (tmp_path / f"en{suffix}.ckpt").exists()  # checkpoints removed after success
    emb = Embeddings.load(out)
    ref = train_embeddings(EN, "en", dim=20, epochs=1, min_count=5, threads=1, progress=False)
    assert emb.words == ref.words
    np.testing.assert_allclose(emb.vectors, ref.vectors, rtol=1e-5, atol=1e-6)
    emb.save(tmp_path / "again.npz")
    again = Embeddings.load(tmp_path / "again.npz")
    assert again.words == emb.words and np.array_equal(again.vectors, emb.vectors)


def test_cli_two_formats(tmp_path):
    out = tmp_path / "en.vec"
    assert train_main([str(EN), "-o", str(out), "--format", "vec", "--format", "npz", "--dim", "8",
                       "--epochs", "1", "--quiet"]) == 0
    assert out.is_file() and (tmp_path / "en.npz").is_file()


def _bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    punct = tmp_path / "punct.txt"
    punct.write_text("!!! ...\n\n  ,,,\n")
    rare = tmp_path / "rare.txt"
    rare.write_text("alpha beta gamma\ndelta alpha\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait\n".encode("latin-1"))
    return {"empty": empty, "punct": punct, "rare": rare, "latin1": latin1, "missing": tmp_path / "nope.txt",
            "directory": tmp_path}


@pytest.mark.parametrize("case", ["empty", "punct", "rare", "latin1", "missing", "directory"])
def test_bad_input_one_clear_error_and_no_output(tmp_path, capsys, case):
    path = _bad_inputs(tmp_path)[case]
    with pytest.raises(UdmError) as exc:
        train_embeddings(path, "en", dim=8, epochs=1, min_count=5, progress=False)
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)
    out = tmp_path / "out" / "v.vec"
    rc = train_main([str(path), "-o", str(out), "--dim", "8", "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("udm: ")
    assert not out.exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_bad_options():
    with pytest.raises(UdmError):
        train_embeddings(EN, dim=0, progress=False)
    with pytest.raises(UdmError):
        parse_ngram_range("6-3")
    assert parse_ngram_range("3-6") == (3, 6) and parse_ngram_range(None) is None


def test_subwords_vectors_for_unseen_words(tmp_path):
    model = train_model(EN, TrainConfig(dim=50, epochs=3, min_count=3, subwords=(3, 6), buckets=100_000),
                        progress=False, checkpoint_dir=tmp_path)
    assert "<ki" in char_ngrams("king", 3, 6) and "<king>" not in char_ngrams("king", 3, 6)
    emb = model.embeddings()
    assert emb.words == model.words and np.isfinite(emb.vectors).all()
    unseen = "kingdomship"
    assert unseen not in model.index
    v = model.word_vector(unseen)
    assert v is not None and v.shape == (50,) and np.isfinite(v).all()
    # it lands nearer to the words it shares n-grams with than to the average word
    x = emb.vectors / np.linalg.norm(emb.vectors, axis=1, keepdims=True)
    sims = x @ (v / np.linalg.norm(v))
    assert sims[emb.index["kingdom"]] > np.percentile(sims, 95)
    got = model.vectors_for(["kingdom", unseen, "\u4e00"])  # the last has no n-gram of length 3-6: left out
    assert got.words[:2] == ["kingdom", unseen]
    np.testing.assert_allclose(got["kingdom"], emb["kingdom"], rtol=1e-5, atol=1e-6)
    again = train_mod.load_model(tmp_path)  # the last checkpoint is the trained model
    assert np.array_equal(again.word_vector(unseen), v)


def _train_interrupted_in_second_epoch(monkeypatch, **kw) -> None:
    """Train on the English fixture with a KeyboardInterrupt at the start of epoch 2 (the first is checkpointed)."""
    real = train_mod._Trainer.run_epoch

    def interrupted(self, epoch, *args):
        if epoch == 1:
            raise KeyboardInterrupt
        return real(self, epoch, *args)

    monkeypatch.setattr(train_mod._Trainer, "run_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_embeddings(EN, "en", **kw)
    monkeypatch.setattr(train_mod._Trainer, "run_epoch", real)


def test_interrupt_keeps_checkpoint_and_resume_matches(tmp_path, monkeypatch):
    kw = dict(dim=16, epochs=2, min_count=3, threads=1, seed=3, progress=False)
    full = train_embeddings(EN, "en", **kw)
    ckpt = tmp_path / "ckpt"
    _train_interrupted_in_second_epoch(monkeypatch, checkpoint_dir=ckpt, **kw)
    assert (ckpt / train_mod.CHECKPOINT_NAME).is_file()
    assert [p.name for p in ckpt.iterdir()] == [train_mod.CHECKPOINT_NAME]  # no temp files left
    resumed = train_embeddings(EN, "en", checkpoint_dir=ckpt, resume=True, **kw)
    assert resumed.words == full.words and np.array_equal(resumed.vectors, full.vectors)
    with pytest.raises(UdmError, match="dim"):
        train_embeddings(EN, "en", checkpoint_dir=ckpt, resume=True, **dict(kw, dim=17))


def test_cli_interrupt_leaves_no_partial_output(tmp_path, monkeypatch, capsys):
    def boom(self, epoch, *args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod._Trainer, "run_epoch", boom)
    out = tmp_path / "v.vec"
    rc = train_main([str(EN), "-o", str(out), "--dim", "8", "--quiet"])
    assert rc == 2 and not out.exists()
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_share_the_batch(monkeypatch, workers):
    # hogwild workers compute their steps from tables that miss each other's updates: together they must not
    # hold more centre words in flight than one worker's batch (two full batches blew up rare-word norms)
    centres = []
    real = train_mod._sgns_step

    def counting(w_in, w_out, sub, ctx, tgt, label, mask, lr):
        centres.append(tgt.shape[0] * train_mod.DEFAULT_SHARE)
        return real(w_in, w_out, sub, ctx, tgt, label, mask, lr)

    monkeypatch.setattr(train_mod, "_sgns_step", counting)
    train_embeddings(EN, "en", dim=8, epochs=1, min_count=3, batch=64, threads=workers, progress=False)
    assert max(centres) == 64 // workers
    assert train_mod.step_batch(256, 2) == 128 and train_mod.step_batch(256, 1) == 256 and train_mod.step_batch(1, 4) == 1


@pytest.mark.parametrize("lr", [0.08, 1.0])
def test_divergence_is_an_error_even_when_the_loss_stays_finite(lr):
    # lr 0.08 blows the fixture's loss up to ~1e16 without overflowing; lr 1.0 gives NaN: both must stop
    with pytest.raises(UdmError, match="diverged in epoch 1"):
        train_embeddings(EN, "en", dim=50, epochs=1, min_count=3, threads=1, lr=lr, progress=False)


def test_shuffle_sentences_reorders_whole_sentences():
    ids = np.arange(20, dtype=np.int32)
    offsets = np.array([0, 3, 4, 9, 15, 20], dtype=np.int64)
    new_ids, new_off = train_mod.shuffle_sentences(ids, offsets, np.random.default_rng(0))
    old = [tuple(ids[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    new = [tuple(new_ids[a:b]) for a, b in zip(new_off[:-1], new_off[1:])]
    assert sorted(new) == sorted(old) and new != old
    assert new_off[-1] == len(ids) and new_ids.dtype == ids.dtype


def test_shuffled_training_is_seeded_and_resumes_exactly(tmp_path, monkeypatch):
    kw = dict(dim=16, epochs=2, min_count=3, threads=1, seed=3, progress=False)
    plain = train_embeddings(EN, "en", **kw)
    full = train_embeddings(EN, "en", shuffle=True, **kw)
    again = train_embeddings(EN, "en", shuffle=True, **kw)
    assert full.words == plain.words and not np.array_equal(full.vectors, plain.vectors)
    assert np.array_equal(full.vectors, again.vectors)
    ckpt = tmp_path / "ckpt"
    _train_interrupted_in_second_epoch(monkeypatch, shuffle=True, checkpoint_dir=ckpt, **kw)
    with pytest.raises(UdmError, match="shuffle"):
        train_embeddings(EN, "en", checkpoint_dir=ckpt, resume=True, **kw)
    resumed = train_embeddings(EN, "en", shuffle=True, checkpoint_dir=ckpt, resume=True, **kw)
    assert np.array_equal(resumed.vectors, full.vectors)
