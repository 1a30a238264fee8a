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

from ..embeddings import Embeddings
from ..errors import UdmError
from ..normalize import normalize
from ..refinement import induce_dictionary
from ..self_learning import SelfLearningSchedule, stochastic_self_learning
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
    normalised spaces, so that the shared refinement and the criterion apply); ``stochastic_cutoff`` (optional)
    induces among fewer top words while the keep-probability is below 1 (``udm.self_learning``).
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
        stochastic_cutoff: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if init_rank < 2:
            raise UdmError("selflearn: init_rank must be at least 2")
        self.init_rank, self.init_sqrt = int(init_rank), init_sqrt
        self.schedule = SelfLearningSchedule(vocab_cutoff=int(vocab_cutoff), p0=p0, p_factor=p_factor,
                                             patience=int(patience), max_iter=int(max_iter), tol=tol,
                                             induction=induction, whiten=whiten,
                                             stochastic_cutoff=None if stochastic_cutoff is None else int(stochastic_cutoff))

    def search_self_learnings(self) -> int:
        """Every restart of the search is a self-learning run (the time budget holds one more back for the null)."""
        return self.restarts

    def learned_schedule(self, meta: dict[str, Any]) -> SelfLearningSchedule:
        """Every run of this aligner is self-learned, by its own schedule: the failure check's null repeats it."""
        return self.schedule

    def initial_dictionary(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Pairs from the CSLS neighbours between sorted similarity rows of the ``init_rank`` top words."""
        n = min(self.init_rank, len(x), len(y))
        sx = sorted_similarity_vectors(x[:n], sqrt=self.init_sqrt)
        sy = sorted_similarity_vectors(y[:n], sqrt=self.init_sqrt)
        return induce_dictionary(sx, sy, max_rank=None, csls_k=self.csls_k, mode=self.schedule.induction)

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Initial dictionary, then stochastic self-learning; returns the Procrustes map of the final dictionary."""
        t0 = time.perf_counter()
        pairs = self.initial_dictionary(x, y)
        init_pairs, init_seconds = int(len(pairs)), time.perf_counter() - t0
        w, info = stochastic_self_learning(x, y, pairs, self.schedule, self.rng, csls_k=self.csls_k,
                                           out_of_time=self.out_of_time, progress=self.progress,
                                           desc=f"self-learning (seed {self.run_seed})")
        if info["sl_stopped_by_time"]:
            log.info("selflearn: time budget spent after %d iterations", info["sl_iterations"])
        info.update({"sl_init_pairs": init_pairs, "sl_init_seconds": round(init_seconds, 3),
                     "sl_seconds": round(time.perf_counter() - t0, 3)})
        return w, info
