"""Cross-lingual retrieval: nearest neighbour, CSLS and inverted softmax, computed in row blocks.

Memory stays bounded by ``block`` x (number of targets) floats whatever the vocabulary sizes, so
200k x 200k retrieval runs in a few GB. Inputs are expected to be unit-length rows (cosine similarity);
faiss is used for the k-NN averages when it is installed, torch matrix products otherwise.
"""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from .errors import UdmError

METHODS = ("nn", "csls", "isf")
DEFAULT_BLOCK = 1024

try:  # optional accelerator for exact inner-product k-NN
    import faiss  # type: ignore

    HAVE_FAISS = True
except Exception:  # pragma: no cover - depends on the environment
    faiss = None
    HAVE_FAISS = False


def _tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="rows", disable=not enabled, leave=False)


def _check(q: np.ndarray, t: np.ndarray) -> None:
    if q.ndim != 2 or t.ndim != 2:
        raise UdmError("retrieval needs two 2-D matrices (words x dims)")
    if q.shape[1] != t.shape[1]:
        raise UdmError(f"dimension mismatch: queries have {q.shape[1]} dims, targets {t.shape[1]}; map the source space first")
    if len(t) == 0 or len(q) == 0:
        raise UdmError("retrieval needs at least one query and one target vector")


def knn_mean_similarity(
    queries: np.ndarray, keys: np.ndarray, k: int = 10, *, block: int = DEFAULT_BLOCK, progress: bool = False
) -> np.ndarray:
    """Mean similarity of each query row to its ``k`` most similar key rows (CSLS's r term)."""
    _check(queries, keys)
    k = min(k, len(keys))
    out = np.empty(len(queries), dtype=np.float32)
    if HAVE_FAISS:
        index = faiss.IndexFlatIP(keys.shape[1])
        index.add(np.ascontiguousarray(keys, dtype=np.float32))
    else:
        kt = _tensor(keys)
    with _progress(len(queries), "k-NN means", progress) as bar:
        for start in range(0, len(queries), block):
            qb = np.ascontiguousarray(queries[start : start + block], dtype=np.float32)
            if HAVE_FAISS:
                sims, _ = index.search(qb, k)
                out[start : start + len(qb)] = sims.mean(axis=1)
            else:
                sims = _tensor(qb) @ kt.T
                out[start : start + len(qb)] = sims.topk(k, dim=1).values.mean(dim=1).numpy()
            bar.update(len(qb))
    return out


def _column_logsumexp(
    pool: np.ndarray, targets: np.ndarray, beta: float, *, block: int, progress: bool
) -> np.ndarray:
    """log sum_s exp(beta * cos(s, t)) over every source row s, for each target t (inverted softmax)."""
    tt = _tensor(targets)
    acc = torch.full((len(targets),), -float("inf"))
    with _progress(len(pool), "softmax norms", progress) as bar:
        for start in range(0, len(pool), block):
            sims = beta * (_tensor(pool[start : start + block]) @ tt.T)
            acc = torch.logaddexp(acc, torch.logsumexp(sims, dim=0))
            bar.update(min(block, len(pool) - start))
    return acc.numpy()


def score_blocks(
    queries: np.ndarray,
    targets: np.ndarray,
    *,
    method: str = "csls",
    csls_k: int = 10,
    source_pool: Optional[np.ndarray] = None,
    isf_beta: float = 30.0,
    block: int = DEFAULT_BLOCK,
    progress: bool = False,
    target_r: Optional[np.ndarray] = None,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, scores)`` for consecutive blocks of query rows; ``scores`` is ``(block, n_targets)``.

    ``method``: ``"nn"`` (cosine), ``"csls"`` (2cos - r_query - r_target, Conneau et al. 2018) or ``"isf"``
    (inverted softmax, Smith et al. 2017). The target-side hubness term is computed against
    ``source_pool`` (default: the queries themselves), normally the whole mapped source vocabulary.
    ``target_r`` lets callers reuse a precomputed CSLS target term.
    """
    if method not in METHODS:
        raise UdmError(f"unknown retrieval method {method!r}; choose one of {', '.join(METHODS)}")
    _check(queries, targets)
    pool = queries if source_pool is None else source_pool
    tt = _tensor(targets)
    col_term = None
    if method == "csls":
        r_t = target_r if target_r is not None else knn_mean_similarity(targets, pool, csls_k, block=block, progress=progress)
        col_term = torch.from_numpy(np.asarray(r_t, dtype=np.float32))
    elif method == "isf":
        col_term = torch.from_numpy(_column_logsumexp(pool, targets, isf_beta, block=block, progress=progress))
    kq = min(csls_k, len(targets))
    with _progress(len(queries), f"retrieval ({method})", progress) as bar:
        for start in range(0, len(queries), block):
            sims = _tensor(queries[start : start + block]) @ tt.T
            if method == "csls":
                r_q = sims.topk(kq, dim=1).values.mean(dim=1, keepdim=True)
                sims.mul_(2).sub_(r_q).sub_(col_term)
            elif method == "isf":
                sims.mul_(isf_beta).sub_(col_term)
            yield start, sims
            bar.update(len(sims))


def retrieve(queries: np.ndarray, targets: np.ndarray, *, k: int = 10, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` targets for each query row: ``(indices, scores)``, both ``(n_queries, k)``, best first.

    Keyword arguments are those of :func:`score_blocks` (method, csls_k, source_pool, block, ...).
    """
    k = min(k, len(targets))
    idx_out = np.empty((len(queries), k), dtype=np.int64)
    score_out = np.empty((len(queries), k), dtype=np.float32)
    for start, sims in score_blocks(queries, targets, **kwargs):
        top = sims.topk(k, dim=1)
        idx_out[start : start + len(sims)] = top.indices.numpy()
        score_out[start : start + len(sims)] = top.values.numpy()
    return idx_out, score_out


def gold_ranks(queries: np.ndarray, targets: np.ndarray, golds: Sequence[Sequence[int]], **kwargs) -> np.ndarray:
    """1-based rank of the best-scored gold target for each query (exact, for MRR); kwargs as :func:`score_blocks`."""
    ranks = np.empty(len(queries), dtype=np.int64)
    for start, sims in score_blocks(queries, targets, **kwargs):
        for row in range(len(sims)):
            g = torch.as_tensor(list(golds[start + row]), dtype=torch.long)
            best = sims[row, g].max()
            ranks[start + row] = int((sims[row] > best).sum()) + 1
    return ranks


def best_matches_both_ways(
    src: np.ndarray, tgt: np.ndarray, *, method: str = "csls", csls_k: int = 10, block: int = DEFAULT_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """Each source row's best target and each target row's best source: ``(fwd, bwd)``.

    The same as ``retrieve(src, tgt, k=1)`` and ``retrieve(tgt, src, k=1)`` (CSLS is symmetric: both directions
    rank one score matrix, row-wise and column-wise) in two passes over ``src @ tgt.T`` instead of four: the
    first collects both sides' k-NN means, the second both arg-maxes, row blocks at a time (memory as
    :func:`score_blocks`). ``method`` is ``nn`` or ``csls``.
    """
    if method not in ("nn", "csls"):
        fwd, _ = retrieve(src, tgt, k=1, method=method, csls_k=csls_k, block=block)
        bwd, _ = retrieve(tgt, src, k=1, method=method, csls_k=csls_k, block=block)
        return fwd[:, 0], bwd[:, 0]
    _check(src, tgt)
    tt = _tensor(tgt)
    n_src, n_tgt = len(src), len(tgt)
    r_src = torch.zeros(n_src)
    r_tgt = torch.zeros(n_tgt)
    if method == "csls":  # pass 1: mean similarity of each row to its k nearest rows on the other side
        ks, kt = min(csls_k, n_tgt), min(csls_k, n_src)
        col_top = torch.full((0, n_tgt), -float("inf"))
        for start in range(0, n_src, block):
            sims = _tensor(src[start : start + block]) @ tt.T
            r_src[start : start + len(sims)] = sims.topk(ks, dim=1).values.mean(dim=1)
            merged = torch.cat([col_top, sims], dim=0)
            col_top = merged.topk(min(kt, len(merged)), dim=0).values
        r_tgt = col_top.mean(dim=0)
    fwd = np.empty(n_src, dtype=np.int64)
    col_best = torch.full((n_tgt,), -float("inf"))
    col_arg = torch.zeros(n_tgt, dtype=torch.long)
    for start in range(0, n_src, block):  # pass 2: arg-max of each row and, across blocks, of each column
        sims = _tensor(src[start : start + block]) @ tt.T
        if method == "csls":
            sims.mul_(2).sub_(r_src[start : start + len(sims), None]).sub_(r_tgt)
        fwd[start : start + len(sims)] = sims.argmax(dim=1).numpy()
        val, arg = sims.max(dim=0)
        better = val > col_best  # strict: the earliest (most frequent) source wins ties, as argmax does
        col_best = torch.where(better, val, col_best)
        col_arg = torch.where(better, arg + start, col_arg)
    return fwd, col_arg.numpy().astype(np.int64)


def mutual_nearest_pairs(
    src: np.ndarray, tgt: np.ndarray, *, method: str = "csls", csls_k: int = 10, block: int = DEFAULT_BLOCK
) -> np.ndarray:
    """Pairs ``(i, j)`` where target j is source i's best match and source i is target j's best match."""
    fwd, bwd = best_matches_both_ways(src, tgt, method=method, csls_k=csls_k, block=block)
    i = np.arange(len(src))
    keep = bwd[fwd] == i
    return np.stack([i[keep], fwd[keep]], axis=1)
