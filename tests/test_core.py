"""Core library: embedding store, normalisation, retrieval, lexicons, evaluation, supervised aligners."""
from __future__ import annotations

import numpy as np
import pytest

from udm import (Embeddings, Lexicon, Mapping, ProcrustesAligner, RCSLSAligner, UdmError, evaluate_bli,
                 evaluate_mapping, identical_strings, normalize, procrustes, retrieve)
from udm.procrustes import nearest_orthogonal
from udm.criteria import (headroom_share, judge_failure, lift_ratio, muse_criterion, null_criterion, random_orthogonal,
                          refined_null_check)
from udm.refinement import induce_dictionary, refine
from udm.retrieval import gold_ranks, knn_mean_similarity, mutual_nearest_pairs
from udm.seeds import seed_dictionary


def _rand_unit(rng, n, d):
    return normalize(rng.standard_normal((n, d)).astype(np.float32), "unit")


def _synthetic_pair(n=2000, d=40, noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    q = random_orthogonal(d, rng)
    y = x @ q + noise * rng.standard_normal((n, d)).astype(np.float32)
    src = Embeddings([f"s{i}" for i in range(n)], x)
    tgt = Embeddings([f"t{i}" for i in range(n)], y)
    lex = Lexicon((f"s{i}", f"t{i}") for i in range(n))
    return src, tgt, lex, q


# -- Procrustes ---------------------------------------------------------------------------------
def test_procrustes_recovers_orthogonal_map_exactly():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((500, 30)).astype(np.float32)
    q = random_orthogonal(30, rng)
    w = procrustes(x, x @ q)
    assert np.allclose(w, q, atol=1e-4)
    assert np.allclose(w @ w.T, np.eye(30), atol=1e-4)


def test_procrustes_empty_dictionary_is_a_clear_error():
    with pytest.raises(UdmError, match="seed dictionary is empty"):
        procrustes(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))


# -- retrieval ----------------------------------------------------------------------------------
def _brute_scores(q, t, method, k=10, pool=None, beta=30.0):
    pool = q if pool is None else pool
    s = q.astype(np.float64) @ t.T.astype(np.float64)
    if method == "nn":
        return s
    if method == "csls":
        r_q = np.sort(s, axis=1)[:, -k:].mean(1, keepdims=True)
        st = t.astype(np.float64) @ pool.T.astype(np.float64)
        r_t = np.sort(st, axis=1)[:, -k:].mean(1)
        return 2 * s - r_q - r_t[None, :]
    if method == "isf":
        sp = beta * (pool.astype(np.float64) @ t.T.astype(np.float64))
        lse = np.log(np.exp(sp - sp.max(0)).sum(0)) + sp.max(0)
        return beta * s - lse[None, :]
    raise AssertionError(method)


@pytest.mark.parametrize("method", ["nn", "csls", "isf"])
def test_blocked_retrieval_equals_brute_force(method):
    rng = np.random.default_rng(2)
    q, t, pool = _rand_unit(rng, 230, 16), _rand_unit(rng, 310, 16), _rand_unit(rng, 400, 16)
    ref = _brute_scores(q, t, method, pool=pool)
    idx, scores = retrieve(q, t, k=5, method=method, source_pool=pool, block=37)
    ref_idx = np.argsort(-ref, axis=1)[:, :5]
    assert np.array_equal(idx, ref_idx)
    assert np.allclose(scores, np.take_along_axis(ref, ref_idx, 1), atol=1e-4)


def test_knn_mean_and_gold_ranks_match_reference():
    rng = np.random.default_rng(3)
    q, t = _rand_unit(rng, 50, 8), _rand_unit(rng, 80, 8)
    s = q @ t.T
    assert np.allclose(knn_mean_similarity(q, t, 7, block=9), np.sort(s, 1)[:, -7:].mean(1), atol=1e-5)
    golds = [[i % 80, (3 * i) % 80] for i in range(50)]
    ranks = gold_ranks(q, t, golds, method="nn", block=11)
    for i, g in enumerate(golds):
        best = s[i, g].max()
        assert ranks[i] == 1 + int((s[i] > best).sum())


def test_retrieval_dimension_mismatch_is_clear():
    with pytest.raises(UdmError, match="dimension mismatch"):
        retrieve(np.ones((2, 3), np.float32), np.ones((2, 4), np.float32))
    with pytest.raises(UdmError, match="unknown retrieval method"):
        retrieve(np.ones((2, 3), np.float32), np.ones((2, 3), np.float32), method="cosine")


def test_mutual_nearest_pairs_on_identity():
    rng = np.random.default_rng(4)
    x = _rand_unit(rng, 100, 20)
    pairs = mutual_nearest_pairs(x, x)
    assert len(pairs) == 100 and np.array_equal(pairs[:, 0], pairs[:, 1])


# -- normalisation ------------------------------------------------------------------------------
def test_normalisation_steps():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((300, 12)) * 3 + 1).astype(np.float32)
    u = normalize(x, "unit")
    assert np.allclose(np.linalg.norm(u, axis=1), 1, atol=1e-5)
    ucu = normalize(x, "unit,center,unit")
    assert np.allclose(np.linalg.norm(ucu, axis=1), 1, atol=1e-5)
    r = normalize(x, "renorm")
    assert np.abs(r.mean(0)).max() < 1e-4 and np.allclose(np.linalg.norm(r, axis=1), 1, atol=1e-4)
    s = normalize(x, "center,scale")
    assert np.allclose(s.std(0), 1, atol=1e-3)
    w = normalize(x, "center,whiten")
    assert np.allclose(w.T @ w / len(w), np.eye(12), atol=1e-3)
    assert normalize(x, "none").dtype == np.float32 and np.array_equal(normalize(x, "none"), x)
    with pytest.raises(UdmError, match="unknown normalisation step 'unti'"):
        normalize(x, "unti")


# -- embedding store ----------------------------------------------------------------------------
def test_vec_and_npz_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    emb = Embeddings(["the", "of", "Maison", "ñandú"], rng.standard_normal((4, 5)).astype(np.float32))
    emb.save(tmp_path / "a.vec")
    back = Embeddings.load(tmp_path / "a.vec")
    assert back.words == emb.words and np.allclose(back.vectors, emb.vectors, atol=1e-5)
    emb.save(tmp_path / "a.npz")
    back = Embeddings.load(tmp_path / "a.npz")
    assert back.words == emb.words and np.array_equal(back.vectors, emb.vectors)
    assert Embeddings.load(tmp_path / "a.vec", max_vocab=2).words == ["the", "of"]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_vec_without_header_and_muse_lowercase(tmp_path):
    p = tmp_path / "b.vec"
    p.write_text("House 1 0\nhouse 0 1\ncat 1 1\n", encoding="utf-8")
    emb = Embeddings.load(p, lower=True)
    assert emb.words == ["house", "cat"] and np.array_equal(emb["house"], [1, 0])
    with pytest.raises(UdmError, match="duplicate word 'a'"):
        Embeddings(["a", "a"], np.zeros((2, 2)))


@pytest.mark.parametrize("content,pattern", [
    (b"2 3\na 1 2 3\na 4 5 6\n", r"b\.vec:3: duplicate word 'a'"),
    (b"2 3\na 1 2 3\nb 4 5\n", r"b\.vec:3: word 'b' has 2 values, expected 3"),
    (b"2 3\na 1 2 3\nb 4 nan 6\n", r"b\.vec:3: word 'b' has NaN or inf"),
    (b"2 3\na 1 2 3\nb 4 inf 6\n", r"b\.vec:3: word 'b' has NaN or inf"),
    (b"2 3\na 1 2 3\nb 4 x 6\n", r"b\.vec:3: word 'b' has a value that is not a number"),
    (b"", r"b\.vec: no word vectors found"),
    (b"2 3\na 1 2 3\n\xff\xfe 4 5 6\n", r"b\.vec:3: not valid UTF-8"),
])
def test_bad_vec_files_give_file_and_line(tmp_path, content, pattern):
    p = tmp_path / "b.vec"
    p.write_bytes(content)
    with pytest.raises(UdmError, match=pattern):
        Embeddings.load(p)


def test_skip_policy_keeps_good_lines(tmp_path, caplog):
    p = tmp_path / "b.vec"
    p.write_bytes(b"a 1 2 3\nb 4 5\nc 4 nan 6\n\xff 1 1 1\na 7 8 9\nd 1 1 1\n")
    emb = Embeddings.load(p, on_error="skip")
    assert emb.words == ["a", "d"]
    assert "skipped 4 malformed" in caplog.text


def test_missing_and_bad_npz(tmp_path):
    with pytest.raises(UdmError, match="no such embedding file"):
        Embeddings.load(tmp_path / "nope.vec")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(UdmError, match="not a udm .npz"):
        Embeddings.load(tmp_path / "x.npz")


def test_failed_save_leaves_no_partial_file(tmp_path):
    emb = Embeddings(["ok", "has space"], np.zeros((2, 2), np.float32))
    with pytest.raises(UdmError, match="whitespace"):
        emb.save(tmp_path / "c.vec")
    assert list(tmp_path.iterdir()) == []


def test_atomic_outputs_get_the_mode_plain_open_gives(tmp_path):
    import os

    from udm.atomic import atomic_open

    with atomic_open(tmp_path / "a.txt") as fh:
        fh.write("x")
    (tmp_path / "b.txt").write_text("x")
    assert os.stat(tmp_path / "a.txt").st_mode == os.stat(tmp_path / "b.txt").st_mode


# -- lexicons -----------------------------------------------------------------------------------
def test_lexicon_read_multi_gold_and_round_trip(tmp_path):
    p = tmp_path / "d.txt"
    p.write_text("house\tcasa\nhouse hogar\n\ncat gato\n", encoding="utf-8")
    lex = Lexicon.load(p)
    assert lex.golds["house"] == ["casa", "hogar"] and len(lex) == 3
    lex.save(tmp_path / "e.txt")
    assert Lexicon.load(tmp_path / "e.txt").pairs == lex.pairs


@pytest.mark.parametrize("content,pattern", [
    (b"a b c\n", r"d\.txt:1: expected 'source target' \(2 fields\), got 3"),
    (b"a b\nlonely\n", r"d\.txt:2: expected 'source target'"),
    (b"", r"d\.txt: the dictionary holds no pairs"),
    (b"a b\n\xe9t\xe9 summer\n", r"d\.txt:2: not valid UTF-8"),
])
def test_bad_lexicon_files(tmp_path, content, pattern):
    p = tmp_path / "d.txt"
    p.write_bytes(content)
    with pytest.raises(UdmError, match=pattern):
        Lexicon.load(p)


def test_coverage_counts_oov_never_silently():
    src = Embeddings(["a", "b", "c"], np.eye(3, dtype=np.float32))
    tgt = Embeddings(["x", "y", "z"], np.eye(3, dtype=np.float32))
    lex = Lexicon([("a", "x"), ("a", "q"), ("b", "q"), ("d", "x"), ("c", "z")])
    cov = lex.coverage(src, tgt)
    assert (cov.source_words, cov.covered_words, cov.pairs, cov.covered_pairs) == (4, 2, 5, 2)
    assert cov.oov_source_words == 1 and cov.oov_target_only_words == 1
    assert "2/4 source words" in str(cov)


def test_split_is_disjoint_and_by_frequency():
    src, tgt, lex, _ = _synthetic_pair(n=800)
    train, test = lex.split(src, tgt, test_size=100, offset=500)
    assert set(train.golds).isdisjoint(test.golds)
    assert len(test.golds) == 100 and len(train.golds) == 700
    assert sorted(src.index[w] for w in test.golds) == list(range(500, 600))
    train, test = lex.split(src, tgt, test_size=100)  # MUSE offset 5000 is past the end: test = the last words
    assert sorted(src.index[w] for w in test.golds) == list(range(700, 800))


def test_seed_dictionaries():
    src = Embeddings(["the", "casa", "ok", "cat"], np.eye(4, dtype=np.float32))
    tgt = Embeddings(["el", "casa", "ok", "gato"], np.eye(4, dtype=np.float32))
    assert identical_strings(src, tgt).pairs == [("casa", "casa"), ("ok", "ok")]
    lex = Lexicon([("cat", "gato"), ("the", "el"), ("dog", "perro")])
    assert seed_dictionary("frequent:1", src, tgt, lex).pairs == [("the", "el")]
    assert len(seed_dictionary("all", src, tgt, lex)) == 2
    with pytest.raises(UdmError, match="frequent:N"):
        seed_dictionary("frequent:many", src, tgt, lex)


# -- evaluation ---------------------------------------------------------------------------------
def test_bli_counts_multi_gold_and_coverage_on_hand_built_case():
    # targets t0..t3 along axes; source word i points at target i (s3 points between t2 and t3)
    tgt_vecs = np.eye(4, dtype=np.float32)
    src_vecs = np.array([[1, .1, 0, 0], [0, 1, .2, 0], [.3, 0, 1, 0], [0, 0, .8, .6]], np.float32)
    src_vecs = normalize(src_vecs, "unit")
    src = Embeddings(["s0", "s1", "s2", "s3"], src_vecs)
    tgt = Embeddings(["t0", "t1", "t2", "t3"], tgt_vecs)
    test = Lexicon([("s0", "t0"),                      # correct at 1
                    ("s1", "t3"), ("s1", "t2"),        # multi-gold: t2 is ranked 2nd -> P@1 miss, P@5 hit
                    ("s3", "t2"), ("s3", "t9"),        # t2 is s3's best -> hit; t9 is OOV
                    ("s9", "t1"),                      # OOV source word
                    ("s2", "zz")])                     # no gold in the target vocabulary
    rep = evaluate_bli(src_vecs, tgt_vecs, src, tgt, test, methods=("nn",), ks=(1, 5))
    assert rep.coverage.covered_words == 3 and rep.coverage.source_words == 5
    nn = rep.scores[0]
    assert nn.n == 3
    assert nn.precision[1] == pytest.approx(2 / 3)
    assert nn.precision[5] == pytest.approx(1.0)
    assert nn.mrr == pytest.approx((1 + 0.5 + 1) / 3)
    assert "3/5 source words" in rep.to_table()
    assert "| NN |" in rep.to_markdown()
    assert rep.to_dict()["scores"]["nn"]["p@1"] == pytest.approx(2 / 3)


def test_no_covered_test_word_is_an_error():
    e = Embeddings(["a"], np.ones((1, 2), np.float32))
    with pytest.raises(UdmError, match="no test word is covered"):
        evaluate_bli(e.vectors, e.vectors, e, e, Lexicon([("b", "c")]))


# -- supervised aligners and mapping ------------------------------------------------------------
def test_procrustes_aligner_and_rcsls_on_synthetic_map():
    src, tgt, lex, q = _synthetic_pair()
    train, test = lex.split(src, tgt, test_size=300, offset=1000)
    seeds = train.most_frequent(300, src, tgt)
    for aligner in (ProcrustesAligner(progress=False), ProcrustesAligner(refine_iters=2, progress=False),
                    RCSLSAligner(epochs=5, progress=False)):
        m = aligner.fit(src, tgt, seeds)
        rep = evaluate_mapping(m, src, tgt, test)
        assert rep.get("csls", 1) > 0.99, aligner.name


def test_supervised_aligner_needs_dictionary():
    src, tgt, lex, _ = _synthetic_pair(n=100)
    with pytest.raises(UdmError, match="needs a seed dictionary"):
        ProcrustesAligner().fit(src, tgt)
    with pytest.raises(UdmError, match="usable pairs"):
        ProcrustesAligner().fit(src, tgt, Lexicon([("zz", "yy")]))
    bad = Embeddings(tgt.words, np.zeros((100, 7), np.float32))
    with pytest.raises(UdmError, match="40 dims, target 7"):
        ProcrustesAligner().fit(src, bad, lex)


def test_refinement_improves_a_rough_map():
    src, tgt, lex, q = _synthetic_pair(n=1500, d=20, noise=0.01)
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    w_true = procrustes(x, y)
    rng = np.random.default_rng(7)
    rough = nearest_orthogonal(w_true + 0.3 * rng.standard_normal(w_true.shape).astype(np.float32))  # ~25% right
    before = np.mean(induce_dictionary(x @ rough, y, mode="forward")[:, 1] == np.arange(1500))
    w, hist = refine(x, y, rough, n_iter=5)
    after = np.mean(induce_dictionary(x @ w, y, mode="forward")[:, 1] == np.arange(1500))
    assert after > 0.99 and before < 0.5 and hist
    assert np.allclose(w, w_true, atol=0.05)


def test_refinement_deadline_stops_after_one_step():
    src, tgt, lex, q = _synthetic_pair(n=1500, d=20, noise=0.01)
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    rough = nearest_orthogonal(procrustes(x, y) + 0.3 * np.random.default_rng(7).standard_normal((20, 20)).astype(np.float32))
    _, full = refine(x, y, rough, n_iter=5, tol=0.0)
    _, cut = refine(x, y, rough, n_iter=5, tol=0.0, deadline=0.0)  # a deadline long past
    assert len(full) == 5 and "stopped" not in full[-1]
    assert len(cut) == 1 and cut[-1]["stopped"] == "deadline"


def test_refinement_records_dictionary_overlap_between_steps():
    src, tgt, lex, q = _synthetic_pair(n=800, d=20, noise=0.01)
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    rough = nearest_orthogonal(procrustes(x, y) + 0.3 * np.random.default_rng(7).standard_normal((20, 20)).astype(np.float32))
    _, hist = refine(x, y, rough, n_iter=4, tol=0.0)
    assert "overlap" not in hist[0] and all(0.0 <= h["overlap"] <= 1.0 for h in hist[1:])
    assert hist[-1]["overlap"] > 0.99  # converged: the last two dictionaries are the same
    _, rand = refine(x, y, nearest_orthogonal(np.random.default_rng(1).standard_normal((20, 20)).astype(np.float32)),
                     n_iter=2, tol=0.0)
    assert rand[1]["overlap"] < hist[-1]["overlap"]


def test_criterion_ranks_correct_map_above_random():
    src, tgt, lex, q = _synthetic_pair(n=1500)
    x, y = normalize(src.vectors), normalize(tgt.vectors)
    good = muse_criterion(x @ procrustes(x, y), y)
    mean, std = null_criterion(x, y)
    assert good > mean + 0.3
    assert not judge_failure(good, mean, std) and judge_failure(mean, mean, std)


def test_the_refined_null_check_fails_a_run_only_below_both_the_share_and_the_lift():
    """Random maps at 0.30, a refined random start at 0.40 (headroom 0.60, lift 0.10): a run at 0.45 clears 0.083
    of the headroom and rises 1.5 times as far; one at 0.60 clears 0.33 and rises 3 times as far."""
    assert refined_null_check(0.45, 0.40, 0.30, margin=0.14, lift_needed=2.3)[0]
    assert not refined_null_check(0.45, 0.40, 0.30, margin=0.14, lift_needed=1.4)[0]  # rescued by the lift
    assert not refined_null_check(0.45, 0.40, 0.30, margin=0.08, lift_needed=2.3)[0]  # clears the share
    failed, terms = refined_null_check(0.60, 0.40, 0.30, margin=0.14, lift_needed=2.3)
    assert not failed
    assert terms["criterion_headroom_share"] == pytest.approx(headroom_share(0.60, 0.40)) == pytest.approx(1 / 3)
    assert terms["criterion_lift_ratio"] == pytest.approx(3.0)
    assert (terms["criterion_headroom_needed"], terms["criterion_lift_needed"]) == (0.14, 2.3)


def test_lift_ratio_is_scale_free_and_floors_a_null_refinement_did_not_lift():
    """Unlike the headroom share (ceiling 1), the lift ratio does not move when every criterion is rescaled, as on
    vectors trained longer; a refined null no higher than random maps' does not pass every run."""
    run, refined, rand = 0.5726, 0.4480, 0.3000
    share = lambda c, n: (c - n) / (1 - n)  # noqa: E731
    squeeze = lambda v: 0.2 + 0.5 * (v - 0.2)  # noqa: E731 (every cosine scaled down around 0.2)
    assert lift_ratio(squeeze(run), squeeze(refined), squeeze(rand)) == pytest.approx(lift_ratio(run, refined, rand))
    assert share(squeeze(run), squeeze(refined)) < 0.6 * share(run, refined)
    assert lift_ratio(0.45, 0.40, 0.40) == pytest.approx(0.05 / 0.04)
    assert lift_ratio(0.45, 0.40, 0.40, floor=0.01) == pytest.approx(5.0)


def test_mapping_save_load_transform_export(tmp_path):
    src, tgt, lex, q = _synthetic_pair(n=200, d=10)
    m = ProcrustesAligner(progress=False).fit(src, tgt, lex)
    m.save(tmp_path / "m.npz")
    back = Mapping.load(tmp_path / "m.npz")
    assert np.array_equal(back.W, m.W) and back.src_norm == m.src_norm and back.meta["method"] == "procrustes"
    mapped = back.transform(src)
    assert isinstance(mapped, Embeddings) and mapped.words == src.words
    back.export_vec(src, tmp_path / "mapped.vec")
    assert np.allclose(Embeddings.load(tmp_path / "mapped.vec").vectors, mapped.vectors, atol=1e-5)
    with pytest.raises(UdmError, match="no such mapping file"):
        Mapping.load(tmp_path / "none.npz")
    with pytest.raises(UdmError, match="expects 10"):
        back.transform(np.zeros((2, 3), np.float32))


def test_nearest_orthogonal_numpy_and_torch_agree():
    import torch

    rng = np.random.default_rng(3)
    w = rng.standard_normal((12, 12)).astype(np.float32)
    q_np = nearest_orthogonal(w)
    q_t = nearest_orthogonal(torch.from_numpy(w))
    assert isinstance(q_t, torch.Tensor) and q_t.dtype == torch.float32
    assert np.allclose(q_np @ q_np.T, np.eye(12), atol=1e-5)
    assert np.allclose(q_t.numpy(), q_np, atol=1e-4)


def test_nearest_orthogonal_retries_a_failed_float32_svd_in_float64(monkeypatch):
    # float32 SVD failed to converge on a 300-d map one SGD step from orthogonal (adversarial, real en-de vectors)
    import torch

    real_svd = torch.linalg.svd

    def flaky_svd(a, *args, **kwargs):
        if a.dtype == torch.float32:
            raise torch.linalg.LinAlgError("linalg.svd: The algorithm failed to converge")
        return real_svd(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "svd", flaky_svd)
    w = np.linalg.qr(np.random.default_rng(4).standard_normal((20, 20)))[0].astype(np.float32)
    w += 1e-3 * np.random.default_rng(5).standard_normal(w.shape).astype(np.float32)
    q = nearest_orthogonal(torch.from_numpy(w))
    assert q.dtype == torch.float32 and np.allclose(q.numpy() @ q.numpy().T, np.eye(20), atol=1e-5)
    w[0, 0] = np.nan
    for bad in (w, torch.from_numpy(w)):
        with pytest.raises(UdmError, match="NaN or inf"):
            nearest_orthogonal(bad)


def test_nearest_orthogonal_retries_a_float32_svd_that_returns_nan(monkeypatch):
    # float32 SVD returned NaN factors without raising on a finite, near-orthogonal 300-d map (adversarial, real
    # en-es vectors, epoch 8): the training loop took it for divergence and stopped
    import torch

    real_svd = torch.linalg.svd

    def nan_svd(a, *args, **kwargs):
        u, s, vh = real_svd(a, *args, **kwargs)
        if a.dtype == torch.float32:
            u = u.clone()
            u[0, 0] = float("nan")
        return u, s, vh

    monkeypatch.setattr(torch.linalg, "svd", nan_svd)
    w = np.linalg.qr(np.random.default_rng(4).standard_normal((20, 20)))[0].astype(np.float32)
    w += 1e-3 * np.random.default_rng(5).standard_normal(w.shape).astype(np.float32)
    q = nearest_orthogonal(torch.from_numpy(w))
    assert q.dtype == torch.float32 and bool(torch.isfinite(q).all())
    assert np.allclose(q.numpy() @ q.numpy().T, np.eye(20), atol=1e-5)
