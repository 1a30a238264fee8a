"""Gromov-Wasserstein, Wasserstein-Procrustes, auto and the distribution-matching criteria, on small real fixtures.

The embedding fixtures are the committed cipher pair ``tests/data/as_cipher_{en,code}.npz`` (English Bible and its
word-ciphered copy, vectors trained separately; built by ``tests/data/make_as_embeddings.py``); the gold is the
exact cipher dictionary ``corpora/fixtures/cipher.txt``. Sizes are small (1000 words, 50 dims) to stay fast.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from udm.aligners import get_aligner
from udm.aligners.auto import AutoAligner
from udm.aligners.gw import GromovWassersteinAligner, gw_objective, staged_gw_coupling
from udm.aligners.wasserstein_procrustes import WassersteinProcrustesAligner
from udm.criteria import (gw_criterion, orthographic_agreement, random_orthogonal, refined_null_check,
                          sinkhorn_criterion)
from udm.embeddings import Embeddings
from udm.errors import UdmError
from udm.lexicon import Lexicon
from udm.normalize import normalize
from udm.procrustes import procrustes
from udm.retrieval import retrieve

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
N = 1000

SMALL = {
    "gw": dict(n_words=N, max_iter=20),
    "wp": dict(n_init=N, init_iter=20, n_max=N, n_epochs=1, n_iter=30),
}
COMMON = dict(refine_iters=3, refine_rank=N, criterion_words=N, progress=False)


def make(method: str, **kw):
    return get_aligner(method, **{**COMMON, **SMALL[method], **kw})


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cipher() -> tuple[Embeddings, Embeddings, np.ndarray]:
    src = Embeddings.load(DATA / "as_cipher_en.npz").top(N)
    tgt = Embeddings.load(DATA / "as_cipher_code.npz").top(N)
    pairs = Lexicon.load(ROOT / "corpora" / "fixtures" / "cipher.txt").index_pairs(src, tgt)
    return src, tgt, pairs


@pytest.fixture(scope="module")
def rotated(cipher) -> tuple[Embeddings, Embeddings, np.ndarray]:
    """The English vectors, rotated by a random orthogonal map, rows permuted, plus a little noise."""
    src = cipher[0]
    rng = np.random.default_rng(7)
    q = random_orthogonal(src.dim, rng)
    perm = rng.permutation(len(src))
    scale = float(np.linalg.norm(src.vectors, axis=1).mean()) / np.sqrt(src.dim)
    y = src.vectors[perm] @ q + 0.01 * scale * rng.standard_normal((len(src), src.dim)).astype(np.float32)
    tgt = Embeddings([f"t_{src.words[i]}" for i in perm], y)
    pairs = np.stack([perm, np.arange(len(perm))], axis=1)
    return src, tgt, pairs


def p_at_1(mapping, src: Embeddings, tgt: Embeddings, pairs: np.ndarray) -> float:
    x = mapping.transform(src.vectors)
    y = normalize(tgt.vectors, mapping.tgt_norm)
    idx, _ = retrieve(x[pairs[:, 0]], y, k=1, method="csls", source_pool=x)
    return float(np.mean(idx[:, 0] == pairs[:, 1]))


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_recovers_rotation_and_permutation(method, rotated):
    src, tgt, pairs = rotated
    m = make(method).fit(src, tgt)
    assert p_at_1(m, src, tgt, pairs) >= 0.95
    assert not m.failed


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_recovers_cipher(method, cipher):
    src, tgt, pairs = cipher
    m = make(method).fit(src, tgt)
    assert p_at_1(m, src, tgt, pairs) >= 0.9
    assert not m.failed
    assert m.meta["criterion"] > m.meta["criterion_null_mean"]


def test_criteria_rank_correct_map_above_random(cipher):
    src, tgt, pairs = cipher
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    good = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
    rng = np.random.default_rng(0)
    for _ in range(2):
        bad = random_orthogonal(src.dim, rng)
        assert sinkhorn_criterion(x @ good, y, n_words=500) > sinkhorn_criterion(x @ bad, y, n_words=500) + 0.1
        assert gw_criterion(x @ good, y, n_words=500) > gw_criterion(x @ bad, y, n_words=500)


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_same_seed_same_map(method, rotated):
    src, tgt, _ = rotated
    src, tgt = src.top(300), tgt.top(300)
    kw = dict(refine_iters=1, refine_rank=300, criterion_words=300, n_words=300) if method == "gw" else \
        dict(refine_iters=1, refine_rank=300, criterion_words=300, n_init=300, n_max=300, n_iter=10, n_epochs=1)
    a = make(method, seed=3, **kw).fit(src, tgt)
    b = make(method, seed=3, **kw).fit(src, tgt)
    np.testing.assert_array_equal(a.W, b.W)


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_bad_input_is_one_clear_error(method, cipher):
    src, tgt, _ = cipher
    with pytest.raises(UdmError, match="dims"):
        make(method).fit(src, Embeddings(tgt.words, tgt.vectors[:, :20]))
    with pytest.raises(UdmError, match="at least"):
        make(method).fit(src.top(10), tgt.top(10))
    bad = tgt.vectors.copy()
    bad[5, 3] = np.nan
    with pytest.raises(UdmError, match="NaN"):
        make(method).fit(src, Embeddings(tgt.words, bad))


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_unrelated_spaces_are_reported_failed(method):
    rng = np.random.default_rng(1)
    n = 600
    a = Embeddings([f"a{i}" for i in range(n)], rng.standard_normal((n, 50)).astype(np.float32))
    b = Embeddings([f"b{i}" for i in range(n)], rng.standard_normal((n, 50)).astype(np.float32))
    m = make(method, n_words=n, refine_rank=n, criterion_words=n).fit(a, b) if method == "gw" else \
        make(method, n_init=n, n_max=n, refine_rank=n, criterion_words=n).fit(a, b)
    assert m.failed


def test_a_run_below_the_headroom_share_passes_on_its_lift_ratio(cipher, monkeypatch):
    """The refined-null check fails a run only when both its headroom share and its lift ratio fall short: with
    an unreachable share (as on vectors whose cosines are all lower) the cipher map passes on its lift alone."""
    from udm.aligners.unsupervised import UnsupervisedAligner

    src, tgt, pairs = cipher
    monkeypatch.setattr(UnsupervisedAligner, "refined_null_margin", 1.0)
    m = make("gw").fit(src, tgt)
    assert m.meta["criterion_headroom_share"] < 1.0 <= m.meta["criterion_headroom_needed"]
    assert m.meta["criterion_lift_ratio"] >= m.meta["criterion_lift_needed"] and not m.failed
    assert p_at_1(m, src, tgt, pairs) >= 0.95
    score, refined, rand = (m.meta[k] for k in ("criterion", "criterion_refined_null", "criterion_null_mean"))
    failed, terms = refined_null_check(score, refined, rand, margin=1.0, lift_needed=m.meta["criterion_lift_needed"])
    assert not failed and all(m.meta[k] == pytest.approx(v) for k, v in terms.items())  # the fit's own verdict
    assert refined_null_check(score, refined, rand, margin=1.0, lift_needed=np.inf)[0]  # without the lift: failed


def test_auto_keeps_a_good_candidate_and_records_all(rotated):
    src, tgt, pairs = rotated
    m = AutoAligner(candidates=["gw", "wp"], method_params=SMALL, **COMMON).fit(src, tgt)
    assert {c["method"] for c in m.meta["candidates"]} == {"gw", "wp"}
    assert all("criterion" in c for c in m.meta["candidates"])
    assert m.meta["chosen"] in ("gw", "wp")
    assert p_at_1(m, src, tgt, pairs) >= 0.95


def test_bad_parameters():
    with pytest.raises(UdmError):
        GromovWassersteinAligner(n_words=1)
    with pytest.raises(UdmError):
        WassersteinProcrustesAligner(batch_size=1)
    with pytest.raises(UdmError):
        AutoAligner(candidates=["auto"])


def test_sinkhorn_rebalancing_matches_pot_when_a_column_is_far_from_every_row():
    import ot

    from udm.ot import sinkhorn

    rng = np.random.default_rng(1)
    cost = rng.random((50, 40)).astype(np.float32)
    cost[:, 7] += 3.0  # at eps 0.02 its mass under the row update alone (exp(-150)) underflows float32
    ref = ot.sinkhorn(np.full(50, 1 / 50), np.full(40, 1 / 40), cost.astype(np.float64), 0.02,
                      method="sinkhorn_log", numItermax=20000, stopThr=1e-10)
    for start in (None, torch.zeros(40)):
        plan, f, g, info = sinkhorn(torch.from_numpy(cost), 0.02, g=start, max_iter=20000, tol=1e-7)
        assert torch.isfinite(plan).all() and torch.isfinite(g).all()
        np.testing.assert_allclose(plan.numpy(), ref, atol=2e-5)
        np.testing.assert_allclose(plan.sum(0).numpy(), 1 / 40, rtol=1e-3)


def test_stabilised_sinkhorn_small_epsilon_matches_pot():
    import ot
    import torch

    from udm.ot import epsilon_schedule, resolve_device, sinkhorn

    rng = np.random.default_rng(0)
    cost = torch.from_numpy(rng.random((60, 80)).astype(np.float32))
    plan, f, g, info = sinkhorn(cost, 1e-3, max_iter=5000, tol=1e-6)  # exp(-C/eps) alone would underflow
    assert torch.isfinite(plan).all()
    np.testing.assert_allclose(plan.sum(1).numpy(), 1 / 60, rtol=1e-3)
    np.testing.assert_allclose(plan.sum(0).numpy(), 1 / 80, rtol=1e-3)
    ref = ot.sinkhorn(np.full(60, 1 / 60), np.full(80, 1 / 80), cost.double().numpy(), 0.05, method="sinkhorn_log",
                      numItermax=5000, stopThr=1e-9)
    mine, _, _, _ = sinkhorn(cost, 0.05, max_iter=5000, tol=1e-7)
    np.testing.assert_allclose(mine.numpy(), ref, atol=1e-5)
    sched = epsilon_schedule(1.0, 0.01, 5)
    assert sched[0] == 1.0 and abs(sched[-1] - 0.01) < 1e-12 and sorted(sched, reverse=True) == sched
    with pytest.raises(UdmError):
        epsilon_schedule(0.0, 0.1, 3)
    with pytest.raises(UdmError):
        resolve_device("nonsense-device")


def test_gw_single_start_does_not_depend_on_the_seed(rotated):
    """gw declares ``seed_free_single_start`` (the BLI study runs single-start gw once per setting): this must hold."""
    src, tgt, _ = rotated
    src, tgt = src.top(300), tgt.top(300)
    kw = dict(refine_iters=1, refine_rank=300, criterion_words=300, n_words=300)
    np.testing.assert_array_equal(make("gw", seed=0, **kw).fit(src, tgt).W, make("gw", seed=5, **kw).fit(src, tgt).W)
    from udm.aligners import aligner_class

    assert aligner_class("gw").seed_free_single_start
    assert not any(aligner_class(m).seed_free_single_start for m in ("wp", "adversarial", "selflearn", "auto"))


@pytest.mark.parametrize("method", ["gw", "wp"])
def test_restarts_are_recorded(method, rotated):
    src, tgt, _ = rotated
    src, tgt = src.top(300), tgt.top(300)
    kw = dict(n_words=300, max_iter=10) if method == "gw" else dict(n_init=300, n_max=300, n_iter=5, n_epochs=1)
    m = make(method, restarts=2, refine_iters=1, refine_rank=300, criterion_words=300, **kw).fit(src, tgt)
    assert [r["restart"] for r in m.meta["restarts"]] == [0, 1]
    assert all(np.isfinite(r["init_criterion"]) for r in m.meta["restarts"])


def test_wp_restarts_reuse_the_convex_start_unless_asked_for_rotations(rotated):
    src, tgt, _ = rotated
    src, tgt = src.top(300), tgt.top(300)
    kw = dict(restarts=2, refine_iters=1, refine_rank=300, criterion_words=300, n_init=300, n_max=300, n_iter=5,
              n_epochs=1)
    convex = make("wp", **kw).fit(src, tgt).meta["restarts"]
    assert [r.get("convex_reused", False) for r in convex] == [False, True]
    assert convex[1]["convex_seconds"] == convex[0]["convex_seconds"]  # the first start's record, not a new run
    rotation = make("wp", restart_init="rotation", **kw).fit(src, tgt).meta["restarts"]
    assert not any(r.get("convex_reused") for r in rotation)
    with pytest.raises(UdmError, match="restart_init"):
        make("wp", restart_init="random")


def test_gw_coarse_to_fine_recovers_cipher_and_records_both_stages(cipher):
    src, tgt, pairs = cipher
    m = make("gw", coarse_words=300).fit(src, tgt)
    assert m.meta["gw_stages"] == [300, N]
    assert m.meta["gw_objective"] > 0 and m.meta["gw_coarse_objective"] > 0
    assert not m.failed and m.meta["criterion_headroom_share"] >= m.meta["criterion_headroom_needed"]
    assert p_at_1(m, src, tgt, pairs) >= 0.95


def test_gw_first_stage_keeps_the_annealing_start_with_the_highest_objective(cipher):
    src, tgt, _ = cipher
    x, y = normalize(src.vectors[:300]), normalize(tgt.vectors[:300])
    plan, info = staged_gw_coupling(x, y, [300], eps_starts=(1.0, 0.2, 0.05), max_iter=15)
    tried = info["gw_first_stage_starts"]
    assert [t["eps_start"] for t in tried] == [1.0, 0.2, 0.05]
    best = max(tried, key=lambda t: t["objective"])
    assert info["gw_eps_start"] == best["eps_start"] and info["gw_first_stage"].count("eps ") == 3
    assert info["gw_objective"] == pytest.approx(best["objective"], rel=1e-5)
    _, late = staged_gw_coupling(x, y, [300], eps_starts=(1.0, 0.2, 0.05), max_iter=15, deadline=0.0)
    assert len(late["gw_first_stage_starts"]) == 1  # past the deadline: no further start is begun


def test_gw_first_stage_views_are_compared_by_one_score(cipher):
    src, tgt, _ = cipher
    x, y = normalize(src.vectors[:300]), normalize(tgt.vectors[:300])
    rng = np.random.default_rng(0)
    noise = [normalize(rng.standard_normal(v.shape).astype(np.float32)) for v in (x, y)]  # nothing to find
    views = [("noise", noise[0], noise[1], [0.5])]
    _, info = staged_gw_coupling(x, y, [300], eps_starts=(0.5, 0.2), max_iter=15, views=views,
                                 view_kwargs={"max_iter": 5})
    assert [t["view"] for t in info["gw_first_stage_starts"]] == ["", "", "noise"]
    assert [t["steps"] for t in info["gw_first_stage_starts"]][2] <= 5 < info["gw_first_stage_starts"][0]["steps"]
    assert "noise eps 0.5" in info["gw_first_stage"] and info["gw_view_scores"].startswith("standard: ")
    assert info["gw_view"] == "standard"  # default score: the GW objective on the standard input
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    _, flipped = staged_gw_coupling(x, y, [300], eps_starts=(0.5,), max_iter=15, views=views,
                                    choose=lambda plan: -gw_objective(xt, yt, plan))
    assert flipped["gw_view"] == "noise"  # a given score decides between the views

    aligner = GromovWassersteinAligner(coarse_words=100, n_words=300)
    (label, xv, yv, starts), = aligner.views(src.vectors, tgt.vectors, 100)
    assert label == "overcentred 1.5" and xv.shape == (100, src.dim) and starts == [aligner.eps_starts[0]]
    assert np.allclose(np.linalg.norm(xv, axis=1), 1.0, atol=1e-5)
    assert GromovWassersteinAligner(overcentre=0).views(src.vectors, tgt.vectors, 100) == []


def test_gw_schedule_is_validated():
    for bad in (dict(eps_starts=()), dict(eps_starts=(0.2, -1.0)), dict(fine_eps_start=0.0), dict(max_iter=0),
                dict(overcentre=-1.0)):
        with pytest.raises(UdmError, match="eps|max_iter|overcentre"):
            GromovWassersteinAligner(**bad)
    assert GromovWassersteinAligner(eps_starts=0.3).eps_starts == (0.3,)


def test_partial_sinkhorn_transports_the_asked_mass_within_the_marginals():
    from udm.ot import partial_sinkhorn, sinkhorn

    rng = np.random.default_rng(3)
    cost = torch.from_numpy(rng.random((40, 40)).astype(np.float32))
    cost[:8] += 2.0  # eight source words far from every target: the ones a partial plan should leave out
    plan, _, g, info = partial_sinkhorn(cost, 0.02, mass=0.8, max_iter=5000, tol=1e-7)
    assert plan.shape == (40, 40) and g.shape == (41,)
    assert float(plan.sum()) == pytest.approx(0.8, abs=1e-4)
    assert float(plan.sum(1).max()) <= 1 / 40 * 1.001 and float(plan.sum(0).max()) <= 1 / 40 * 1.001
    assert float(plan[:8].sum()) < 0.01  # the far rows are the untransported 20%
    full, _, _, _ = partial_sinkhorn(cost, 0.05, mass=1.0, max_iter=5000, tol=1e-7)
    ref, _, _, _ = sinkhorn(cost, 0.05, max_iter=5000, tol=1e-7)
    np.testing.assert_allclose(full.numpy(), ref.numpy(), atol=1e-5)  # mass 1 is plain balanced transport
    with pytest.raises(UdmError, match="mass"):
        partial_sinkhorn(cost, 0.05, mass=0.0)


def test_partial_gw_recovers_the_cipher_and_validates_its_mass(cipher):
    src, tgt, pairs = cipher
    m = make("gw", coarse_words=300, mass=0.9).fit(src, tgt)
    assert not m.failed and p_at_1(m, src, tgt, pairs) >= 0.95
    with pytest.raises(UdmError, match="mass"):
        GromovWassersteinAligner(mass=1.5)


def test_a_mapping_induces_its_dictionary_as_the_refinement_does(cipher):
    from udm.mapping import Mapping
    from udm.refinement import induce_dictionary

    src, tgt, pairs = cipher
    m = make("gw", coarse_words=300).fit(src, tgt)
    lex = m.induced_lexicon(src, tgt, max_rank=500)
    idx = induce_dictionary(m.transform(src.vectors), m.prepare_target(tgt.vectors), max_rank=500)
    assert lex.pairs == [(src.words[i], tgt.words[j]) for i, j in idx]
    gold = {(src.words[i], tgt.words[j]) for i, j in pairs}
    assert len(lex) > 300 and sum(p in gold for p in lex.pairs) >= 0.95 * len(lex)
    same = Mapping(np.eye(src.dim, dtype=np.float32)).induced_lexicon(src, src, max_rank=200)
    assert len(same) >= 190 and all(a == b for a, b in same.pairs)  # a space against itself: every word itself


def _spelled(rotated, rows: np.ndarray) -> Embeddings:
    """The rotated target with row j named as source row ``rows[j]`` (rows = the true permutation: honest names)."""
    src, tgt, _ = rotated
    return Embeddings([src.words[i] for i in rows], tgt.vectors)


def test_orthographic_agreement_separates_a_right_map_from_a_random_one(rotated):
    src, tgt, pairs = rotated
    perm = pairs[:, 0]
    named = _spelled(rotated, perm)
    x, y = normalize(src.vectors), normalize(named.vectors)
    good = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
    share, n = orthographic_agreement(x @ good, y, src, named)
    assert n == len(src) and share >= 0.95
    bad, _ = orthographic_agreement(x @ random_orthogonal(src.dim, np.random.default_rng(0)), y, src, named)
    assert bad < 0.012
    assert orthographic_agreement(x @ good, y, src, tgt) == (None, 0)  # no shared spelling: no judgement


def test_a_map_that_sends_shared_spellings_elsewhere_is_reported_failed(rotated):
    src, tgt, pairs = rotated
    honest = make("gw").fit(src, _spelled(rotated, pairs[:, 0]))
    assert not honest.failed and honest.meta["orthographic_agreement"] >= 0.95
    false_friends = _spelled(rotated, np.roll(pairs[:, 0], 1))  # every shared spelling names another word's vector
    m = make("gw").fit(src, false_friends)
    assert m.meta["orthographic_words"] == len(src) and m.meta["orthographic_agreement"] < 0.012
    assert m.failed
