"""Dictionary induction and iterative Procrustes refinement, shared by every aligner (supervised or not).

One step: map the top-N source words, induce a dictionary from CSLS mutual nearest neighbours against the
top-N target words, refit Procrustes on it. Repeating this improves a rough initial map (Conneau et al. 2018).
"""
from __future__ import annotations

import time
from typing import Optional

import numpy as np
from tqdm.auto import tqdm

from .errors import UdmError
from .procrustes import procrustes
from .retrieval import best_matches_both_ways, mutual_nearest_pairs, retrieve

INDUCTION_MODES = ("mutual", "forward", "union")


def induce_dictionary(
    mapped_src: np.ndarray,
    tgt: np.ndarray,
    *,
    max_rank: Optional[int] = 15000,
    method: str = "csls",
    csls_k: int = 10,
    mode: str = "mutual",
) -> np.ndarray:
    """Index pairs ``(src_row, tgt_row)`` induced among the ``max_rank`` most frequent words of each side.

    ``mode``: ``mutual`` (pairs that are each other's best match), ``forward`` (every source word's best
    target), or ``union`` (forward and backward best matches together).
    """
    if mode not in INDUCTION_MODES:
        raise UdmError(f"unknown induction mode {mode!r}; choose one of {', '.join(INDUCTION_MODES)}")
    xs = mapped_src[:max_rank] if max_rank else mapped_src
    ys = tgt[:max_rank] if max_rank else tgt
    if mode == "mutual":
        return mutual_nearest_pairs(xs, ys, method=method, csls_k=csls_k)
    if mode == "forward":
        fwd, _ = retrieve(xs, ys, k=1, method=method, csls_k=csls_k)
        return np.stack([np.arange(len(xs)), fwd[:, 0]], axis=1)
    fwd, bwd = best_matches_both_ways(xs, ys, method=method, csls_k=csls_k)
    pairs = np.stack([np.arange(len(xs)), fwd], axis=1)
    back = np.stack([bwd, np.arange(len(ys))], axis=1)
    return np.unique(np.concatenate([pairs, back]), axis=0)


def sample_pairs(pairs: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Stochastic dictionary induction: each pair kept with probability ``p`` (at least two are kept)."""
    if p >= 1.0 or len(pairs) <= 2:
        return pairs
    keep = rng.random(len(pairs)) < p
    if keep.sum() < 2:
        keep[rng.choice(len(pairs), size=2, replace=False)] = True
    return pairs[keep]


def refine(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    n_iter: int = 5,
    max_rank: Optional[int] = 15000,
    csls_k: int = 10,
    mode: str = "mutual",
    seed_pairs: Optional[np.ndarray] = None,
    tol: float = 1e-4,
    progress: bool = False,
    deadline: Optional[float] = None,
) -> tuple[np.ndarray, list[dict]]:
    """Iterative Procrustes from ``w``: induce a dictionary, refit, repeat ``n_iter`` times or until W stops moving.

    ``x``/``y`` are normalised source/target matrices in frequency order; ``seed_pairs`` (optional) are always
    kept in the dictionary (weakly supervised refinement). ``deadline`` (a ``time.perf_counter()`` value) stops
    the loop after the first iteration that ends past it (at least one iteration always runs). Returns the
    refined W and a per-iteration history: induced ``pairs``, W's ``change`` (``||W_new - W||_F / sqrt(d)``) and, from
    the second step, the Jaccard ``overlap`` of the dictionary with the previous step's (its last entry has
    ``"stopped": "deadline"`` when the deadline cut it).
    """
    history: list[dict] = []
    previous: Optional[np.ndarray] = None
    for it in tqdm(range(n_iter), desc="refinement", disable=not progress, leave=False):
        pairs = induce_dictionary(x @ w, y, max_rank=max_rank, csls_k=csls_k, mode=mode)
        if seed_pairs is not None and len(seed_pairs):
            pairs = np.unique(np.concatenate([pairs, seed_pairs]), axis=0)
        keys = pairs[:, 0].astype(np.int64) * len(y) + pairs[:, 1]
        step = {"iter": it, "pairs": int(len(pairs))}
        if previous is not None:  # how much of the dictionary survived the last Procrustes step (Jaccard)
            common = len(np.intersect1d(keys, previous, assume_unique=True))
            step["overlap"] = common / max(1, len(keys) + len(previous) - common)
        previous = np.unique(keys)
        if len(pairs) < 2:
            history.append({**step, "change": 0.0})
            break
        w_new = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
        change = float(np.linalg.norm(w_new - w) / np.sqrt(w.shape[0]))
        w = w_new
        history.append({**step, "change": change})
        if change < tol:
            break
        if deadline is not None and it + 1 < n_iter and time.perf_counter() >= deadline:
            history[-1]["stopped"] = "deadline"
            break
    return w, history
