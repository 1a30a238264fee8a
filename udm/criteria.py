"""Dictionary-free model selection: scores that rank mappings without any gold pairs (higher = better)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .embeddings import Embeddings
from .lexicon import identical_strings
from .retrieval import retrieve


def muse_criterion(mapped_src: np.ndarray, tgt: np.ndarray, *, n_words: int = 10000, csls_k: int = 10) -> float:
    """Mean cosine between the ``n_words`` most frequent mapped source words and their CSLS translations
    among the same number of target words (Conneau et al. 2018). Inputs are unit-length rows."""
    xs = mapped_src[:n_words]
    ys = tgt[:n_words]
    idx, _ = retrieve(xs, ys, k=1, method="csls", csls_k=csls_k)
    return float(np.mean(np.sum(xs * ys[idx[:, 0]], axis=1)))


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random d x d orthogonal matrix (QR of a Gaussian matrix with sign correction)."""
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def null_criterion(
    x: np.ndarray, y: np.ndarray, *, n_random: int = 3, seed: int = 0, n_words: int = 10000
) -> tuple[float, float]:
    """Mean and standard deviation of :func:`muse_criterion` under random orthogonal maps: what failure scores."""
    rng = np.random.default_rng(seed)
    vals = [muse_criterion(x[:n_words] @ random_orthogonal(x.shape[1], rng), y, n_words=n_words) for _ in range(n_random)]
    return float(np.mean(vals)), float(np.std(vals))


def judge_failure(score: float, null_mean: float, null_std: float, *, margin: float = 0.05, z: float = 5.0) -> bool:
    """A run failed when its criterion is not clearly above random maps' (by ``margin`` and ``z`` deviations)."""
    return not (score > null_mean + margin and score > null_mean + z * null_std)


def lift_ratio(score: float, refined_null: float, null_mean: float, *, floor: float = 0.04) -> float:
    """How many times as far above random maps' criterion (``null_mean``) a run rises as a random start put
    through the same refinement (``refined_null``): a scale-free companion of the headroom share, whose ceiling of
    1 does not move with the vectors' cosine scale. The refined null's lift is floored at ``floor`` so that a
    space where refinement lifts nothing does not pass every run."""
    return (score - null_mean) / max(floor, refined_null - null_mean)


def headroom_share(score: float, null: float) -> float:
    """How far a run's criterion clears a null's, as a share of the headroom up to the criterion's ceiling of 1."""
    return (score - null) / max(1e-9, 1.0 - null)


def refined_null_check(score: float, refined_null: float, null_mean: float, *, margin: float,
                       lift_needed: float) -> tuple[bool, dict[str, float]]:
    """The refined-null failure check: a run fails when it clears a random start put through the same refinement
    (``refined_null``) by less than ``margin`` of the headroom (:func:`headroom_share`) *and* rises less than
    ``lift_needed`` times as far above random maps' criterion (``null_mean``) as that start (:func:`lift_ratio`).
    Returns (failed, the terms under the ``criterion_*`` names a fit's meta records them by)."""
    share, lift = headroom_share(score, refined_null), lift_ratio(score, refined_null, null_mean)
    terms = {"criterion_refined_null": refined_null, "criterion_headroom_share": share,
             "criterion_headroom_needed": margin, "criterion_lift_ratio": lift, "criterion_lift_needed": lift_needed}
    return share < margin and lift < lift_needed, terms


def sinkhorn_criterion(
    mapped_src: np.ndarray, tgt: np.ndarray, *, n_words: int = 2000, reg: float = 0.05, max_iter: int = 300
) -> float:
    """Negated debiased Sinkhorn divergence between the ``n_words`` most frequent mapped source and target
    words under the cosine cost ``1 - cos`` (unit rows; uniform weights; higher = distributions closer).

    ``S = OT(x, y) - (OT(x, x) + OT(y, y)) / 2`` with ``OT`` the transport cost of the entropic plan at ``reg``
    (Genevay et al. 2018), so a perfect match scores about 0 and unrelated clouds score clearly below it.
    """
    import torch

    from .ot import as_tensor, sinkhorn

    xs = as_tensor(mapped_src[:n_words])
    ys = as_tensor(tgt[:n_words])

    def ot_cost(a: "torch.Tensor", b: "torch.Tensor") -> float:
        cost = 1.0 - a @ b.T
        plan, _, _, _ = sinkhorn(cost, reg, max_iter=max_iter, tol=1e-4)
        return float((plan * cost).sum())

    return -(ot_cost(xs, ys) - 0.5 * ot_cost(xs, xs) - 0.5 * ot_cost(ys, ys))


def gw_criterion(mapped_src: np.ndarray, tgt: np.ndarray, *, n_words: int = 2000, csls_k: int = 10) -> float:
    """Negated Gromov-Wasserstein-style distortion of the matching a mapping induces: the mean squared difference
    between source and target cosine similarities over CSLS-matched pairs of the top ``n_words`` (higher = better)."""
    xs = mapped_src[:n_words]
    ys = tgt[:n_words]
    idx, _ = retrieve(xs, ys, k=1, method="csls", csls_k=csls_k)
    yy = ys[idx[:, 0]]
    return -float(np.mean((xs @ xs.T - yy @ yy.T) ** 2))


def orthographic_agreement(
    mapped_src: np.ndarray, tgt: np.ndarray, src_emb: Embeddings, tgt_emb: Embeddings, *,
    n_words: int = 20000, csls_k: int = 10, min_pairs: int = 200,
) -> tuple[Optional[float], int]:
    """Share of the words spelled identically on both sides (:func:`udm.lexicon.identical_strings` among the
    ``n_words`` most frequent of each) whose CSLS translation under the map is that same word, and how many such
    words there are; ``(None, n)`` when there are fewer than ``min_pairs`` (e.g. different scripts). Needs no
    dictionary: names, numbers and loanwords map to themselves under a right map far above chance (1 / ``n_words``).
    ``mapped_src``/``tgt`` are the unit-length rows of ``src_emb``/``tgt_emb`` (same order)."""
    xs, ys = mapped_src[:n_words], tgt[:n_words]
    pairs = identical_strings(src_emb, tgt_emb, max_rank=n_words).index_pairs(src_emb, tgt_emb)
    if len(pairs) < min_pairs:
        return None, len(pairs)
    idx, _ = retrieve(xs[pairs[:, 0]], ys, k=1, method="csls", csls_k=csls_k, source_pool=xs)
    return float(np.mean(idx[:, 0] == pairs[:, 1])), len(pairs)
