"""The multi-step final map (udm.reweighting): its algebra, the two-sided Mapping, aligners and CLI ending with it.

Real fixture vectors: the 2000-word English space of tests/data/as_cipher_en.npz and its ciphered twin."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from udm.aligners import ProcrustesAligner, get_aligner
from udm.cli import main
from udm.embeddings import Embeddings
from udm.errors import UdmError
from udm.evaluate import evaluate_mapping
from udm.lexicon import Lexicon
from udm.mapping import Mapping
from udm.normalize import normalize
from udm.procrustes import procrustes
from udm.reweighting import multistep_map, whitening_matrix

DATA = Path(__file__).resolve().parent / "data"
FIXTURES = Path(__file__).resolve().parents[1] / "corpora" / "fixtures"


@pytest.fixture(scope="module")
def cipher():
    return (Embeddings.load(DATA / "as_cipher_en.npz"), Embeddings.load(DATA / "as_cipher_code.npz"),
            Lexicon.load(FIXTURES / "cipher.train.txt"), Lexicon.load(FIXTURES / "cipher.test.txt"))


def _xy(cipher):
    src, tgt, train, _ = cipher
    return normalize(src.vectors), normalize(tgt.vectors), train.index_pairs(src, tgt)


def test_without_whitening_or_reweighting_it_is_procrustes(cipher):
    x, y, pairs = _xy(cipher)
    ws, wt = multistep_map(x, y, pairs, whiten=False, src_reweight=0, tgt_reweight=0)
    np.testing.assert_allclose(ws @ wt.T, procrustes(x[pairs[:, 0]], y[pairs[:, 1]]), atol=1e-4)


def test_whitening_matrix_whitens_and_inverts(cipher):
    x, _, pairs = _xy(cipher)
    m = x[pairs[:, 0]].astype(np.float64)
    w, w_inv = whitening_matrix(m)
    np.testing.assert_allclose((m @ w).T @ (m @ w), np.eye(m.shape[1]), atol=1e-6)
    np.testing.assert_allclose(w @ w_inv, np.eye(m.shape[1]), atol=1e-6)


def test_reweighted_map_scores_like_orthogonal_on_the_cipher(cipher):
    """Both spaces are isometric up to training noise: the two-sided map must not lose what Procrustes finds."""
    src, tgt, train, test = cipher
    plain = ProcrustesAligner(progress=False).fit(src, tgt, train)
    rew = ProcrustesAligner(progress=False, reweight=True).fit(src, tgt, train)
    assert rew.W_tgt is not None and rew.meta["reweight_pairs"] > src.dim
    p_plain = evaluate_mapping(plain, src, tgt, test).get("csls", 1)
    p_rew = evaluate_mapping(rew, src, tgt, test).get("csls", 1)
    assert p_rew >= 0.95 and p_rew >= p_plain - 0.02, (p_plain, p_rew)
    mapped, target = rew.transform(src.vectors), rew.prepare_target(tgt.vectors)
    np.testing.assert_allclose(np.linalg.norm(mapped, axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(target, axis=1), 1, atol=1e-4)


def test_unsupervised_fit_judges_the_orthogonal_map_and_reports_both_criteria(cipher):
    src, tgt, _, test = cipher
    m = get_aligner("gw", progress=False, reweight=True, n_words=1000, coarse_words=500).fit(src, tgt)
    assert not m.failed and m.W_tgt is not None
    assert m.meta["criterion_reweighted"] > 0.5 and m.meta["criterion"] > 0.5
    assert evaluate_mapping(m, src, tgt, test).get("csls", 1) >= 0.95


def test_two_sided_mapping_saves_loads_and_old_files_still_load(tmp_path, cipher):
    src, tgt, train, _ = cipher
    m = ProcrustesAligner(progress=False, reweight=True, refine_iters=1).fit(src, tgt, train)
    m.save(tmp_path / "m.npz")
    back = Mapping.load(tmp_path / "m.npz")
    assert back.mapped_norm == "unit"
    np.testing.assert_array_equal(back.W_tgt, m.W_tgt)
    np.testing.assert_array_equal(back.prepare_target(tgt.vectors), m.prepare_target(tgt.vectors))
    with open(tmp_path / "old.npz", "wb") as fh:  # a file written before two-sided maps existed
        np.savez(fh, W=m.W, src_norm=m.src_norm, tgt_norm=m.tgt_norm, meta=json.dumps({"method": "x"}))
    old = Mapping.load(tmp_path / "old.npz")
    assert old.W_tgt is None and old.mapped_norm == "none"
    np.testing.assert_array_equal(old.prepare_target(tgt.vectors), normalize(tgt.vectors, m.tgt_norm))


def test_bad_input_gives_one_line(cipher):
    x, y, pairs = _xy(cipher)
    with pytest.raises(UdmError, match="spans all 50 dimensions"):
        multistep_map(x, y, pairs[:10])
    with pytest.raises(UdmError, match="src_dewhiten must be one of"):
        multistep_map(x, y, pairs, src_dewhiten="both")
    with pytest.raises(UdmError, match="at least two dictionary pairs"):
        multistep_map(x, y, pairs[:1])
    with pytest.raises(UdmError, match="columns like W"):
        Mapping(np.eye(5), W_tgt=np.eye(4))


def test_cli_align_reweight_then_eval(tmp_path, cipher, capsys):
    src, tgt, train, test = cipher
    src.save(tmp_path / "en.vec")
    tgt.save(tmp_path / "code.vec")
    out = tmp_path / "out"
    assert main(["align", "--method", "procrustes", "--dict", str(FIXTURES / "cipher.train.txt"), "--reweight",
                 "--src", str(tmp_path / "en.vec"), "--tgt", str(tmp_path / "code.vec"), "-o", str(out),
                 "--quiet", "--eval", str(FIXTURES / "cipher.test.txt")]) == 0
    assert Mapping.load(out / "mapping.npz").W_tgt is not None
    report = json.loads((out / "bli.json").read_text())
    assert main(["eval", "--mapping", str(out / "mapping.npz"), "--dict", str(FIXTURES / "cipher.test.txt"),
                 "--src", str(tmp_path / "en.vec"), "--tgt", str(tmp_path / "code.vec"), "--quiet",
                 "--json", str(tmp_path / "again.json")]) == 0
    assert json.loads((tmp_path / "again.json").read_text()) == report
