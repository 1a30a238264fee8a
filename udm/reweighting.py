"""The multi-step final map of Artetxe et al. (2018): whitening, orthogonal mapping, re-weighting, de-whitening.

Fitted on one dictionary, it maps *both* spaces into a shared one (two matrices), which an orthogonal map of the
source alone cannot express. Every aligner can end with it (``reweight=True``): the dictionary is induced from the
refined orthogonal map (bidirectional CSLS among the top words), so supervised and unsupervised runs get the
same final step.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .errors import UdmError
from .refinement import induce_dictionary

DEWHITEN_CHOICES = ("src", "tgt", "none")


def whitening_matrix(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(M^T M)^{-1/2}`` and its inverse ``(M^T M)^{1/2}`` (float64), from the SVD of ``m`` (rows = samples)."""
    _, s, vt = np.linalg.svd(np.asarray(m, dtype=np.float64), full_matrices=False)
    if len(s) < m.shape[1] or s.min() <= 1e-8 * max(s.max(), 1e-30):
        raise UdmError(f"whitening needs a dictionary that spans all {m.shape[1]} dimensions "
                       f"({m.shape[0]} pairs do not); use a larger vocabulary or dictionary, or leave out --reweight")
    return (vt.T / s) @ vt, (vt.T * s) @ vt


def multistep_map(
    x: np.ndarray,
    y: np.ndarray,
    pairs: np.ndarray,
    *,
    whiten: bool = True,
    src_reweight: float = 0.5,
    tgt_reweight: float = 0.5,
    src_dewhiten: str = "src",
    tgt_dewhiten: str = "tgt",
) -> tuple[np.ndarray, np.ndarray]:
    """``(W_src, W_tgt)`` so that ``x @ W_src`` and ``y @ W_tgt`` are comparable, fitted on ``pairs`` (index rows).

    Steps: whiten each side on its dictionary rows; rotate both by the SVD ``U S V^T`` of the whitened
    cross-covariance; scale the columns by ``S ** src_reweight`` / ``S ** tgt_reweight``; undo the whitening in the
    rotated coordinates of the side named by ``src_dewhiten`` / ``tgt_dewhiten`` (``none`` keeps it whitened).
    With ``whiten=False`` and both exponents 0 this is orthogonal Procrustes (``W_src @ W_tgt.T``).
    """
    for name, val in (("src_dewhiten", src_dewhiten), ("tgt_dewhiten", tgt_dewhiten)):
        if val not in DEWHITEN_CHOICES:
            raise UdmError(f"{name} must be one of {', '.join(DEWHITEN_CHOICES)}, got {val!r}")
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or len(pairs) < 2:
        raise UdmError(f"the final map needs at least two dictionary pairs, got {len(pairs)}")
    if x.shape[1] != y.shape[1]:
        raise UdmError(f"source vectors have {x.shape[1]} dims, target {y.shape[1]}: the final map needs equal dimensions")
    xd = np.asarray(x, dtype=np.float64)[pairs[:, 0]]
    yd = np.asarray(y, dtype=np.float64)[pairs[:, 1]]
    d = x.shape[1]
    if whiten:
        wx1, wx1_inv = whitening_matrix(xd)
        wy1, wy1_inv = whitening_matrix(yd)
    else:
        wx1 = wx1_inv = wy1 = wy1_inv = np.eye(d)
    u, s, vt = np.linalg.svd((xd @ wx1).T @ (yd @ wy1), full_matrices=False)
    wx2, wy2 = u, vt.T
    w_src = (wx1 @ wx2) * s ** src_reweight
    w_tgt = (wy1 @ wy2) * s ** tgt_reweight
    dewhiten = {"src": wx2.T @ wx1_inv @ wx2, "tgt": wy2.T @ wy1_inv @ wy2, "none": None}
    if whiten and dewhiten[src_dewhiten] is not None:
        w_src = w_src @ dewhiten[src_dewhiten]
    if whiten and dewhiten[tgt_dewhiten] is not None:
        w_tgt = w_tgt @ dewhiten[tgt_dewhiten]
    return w_src.astype(np.float32), w_tgt.astype(np.float32)


def reweighted_final_map(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    max_rank: Optional[int] = 20000,
    csls_k: int = 10,
    mode: str = "union",
) -> tuple[np.ndarray, np.ndarray, int]:
    """Induce a dictionary from the orthogonal map ``w`` and fit :func:`multistep_map` on it.

    Returns ``(W_src, W_tgt, n_pairs)``. Bidirectional (``union``) induction gives many more pairs than mutual
    nearest neighbours, which the whitening needs (a dictionary must span every dimension).
    """
    pairs = induce_dictionary(x @ w, y, max_rank=max_rank, csls_k=csls_k, mode=mode)
    w_src, w_tgt = multistep_map(x, y, pairs)
    return w_src, w_tgt, int(len(pairs))
