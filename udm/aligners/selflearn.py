"""Robust self-learning (the idea of Artetxe et al. 2018, "A robust self-learning method for fully unsupervised
cross-lingual mappings of word embeddings").

Initial dictionary without any supervision: for the ``init_rank`` most frequent words of each language, the
rows of the intra-language similarity matrix (``sqrt(X X^T)`` by default, ``X X^T`` with ``init_sqrt=False``)
are sorted, so they no longer depend on word identities; normalised, they can be compared across languages and
their CSLS nearest neighbours (both directions) form the first dictionary. Self-learning then alternates an
orthogonal Procrustes fit and dictionary induction (CSLS, source->target union target->source, among the
``vocab_cutoff`` most frequent words) with *stochastic* induction: each induced entry is kept with probability
``p``, which starts at ``p0`` and doubles whenever the objective (mean cosine of the induced pairs) has not
improved for ``patience`` iterations, until ``p = 1`` and the objective has converged.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from ..embeddings import Embeddings
from ..errors import UdmError
from ..normalize import normalize, whiten
from ..procrustes import procrustes
from ..refinement import INDUCTION_MODES, induce_dictionary, sample_pairs
from .unsupervised import UnsupervisedAligner

log = logging.getLogger(__name__)


def sorted_similarity_vectors(x: np.ndarray, *, sqrt: bool = True) -> np.ndarray:
    """Each row of ``sqrt(X X^T)`` (or ``X X^T``) sorted in decreasing order, then normalised (unit,center,unit).

    ``x`` is ``(n, d)``; the result is ``(n, n)``: call it on the few thousand most frequent words only.
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if sqrt:  # sqrt(X X^T) = U S U^T for X = U S V^T
        u, s, _ = torch.linalg.svd(xt.double(), full_matrices=False)
        m = ((u * s) @ u.T).float()
    else:
        m = xt @ xt.T
    m = torch.sort(m, dim=1, descending=True).values
    return normalize(m.numpy(), "unit,center,unit")


class SelfLearningAligner(UnsupervisedAligner):
    """Similarity-distribution initialisation + stochastic self-learning, then the shared refinement.

    ``init_rank`` words build the initial dictionary (an ``init_rank`` x ``init_rank`` matrix per language);
    ``vocab_cutoff`` words take part in each induction; ``p0``/``patience``/``p_factor`` drive the stochastic
    schedule; ``max_iter`` caps the iterations; ``induction`` is the shared induction mode (``union`` =
    bidirectional); ``tol`` is the objective improvement that counts; ``whiten=True`` runs the self-learning on
    ZCA-whitened spaces (the returned map is still the orthogonal Procrustes fit of the final dictionary in the
    normalised spaces, so that the shared refinement and the criterion apply).
    """

    name = "selflearn"
    min_words = 50

    def __init__(
        self,
        *,
        init_rank: int = 4000,
        init_sqrt: bool = True,
        vocab_cutoff: int = 20000,
        p0: float = 0.1,
        p_factor: float = 2.0,
        patience: int = 3,
        max_iter: int = 100,
        tol: float = 1e-4,
        induction: str = "union",
        whiten: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if induction not in INDUCTION_MODES:
            raise UdmError(f"selflearn: unknown induction mode {induction!r}; choose one of {', '.join(INDUCTION_MODES)}")
        if not 0 < p0 <= 1 or p_factor <= 1:
            raise UdmError(f"selflearn: need 0 < p0 <= 1 and p_factor > 1, got p0={p0}, p_factor={p_factor}")
        if init_rank < 2 or vocab_cutoff < 2 or max_iter < 1 or patience < 1:
            raise UdmError("selflearn: init_rank, vocab_cutoff, max_iter and patience must be positive")
        self.init_rank, self.init_sqrt, self.vocab_cutoff = int(init_rank), init_sqrt, int(vocab_cutoff)
        self.p0, self.p_factor, self.patience, self.max_iter, self.tol = p0, p_factor, int(patience), int(max_iter), tol
        self.induction, self.whiten = induction, whiten

    def initial_dictionary(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Pairs from the CSLS neighbours between sorted similarity rows of the ``init_rank`` top words."""
        n = min(self.init_rank, len(x), len(y))
        sx = sorted_similarity_vectors(x[:n], sqrt=self.init_sqrt)
        sy = sorted_similarity_vectors(y[:n], sqrt=self.init_sqrt)
        return induce_dictionary(sx, sy, max_rank=None, csls_k=self.csls_k, mode=self.induction)

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Initial dictionary, then stochastic self-learning; returns the Procrustes map of the final dictionary."""
        t0 = time.perf_counter()
        xc, yc = x[: self.vocab_cutoff], y[: self.vocab_cutoff]
        if self.whiten:
            xc, yc = whiten(xc), whiten(yc)
        full = self.initial_dictionary(x, y)
        init_pairs, init_seconds = int(len(full)), time.perf_counter() - t0
        p, best_obj, stall, it = self.p0, -np.inf, 0, 0
        history: list[dict[str, Any]] = []
        stopped = converged = False
        pairs = self._sample(full, p)
        bar = tqdm(total=self.max_iter, desc=f"self-learning (seed {self.run_seed})", disable=not self.progress,
                   leave=False)
        for it in range(self.max_iter):
            w = procrustes(xc[pairs[:, 0]], yc[pairs[:, 1]])
            mapped = xc @ w
            full = induce_dictionary(mapped, yc, max_rank=None, csls_k=self.csls_k, mode=self.induction)
            obj = float(np.mean(np.sum(mapped[full[:, 0]] * yc[full[:, 1]], axis=1)))
            history.append({"iter": it, "p": round(p, 4), "pairs": int(len(full)), "objective": round(obj, 5)})
            bar.update(1)
            bar.set_postfix(p=round(p, 3), objective=round(obj, 4))
            if obj > best_obj + self.tol:
                best_obj, stall = obj, 0
            else:
                stall += 1
            if stall >= self.patience:
                if p >= 1.0:
                    converged = True
                    break
                p, stall = min(1.0, p * self.p_factor), 0
            if self.out_of_time():
                stopped = True
                log.info("selflearn: time budget spent after %d iterations", it + 1)
                break
            pairs = self._sample(full, p)
        bar.close()
        # the map for the normalised spaces: Procrustes on the final (complete) dictionary
        w = procrustes(x[full[:, 0]], y[full[:, 1]])
        info = {"sl_init_pairs": init_pairs, "sl_init_seconds": round(init_seconds, 3), "sl_iterations": it + 1,
                "sl_final_p": p, "sl_objective": best_obj, "sl_converged": converged, "sl_stopped_by_time": stopped,
                "sl_final_pairs": int(len(full)), "sl_seconds": round(time.perf_counter() - t0, 3),
                "sl_history": history}
        return w, info

    def _sample(self, pairs: np.ndarray, p: float) -> np.ndarray:
        """Each dictionary entry kept with probability ``p`` (at least two entries are kept)."""
        return sample_pairs(pairs, p, self.rng)
