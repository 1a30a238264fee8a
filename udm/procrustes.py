"""Orthogonal Procrustes: the rotation W minimising ||X W - Y|| over matched rows; the one implementation in udm."""
from __future__ import annotations

import numpy as np

from .errors import UdmError


def procrustes(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Orthogonal ``W`` (d_x x d_y) with ``x @ W`` closest to ``y``: ``W = U V^T`` from the SVD of ``x^T y``.

    Optional per-pair ``weights`` (e.g. match confidences) weight each row's contribution.
    """
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise UdmError(f"Procrustes needs two matrices of matched rows, got shapes {x.shape} and {y.shape}")
    if len(x) == 0:
        raise UdmError("Procrustes needs at least one matched pair; the seed dictionary is empty (check its coverage)")
    x64 = x.astype(np.float64)
    if weights is not None:
        x64 = x64 * np.asarray(weights, dtype=np.float64)[:, None]
    m = x64.T @ y.astype(np.float64)
    u, _, vt = np.linalg.svd(m, full_matrices=False)
    return (u @ vt).astype(np.float32)


def nearest_orthogonal(w):
    """The orthogonal matrix closest to ``w`` in Frobenius norm (polar factor ``U V^T`` of its SVD).

    A numpy array is factored in float64 and returned as float32; a torch tensor stays a tensor of its own
    dtype and device (so a training loop can project its weight in place without leaving torch).
    """
    if not isinstance(w, np.ndarray) and hasattr(w, "detach"):
        import torch

        if not bool(torch.isfinite(w).all()):
            raise UdmError("nearest_orthogonal: the matrix has NaN or inf entries (a training step diverged)")
        try:
            u, _, vh = torch.linalg.svd(w, full_matrices=False)
            polar = u @ vh
            if bool(torch.isfinite(polar).all()):
                return polar
        except torch.linalg.LinAlgError:
            pass
        # float32 SVD can fail when the singular values cluster, as they do for a matrix one small step away from
        # orthogonal (300-d adversarial training): it raises, or returns NaN without raising. float64 does not.
        u, _, vh = torch.linalg.svd(w.double(), full_matrices=False)
        return (u @ vh).to(w.dtype)
    w64 = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w64).all():
        raise UdmError("nearest_orthogonal: the matrix has NaN or inf entries (a training step diverged)")
    u, _, vt = np.linalg.svd(w64, full_matrices=False)
    return (u @ vt).astype(np.float32)
