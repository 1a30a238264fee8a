"""Adversarial and self-learning aligners on small real embeddings (tests/data/as_*.npz, made by
tests/data/make_as_embeddings.py): a rotated + permuted copy, the cipher control, seeds, bad input, failure."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from udm.aligners import get_aligner
from udm.aligners.adversarial import AdversarialAligner
from udm.aligners.selflearn import SelfLearningAligner, sorted_similarity_vectors
from udm.criteria import random_orthogonal
from udm.embeddings import Embeddings
from udm.errors import UdmError
from udm.evaluate import evaluate_mapping
from udm.lexicon import Lexicon

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = Path(__file__).resolve().parents[1] / "corpora" / "fixtures"
N = 1000  # words per side

# small, fast settings (the defaults are sized for real vocabularies)
FAST = {
    "selflearn": dict(max_iter=30, patience=2, refine_iters=3),
    # the defaults (random rotation start, exact projection after each map step, map lr 4) with half the epochs:
    # ~40 s on one thread for the 2000-word cipher pair (P@1 0.997 in development)
    "adversarial": dict(epochs=4, epoch_samples=60_000, restarts=1),
}


def make(method: str, **kw) -> object:
    return get_aligner(method, progress=False, seed=kw.pop("seed", 0), **{**FAST[method], **kw})


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def english() -> Embeddings:
    return Embeddings.load(DATA / "as_cipher_en.npz").top(N)


@pytest.fixture(scope="module")
def rotated(english):
    """The English space under a random rotation, rows shuffled within frequency blocks of 50, plus noise."""
    return rotated_copy(english)


@pytest.fixture(scope="module")
def rotated_full():
    """:func:`rotated_copy` of all 2000 English words (what adversarial matching is tested on)."""
    english = Embeddings.load(DATA / "as_cipher_en.npz")
    return (english, *rotated_copy(english))


def rotated_copy(english: Embeddings) -> tuple[Embeddings, Lexicon]:
    """``english`` under a random rotation, rows shuffled within frequency blocks of 50, plus noise; gold lexicon."""
    N = len(english)
    rng = np.random.default_rng(123)
    q = random_orthogonal(english.dim, rng)
    perm = np.concatenate([rng.permutation(np.arange(i, min(i + 50, N))) for i in range(0, N, 50)])
    scale = float(np.linalg.norm(english.vectors, axis=1).mean()) / np.sqrt(english.dim)
    vec = (english.vectors @ q)[perm] + 0.05 * scale * rng.standard_normal(english.vectors.shape).astype(np.float32)
    tgt = Embeddings(["r_" + english.words[i] for i in perm], vec)
    return tgt, Lexicon([(w, "r_" + w) for w in english.words])


@pytest.fixture(scope="module")
def cipher(english):
    code = Embeddings.load(DATA / "as_cipher_code.npz").top(N)
    return code, Lexicon.load(FIXTURES / "cipher.txt")


@pytest.fixture(scope="module")
def cipher_full():
    """The whole 2000-word cipher pair (adversarial matching needs more than 1000 words to find the map fast)."""
    return (Embeddings.load(DATA / "as_cipher_en.npz"), Embeddings.load(DATA / "as_cipher_code.npz"),
            Lexicon.load(FIXTURES / "cipher.test.txt"))


def p_at_1(mapping, src, tgt, lexicon) -> float:
    return evaluate_mapping(mapping, src, tgt, lexicon).get("csls", 1)


def check_recovery(method: str, src, tgt, lex, **kw) -> None:
    """The method must recover the map (P@1 >= 0.95 after refinement) and not mark it failed."""
    m = make(method, **kw).fit(src, tgt)
    p1 = p_at_1(m, src, tgt, lex)
    assert not m.failed, f"{method}: marked failed (P@1 {p1:.3f})"
    assert p1 >= 0.95, f"{method}: P@1 {p1:.3f}"


def test_selflearn_recovers_rotation_and_permutation(english, rotated):
    check_recovery("selflearn", english, *rotated)


def test_adversarial_recovers_rotation_and_permutation(rotated_full):
    check_recovery("adversarial", *rotated_full, epochs=6)


def test_selflearn_recovers_cipher(english, cipher):
    check_recovery("selflearn", english, *cipher)


def test_adversarial_recovers_cipher(cipher_full):
    check_recovery("adversarial", *cipher_full)


def test_selflearn_same_seed_same_map(english, cipher):
    code, _ = cipher
    kw = dict(max_iter=6, refine_iters=1, init_rank=500)
    a, b = make("selflearn", seed=3, **kw).fit(english, code), make("selflearn", seed=3, **kw).fit(english, code)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.meta["sl_history"] == b.meta["sl_history"]


def test_adversarial_same_seed_same_map(english, cipher):
    code, _ = cipher
    kw = dict(epochs=1, epoch_samples=4096, restarts=1, refine_iters=1)
    a, b = make("adversarial", seed=5, **kw).fit(english, code), make("adversarial", seed=5, **kw).fit(english, code)
    np.testing.assert_array_equal(a.W, b.W)
    assert a.meta["adv_epochs"] == b.meta["adv_epochs"]
    c = make("adversarial", seed=6, **kw).fit(english, code)
    assert a.meta["adv_epochs"] != c.meta["adv_epochs"]
    assert a.meta["adv_samples_per_s"] > 0


def test_sorted_similarity_is_invariant_to_rotation_and_order(english):
    x = english.vectors[:200] / np.linalg.norm(english.vectors[:200], axis=1, keepdims=True)
    q = random_orthogonal(x.shape[1], np.random.default_rng(0))
    perm = np.random.default_rng(1).permutation(200)
    a = sorted_similarity_vectors(x)
    b = sorted_similarity_vectors((x @ q)[perm])
    np.testing.assert_allclose(a[perm], b, atol=1e-4)


@pytest.mark.parametrize("cls", [AdversarialAligner, SelfLearningAligner])
def test_bad_input_gives_one_clear_error(cls, english):
    ok = english.top(200)
    other_dim = Embeddings(ok.words, np.ones((200, 20), dtype=np.float32))
    with pytest.raises(UdmError, match="dims"):
        cls(progress=False).fit(ok, other_dim)
    with pytest.raises(UdmError, match="at least"):
        cls(progress=False).fit(ok, english.top(10))
    bad = ok.vectors.copy()
    bad[7, 3] = np.nan
    with pytest.raises(UdmError, match="NaN"):
        cls(progress=False).fit(ok, ok.with_vectors(bad))


def test_bad_parameters():
    with pytest.raises(UdmError):
        SelfLearningAligner(induction="sideways")
    with pytest.raises(UdmError):
        SelfLearningAligner(p0=0)
    with pytest.raises(UdmError):
        AdversarialAligner(smooth=0.7)
    with pytest.raises(UdmError):
        AdversarialAligner(batch_size=0)
    with pytest.raises(UdmError):
        AdversarialAligner(init="sideways")


def test_adversarial_on_unrelated_clouds_is_failed():
    rng = np.random.default_rng(0)
    a = Embeddings([f"a{i}" for i in range(800)], rng.standard_normal((800, 50)))
    b = Embeddings([f"b{i}" for i in range(800)], rng.standard_normal((800, 50)))
    m = make("adversarial", epochs=2, epoch_samples=8192, restarts=1).fit(a, b)
    assert m.failed


def test_diverged_training_keeps_the_last_finite_map_and_is_reported(english, cipher):
    """A step that blows up (here: absurd learning rates) stops training instead of crashing the fit."""
    code, _ = cipher
    m = make("adversarial", dis_lr=1e20, map_lr=1e20, epochs=2, epoch_samples=4000, restarts=1,
             refine_iters=1).fit(english, code)
    assert m.meta["adv_diverged"].startswith("epoch 0")
    assert np.isfinite(m.W).all() and len(m.meta["adv_epochs"]) == 1
    assert m.failed


def test_a_projection_that_returns_nan_stops_training_cleanly(english, cipher, monkeypatch):
    """The en-fr halves crash: a huge but finite step whose projection came back NaN was kept as 'last good'."""
    import udm.aligners.adversarial as adv

    code, _ = cipher
    real, calls = adv.nearest_orthogonal, {"n": 0}

    def flaky(w):
        calls["n"] += 1
        out = real(w)
        return out * float("nan") if calls["n"] == 3 else out

    monkeypatch.setattr(adv, "nearest_orthogonal", flaky)
    m = make("adversarial", epochs=2, epoch_samples=4000, restarts=1, refine_iters=1).fit(english, code)
    assert m.meta["adv_diverged"] == "epoch 0, step 2"
    assert np.isfinite(m.W).all()


def test_time_budget_stops_early(english, cipher):
    code, _ = cipher
    m = make("adversarial", epochs=50, epoch_samples=100_000, restarts=1, refine_iters=0, time_budget=2.0).fit(
        english, code)
    assert m.meta["adv_stopped_by_time"]
    assert m.meta["time_budget"] == 2.0
    s = make("selflearn", max_iter=1000, p0=0.01, p_factor=1.01, refine_iters=0, time_budget=1.0).fit(english, code)
    assert s.meta["sl_stopped_by_time"] or s.meta["sl_iterations"] < 1000


def test_time_budget_bounds_the_whole_fit(english, cipher):
    code, _ = cipher
    budget = 3.0
    s = make("selflearn", max_iter=1000, p0=0.01, p_factor=1.01, refine_iters=50, time_budget=budget).fit(english, code)
    assert s.meta["search_seconds"] <= 0.85 * budget + 1.5  # the search stops at 85% (one step of slack)
    steps = s.meta["refinement"]
    assert steps and (len(steps) == 50 or steps[-1].get("stopped") == "deadline" or steps[-1]["change"] < 1e-4)
    assert s.meta["fit_seconds"] <= budget + 3.0  # refinement and the failure check fit in the rest


def test_selflearn_whitened_self_learning(english, rotated):
    tgt, lex = rotated
    m = make("selflearn", whiten=True, init_sqrt=False).fit(english, tgt)
    assert not m.failed
    assert p_at_1(m, english, tgt, lex) >= 0.95
