"""``auto``: try the cheap unsupervised initialisations, keep the one the dictionary-free criterion prefers.

Candidates: Gromov-Wasserstein (``gw``), Wasserstein-Procrustes (``wp``), robust self-learning's initialisation
(``selflearn``, when installed) and, only with ``include_adversarial=True``, the adversarial one. Each candidate's
initial W first gets ``select_refine_iters`` steps of the shared refinement and is then scored by the criterion:
the candidates' raw initialisations are not comparable (self-learning's is already converged, GW's is a rough
seed that refinement lifts far more), their briefly refined maps are. The best is refined further by the shared
refinement. Every candidate's score and time are recorded in the mapping's metadata (``candidates``).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

import numpy as np
import torch

from ..embeddings import Embeddings
from ..errors import UdmError
from ..refinement import refine
from .unsupervised import UnsupervisedAligner

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES = ("gw", "wp", "selflearn")
SHARED_PARAMS = ("normalize", "refine_iters", "refine_rank", "csls_k", "seed", "progress", "device", "criterion_words")


class AutoAligner(UnsupervisedAligner):
    """Run each of ``candidates`` (default gw, wp, selflearn; plus adversarial with ``include_adversarial``) once,
    briefly refine each initial map (``select_refine_iters``), keep the one with the best criterion, refine it. ``method_params`` maps a candidate name to extra
    keyword parameters for that aligner (e.g. ``{"gw": {"n_words": 3000}}``). Unavailable candidates are skipped.
    """

    name = "auto"
    min_words = 50

    def __init__(self, *, candidates: Optional[tuple[str, ...] | list[str]] = None, include_adversarial: bool = False,
                 method_params: Optional[dict[str, dict[str, Any]]] = None, select_refine_iters: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.select_refine_iters = max(0, int(select_refine_iters))
        names = list(candidates) if candidates else list(DEFAULT_CANDIDATES)
        if include_adversarial and "adversarial" not in names:
            names.append("adversarial")
        if "auto" in names:
            raise UdmError("the auto aligner cannot be one of its own candidates")
        self.candidates = names
        self.method_params = dict(method_params or {})
        self.candidate_results: list[dict[str, Any]] = []

    def learned_schedule(self, meta: dict[str, Any]):
        """A kept ``selflearn`` start was self-learned by that candidate's schedule; otherwise as any aligner."""
        if meta.get("chosen") == "selflearn":
            return self._build("selflearn").schedule
        return super().learned_schedule(meta)

    def _build(self, name: str) -> Optional[UnsupervisedAligner]:
        from . import aligner_class  # late import: the registry imports this module lazily

        try:
            cls = aligner_class(name)
        except UdmError as exc:
            log.info("auto: candidate %s skipped (%s)", name, exc)
            return None
        if not issubclass(cls, UnsupervisedAligner):
            raise UdmError(f"auto: {name!r} is not an unsupervised aligner")
        params = {k: getattr(self, k) for k in SHARED_PARAMS}
        params.update(self.method_params.get(name, {}))
        return cls(**params)

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Each candidate's initialisation, scored by the criterion; returns the best W and every score."""
        best_w, best_name, best_score, best_info = None, None, -np.inf, {}
        results: list[dict[str, Any]] = []
        for name in self.candidates:
            if best_w is not None and self.out_of_time():
                results.append({"method": name, "skipped": "time_budget"})
                continue
            aligner = self._build(name)
            if aligner is None:
                results.append({"method": name, "skipped": "not available"})
                continue
            aligner.run_seed = self.run_seed
            aligner.rng = np.random.default_rng(self.run_seed)
            aligner._deadline = self._deadline
            torch.manual_seed(self.run_seed)
            t0 = time.perf_counter()
            w, info = aligner.initialize(x, y, src, tgt, None)
            if self.select_refine_iters:
                w, _ = refine(x, y, w, n_iter=self.select_refine_iters, max_rank=self.refine_rank, csls_k=self.csls_k)
            score = self.criterion(x @ w, y)
            results.append({"method": name, "criterion": float(score), "seconds": round(time.perf_counter() - t0, 3)})
            log.info("auto: %s initial criterion %.4f", name, score)
            if score > best_score:
                best_w, best_name, best_score, best_info = w, name, score, info
        if best_w is None:
            raise UdmError(f"auto: none of the candidate methods ({', '.join(self.candidates)}) is available")
        self.candidate_results = results
        flat = {f"{r['method']}_criterion": r["criterion"] for r in results if "criterion" in r}
        info = {f"chosen_{k}": v for k, v in best_info.items() if isinstance(v, (int, float, str, bool))}
        return best_w, {"chosen": best_name, "candidates": results, **flat, **info}
