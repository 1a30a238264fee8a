"""The paired BLI comparison: exact McNemar p-values and the discordant counts of two real evaluations."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from udm import Embeddings, Lexicon, Mapping, UdmError, evaluate_mapping
from udm import compare_reports
from udm.significance import mcnemar_exact

DATA = Path(__file__).parent / "data"
FIX = Path(__file__).parent.parent / "corpora" / "fixtures"


@pytest.mark.parametrize("only_a,only_b,p", [
    (0, 0, 1.0), (7, 7, 1.0), (0, 5, 0.0625),  # 2 * 0.5**5
    (3, 10, 0.09228515625),  # 2 * (1 + 13 + 78 + 286) / 2**13
    (1, 1, 1.0),
])
def test_mcnemar_exact_values(only_a, only_b, p):
    assert mcnemar_exact(only_a, only_b) == pytest.approx(p, rel=1e-12)
    assert mcnemar_exact(only_b, only_a) == pytest.approx(p, rel=1e-12)


def test_mcnemar_exact_large_counts_stay_finite_and_monotone():
    ps = [mcnemar_exact(700 - d, 700 + d) for d in (0, 20, 40, 80)]
    assert ps[0] == 1.0 and all(a > b for a, b in zip(ps, ps[1:])) and ps[-1] > 0
    with pytest.raises(UdmError):
        mcnemar_exact(-1, 3)


def _cipher_maps(noise_seeds):
    """The cipher fixture's vectors and test lexicon, its true map (supervised Procrustes on the fixture
    dictionary) and that map with a little noise for each seed of ``noise_seeds``."""
    from udm.aligners.supervised import ProcrustesAligner

    src, tgt = Embeddings.load(DATA / "as_cipher_en.npz"), Embeddings.load(DATA / "as_cipher_code.npz")
    test = Lexicon.load(FIX / "cipher.test.txt")
    good = ProcrustesAligner(seed=0, progress=False, refine_iters=0).fit(src, tgt, Lexicon.load(FIX / "cipher.txt"))
    noisy = []
    for seed in noise_seeds:
        rng = np.random.default_rng(seed)
        noisy.append(Mapping(good.W + rng.normal(0, 0.08, good.W.shape).astype(np.float32), good.src_norm,
                             good.tgt_norm, {}))
    return src, tgt, test, good, noisy


def test_compare_reports_counts_discordant_words_of_two_real_maps():
    """The cipher fixture: its true map (a permutation of the rows, identity W) against the same map with
    noise; the discordant counts are exactly the words one gets right and the other wrong."""
    src, tgt, test, good, (noisy,) = _cipher_maps([0])
    a, b = evaluate_mapping(good, src, tgt, test), evaluate_mapping(noisy, src, tgt, test)
    c = compare_reports(a, b, "csls", 1)
    ha, hb = a.method_scores("csls").hits(1), b.method_scores("csls").hits(1)
    assert c.n == len(a.words) == len(ha) and c.p_a == pytest.approx(a.get("csls", 1))
    assert (c.only_a, c.only_b) == (int((ha & ~hb).sum()), int((hb & ~ha).sum()))
    assert c.only_a > c.only_b and c.p_value == mcnemar_exact(c.only_a, c.only_b)
    lo, hi = c.ci95
    assert lo <= c.difference <= hi
    same = compare_reports(a, a)
    assert (same.only_a, same.only_b, same.p_value) == (0, 0, 1.0)


def test_compare_reports_refuses_different_test_words():
    src, tgt = Embeddings.load(DATA / "as_cipher_en.npz"), Embeddings.load(DATA / "as_cipher_code.npz")
    test = Lexicon.load(FIX / "cipher.test.txt")
    ident = Mapping(np.eye(src.dim, dtype=np.float32), "unit", "unit", {})
    a = evaluate_mapping(ident, src, tgt, test)
    b = evaluate_mapping(ident, src.top(len(src) // 2), tgt, test)
    with pytest.raises(UdmError, match="different test words"):
        compare_reports(a, b)
    with pytest.raises(UdmError, match="'isf' was not evaluated"):
        compare_reports(a, a, "isf")


def test_compare_runs_pools_several_runs_word_by_word():
    """The mean of several runs against a baseline: the runs' mean P@1 minus the baseline's, with the standard
    error of the per-word differences; one run gives compare_reports' difference."""
    from udm import compare_runs

    src, tgt, test, good, noisy = _cipher_maps([1, 2, 3])
    runs = [evaluate_mapping(m, src, tgt, test) for m in noisy]
    base = evaluate_mapping(good, src, tgt, test)
    one = compare_runs(runs[:1], base)
    assert one.difference == pytest.approx(compare_reports(runs[0], base).difference)
    pooled = compare_runs(runs, base)
    assert pooled.runs == 3 and pooled.p_a == pytest.approx(np.mean([r.get("csls", 1) for r in runs]))
    d = np.mean([r.method_scores("csls").hits(1) for r in runs], axis=0) - base.method_scores("csls").hits(1)
    assert pooled.se == pytest.approx(d.std(ddof=1) / np.sqrt(len(d)))
    lo, hi = pooled.ci95
    assert hi < 0 and pooled.p_value < 0.05 and pooled.to_dict()["p_value"] == pooled.p_value
    same = compare_runs([base, base], base)
    assert (same.difference, same.se, same.p_value) == (0.0, 0.0, 1.0)
    with pytest.raises(UdmError, match="at least one run"):
        compare_runs([], base)


def test_packed_hits_round_trip_and_compare_as_the_reports_do():
    """A stored result's packed hits give back the report's per-word hits, and compare_hits on them gives
    compare_runs' numbers; a damaged or mismatched record is one clear error."""
    from udm.evaluate import pack_hits, unpack_hits
    from udm.significance import compare_hits, compare_runs

    src, tgt, test, good, (noisy,) = _cipher_maps([5])
    a, b = evaluate_mapping(noisy, src, tgt, test), evaluate_mapping(good, src, tgt, test)
    pa, pb = pack_hits(a), pack_hits(b)
    assert pa["n"] == len(a.words) and len(pa["bits"]) <= 2 * ((len(a.words) + 7) // 8)
    assert pa["words_sha256"] == pb["words_sha256"]
    assert np.array_equal(unpack_hits(pa), a.method_scores("csls").hits(1))
    assert 0 < unpack_hits(pa).sum() < unpack_hits(pb).sum()
    stored, direct = compare_hits([unpack_hits(pa)], unpack_hits(pb)), compare_runs([a], b)
    assert (stored.p_a, stored.p_b, stored.se) == pytest.approx((direct.p_a, direct.p_b, direct.se))
    half = evaluate_mapping(good, src.top(len(src) // 2), tgt, test)
    assert pack_hits(half)["words_sha256"] != pb["words_sha256"]
    with pytest.raises(UdmError, match="not a packed hits record"):
        unpack_hits({"n": 3, "bits": "zz"})
    with pytest.raises(UdmError, match="fewer than"):
        unpack_hits({"n": 20, "bits": "ff"})
    with pytest.raises(UdmError, match="same test words"):
        compare_hits([unpack_hits(pack_hits(half))], unpack_hits(pb))
    from udm.significance import compare_hit_pair  # one run against one baseline, from stored hits
    assert compare_hit_pair(unpack_hits(pa), unpack_hits(pb)) == compare_reports(a, b)
    with pytest.raises(UdmError, match="same test words"):
        compare_hit_pair(unpack_hits(pack_hits(half)), unpack_hits(pb))


def test_compare_trainings_weights_each_training_once_against_its_own_baseline():
    """Runs of two vector trainings, each against its own baseline, pool per word with each training weighted once
    (not each run); one training is compare_runs; trainings scored on other test words are refused in one line."""
    from udm.significance import compare_groups, compare_runs, compare_trainings

    src, tgt, test, good, noisy = _cipher_maps([3, 5, 8])
    g, n3, n5, n8 = (evaluate_mapping(m, src, tgt, test) for m in (good, *noisy))
    first = compare_runs([n3, n5, n8], g)  # training 1: three runs against the good map
    second = compare_runs([g], n8)  # training 2: one run, its baseline the worst map
    both = compare_trainings([([n3, n5, n8], g), ([g], n8)])
    assert both.difference == pytest.approx((first.difference + second.difference) / 2)
    assert both.runs == 4 and both.p_a == pytest.approx((first.p_a + second.p_a) / 2)
    one = compare_trainings([([n3, n5], g)])
    own = compare_runs([n3, n5], g)
    assert (one.p_a, one.p_b, one.se) == pytest.approx((own.p_a, own.p_b, own.se))
    assert compare_groups([([np.ones(4)], np.zeros(4)), ([np.zeros(4)], np.zeros(4))]).difference == pytest.approx(0.5)
    half = evaluate_mapping(good, src.top(len(src) // 2), tgt, test)
    with pytest.raises(UdmError, match="different test words"):
        compare_trainings([([n3], g), ([half], half)])
    with pytest.raises(UdmError, match="at least one"):
        compare_trainings([])
