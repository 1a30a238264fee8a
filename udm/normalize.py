"""Embedding normalisation as one composable spec such as ``"unit,center,unit"``; the only implementation in udm.

Steps: ``unit`` (rows to unit length), ``center`` (subtract the mean row), ``scale`` (per-dimension unit
variance), ``renorm`` (iterative normalisation: repeat unit+center until stable, Zhang et al. 2019) and
``whiten`` (ZCA whitening). ``none`` or an empty spec leaves vectors unchanged.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .errors import UdmError

_EPS = 1e-8


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Euclidean length (zero rows stay zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, _EPS)


def center(x: np.ndarray) -> np.ndarray:
    """Mean row subtracted."""
    return x - x.mean(axis=0, keepdims=True)


def scale(x: np.ndarray) -> np.ndarray:
    """Each dimension scaled to unit variance."""
    return x / np.maximum(x.std(axis=0, keepdims=True), _EPS)


def renorm(x: np.ndarray, max_iter: int = 20, tol: float = 1e-5) -> np.ndarray:
    """Iterative normalisation: alternate unit length and centering until both hold."""
    for _ in range(max_iter):
        x = unit(center(x))
        if np.abs(x.mean(axis=0)).max() < tol:
            break
    return x


def whiten(x: np.ndarray) -> np.ndarray:
    """ZCA whitening: covariance becomes the identity (directions are kept, unlike PCA whitening)."""
    xc = x.astype(np.float64)
    cov = xc.T @ xc / max(len(xc), 1)
    vals, vecs = np.linalg.eigh(cov)
    w = (vecs * (1.0 / np.sqrt(np.maximum(vals, _EPS)))) @ vecs.T
    return (xc @ w).astype(x.dtype)


STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "unit": unit,
    "center": center,
    "scale": scale,
    "renorm": renorm,
    "whiten": whiten,
}

DEFAULT_SPEC = "unit,center,unit"


def parse_spec(spec: str | None) -> list[str]:
    """Split and validate a spec like ``"unit,center,unit"``."""
    if spec is None:
        return []
    steps = [s.strip().lower() for s in spec.split(",") if s.strip()]
    steps = [s for s in steps if s != "none"]
    for s in steps:
        if s not in STEPS:
            raise UdmError(f"unknown normalisation step {s!r} in {spec!r}; choose from {', '.join(STEPS)} (e.g. 'unit,center,unit')")
    return steps


def normalize(x: np.ndarray, spec: str | None = DEFAULT_SPEC) -> np.ndarray:
    """Apply the steps of ``spec`` in order to a float matrix (a new float32 array; the input is not modified)."""
    out = np.asarray(x, dtype=np.float32)
    steps = parse_spec(spec)
    if not steps:
        return out.copy()
    for s in steps:
        out = STEPS[s](out)
    return np.ascontiguousarray(out, dtype=np.float32)
