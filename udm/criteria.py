"""Dictionary-free model selection: scores that rank mappings without any gold pairs (higher = better)."""
from __future__ import annotations

import numpy as np

from .retrieval import retrieve


def muse_criterion(mapped_src: np.ndarray, tgt: np.ndarray, *, n_words: int = 10000, csls_k: int = 10) -> float:
    """Mean cosine between the ``n_words`` most frequent mapped source words and their CSLS translations
    among the same number of target words (Conneau et al. 2018). Inputs are unit-length rows."""
    xs = mapped_src[:n_words]
    ys = tgt[:n_words]
    idx, _ = retrieve(xs, ys, k=1, method="csls", csls_k=csls_k)
    return float(np.mean(np.sum(xs * ys[idx[:, 0]], axis=1)))
