"""The interface every aligner shares: ``Aligner(...).fit(src, tgt) -> Mapping``.

An aligner = an initial map (from a seed dictionary, or found without one) + the shared refinement.
Subclasses implement :meth:`Aligner.initialize`; validation, normalisation, refinement and the Mapping are here.
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np

from ..embeddings import Embeddings
from ..errors import UdmError
from ..lexicon import Lexicon
from ..mapping import Mapping
from ..normalize import DEFAULT_SPEC, normalize, parse_spec
from ..refinement import refine
from ..reweighting import reweighted_final_map


def check_embeddings(src: Embeddings, tgt: Embeddings, *, min_words: int = 2) -> None:
    """One-line errors for pairs of spaces no aligner can use."""
    for name, e in (("source", src), ("target", tgt)):
        if not isinstance(e, Embeddings):
            raise UdmError(f"{name} must be a udm.Embeddings (load it with Embeddings.load(path))")
        if len(e) < min_words:
            raise UdmError(f"the {name} vocabulary has {len(e)} words; this method needs at least {min_words}")
        if not np.isfinite(e.vectors).all():
            row = int(np.where(~np.isfinite(e.vectors).all(axis=1))[0][0])
            raise UdmError(f"the {name} vectors contain NaN or inf (word {e.words[row]!r}); clean or retrain them")
    if src.dim != tgt.dim:
        raise UdmError(f"source vectors have {src.dim} dims, target {tgt.dim}: orthogonal maps need equal dimensions")


class Aligner:
    """Base class: fit on two embedding sets, return a :class:`Mapping`.

    Parameters shared by all aligners: ``normalize`` (spec applied to both spaces), ``refine_iters`` and
    ``refine_rank`` (iterative Procrustes with CSLS mutual-NN induction among the top words), ``csls_k``,
    ``seed``, ``progress`` and ``reweight`` (end with the multi-step map of :mod:`udm.reweighting` fitted on a
    dictionary induced from the refined map: whitening, re-weighting, de-whitening; it maps both spaces).
    """

    name = "aligner"
    needs_dictionary = False
    min_words = 2
    reweight_rank = 20000  # words per side in the final step's bidirectional induction

    def __init__(
        self,
        *,
        normalize: str = DEFAULT_SPEC,
        refine_iters: int = 5,
        refine_rank: int = 15000,
        csls_k: int = 10,
        seed: int = 0,
        progress: bool = True,
        reweight: bool = False,
    ):
        parse_spec(normalize)  # validate early
        self.normalize = normalize
        self.refine_iters = refine_iters
        self.refine_rank = refine_rank
        self.csls_k = csls_k
        self.seed = seed
        self.progress = progress
        self.reweight = bool(reweight)

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Return an initial W (d x d) for normalised ``x``/``y`` and information for the mapping's metadata."""
        raise NotImplementedError

    def fit(self, src: Embeddings, tgt: Embeddings, seed_dictionary: Optional[Lexicon] = None) -> Mapping:
        """Fit a map from ``src`` to ``tgt``; ``seed_dictionary`` is required by supervised aligners only."""
        check_embeddings(src, tgt, min_words=self.min_words)
        seed_pairs = None
        info: dict[str, Any] = {"method": self.name, "seed": self.seed, "normalize": self.normalize}
        if self.needs_dictionary:
            if seed_dictionary is None:
                raise UdmError(f"the {self.name} aligner needs a seed dictionary (--dict FILE, or --seed identical)")
            seed_pairs = seed_dictionary.index_pairs(src, tgt)
            cov = seed_dictionary.coverage(src, tgt)
            info["seed_coverage"] = str(cov)
            if len(seed_pairs) < 2:
                raise UdmError(f"the seed dictionary has {len(seed_pairs)} usable pairs ({cov}); check the language pair")
            info["seed_pairs"] = int(len(seed_pairs))
        start = time.perf_counter()
        x = normalize(src.vectors, self.normalize)
        y = normalize(tgt.vectors, self.normalize)
        w, init_info = self.initialize(x, y, src, tgt, seed_pairs)
        info.update(init_info)
        if self.refine_iters > 0:
            w, history = refine(x, y, w, n_iter=self.refine_iters, max_rank=self.refine_rank, csls_k=self.csls_k,
                                progress=self.progress)
            info["refinement"] = history
        mapping = self.final_mapping(x, y, w, info)
        info["fit_seconds"] = round(time.perf_counter() - start, 3)
        return mapping

    def final_mapping(self, x: np.ndarray, y: np.ndarray, w: np.ndarray, info: dict[str, Any]) -> Mapping:
        """The returned Mapping: the orthogonal ``w``, or with ``reweight`` the multi-step map fitted on the
        dictionary ``w`` induces (its size goes to ``info["reweight_pairs"]``)."""
        if not self.reweight:
            return Mapping(w, self.normalize, self.normalize, info)
        t0 = time.perf_counter()
        w_src, w_tgt, n_pairs = reweighted_final_map(x, y, w, max_rank=self.reweight_rank, csls_k=self.csls_k)
        info.update({"reweight": True, "reweight_pairs": n_pairs, "reweight_seconds": round(time.perf_counter() - t0, 3)})
        return Mapping(w_src, self.normalize, self.normalize, info, W_tgt=w_tgt, mapped_norm="unit")
