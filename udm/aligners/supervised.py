"""Supervised and weakly supervised baselines: orthogonal Procrustes (optionally refined) and RCSLS."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..procrustes import nearest_orthogonal, procrustes
from .base import Aligner


class ProcrustesAligner(Aligner):
    """Orthogonal Procrustes on a seed dictionary, then ``refine_iters`` rounds of shared refinement (0 = none)."""

    name = "procrustes"
    needs_dictionary = True

    def __init__(self, *, refine_iters: int = 0, **kwargs):
        super().__init__(refine_iters=refine_iters, **kwargs)

    def initialize(self, x, y, src, tgt, seed_pairs) -> tuple[np.ndarray, dict[str, Any]]:
        return procrustes(x[seed_pairs[:, 0]], y[seed_pairs[:, 1]]), {}


class RCSLSAligner(Aligner):
    """Relaxed CSLS loss (Joulin et al. 2018), full-batch gradient descent from the Procrustes solution.

    Minimises  -2 cos(Wx_i, y_i) + mean top-k cos(Wx_i, Y) + mean top-k cos(W X, y_i)  over the seed pairs,
    with the neighbour sets taken among the ``rcsls_rank`` most frequent words. ``orthogonal=True`` projects
    W back to the orthogonal group after each step (spectral projection).
    """

    name = "rcsls"
    needs_dictionary = True

    def __init__(self, *, epochs: int = 30, lr: float = 1.0, k: int = 10, rcsls_rank: int = 50000,
                 orthogonal: bool = False, refine_iters: int = 0, **kwargs):
        super().__init__(refine_iters=refine_iters, **kwargs)
        self.epochs, self.lr, self.k, self.rcsls_rank, self.orthogonal = epochs, lr, k, rcsls_rank, orthogonal

    def initialize(self, x, y, src, tgt, seed_pairs) -> tuple[np.ndarray, dict[str, Any]]:
        w0 = procrustes(x[seed_pairs[:, 0]], y[seed_pairs[:, 1]])
        xs = torch.from_numpy(np.ascontiguousarray(x[seed_pairs[:, 0]]))
        ys = torch.from_numpy(np.ascontiguousarray(y[seed_pairs[:, 1]]))
        xall = torch.from_numpy(np.ascontiguousarray(x[: self.rcsls_rank]))
        yall = torch.from_numpy(np.ascontiguousarray(y[: self.rcsls_rank]))
        k = min(self.k, len(xall), len(yall))
        w = torch.from_numpy(w0.copy()).requires_grad_(True)

        def loss_fn(w: torch.Tensor) -> torch.Tensor:
            mx = xs @ w
            fit = 2 * (mx * ys).sum(1)
            nn_t = (mx @ yall.T).topk(k, dim=1).values.mean(1)
            nn_s = (ys @ (xall @ w).T).topk(k, dim=1).values.mean(1)
            return (nn_t + nn_s - fit).mean()

        lr, history = self.lr, []
        best_loss, best_w = float("inf"), w0
        for _ in tqdm(range(self.epochs), desc="RCSLS", disable=not self.progress, leave=False):
            loss = loss_fn(w)
            lv = float(loss.detach())
            history.append(round(lv, 6))
            if lv < best_loss:
                best_loss, best_w = lv, w.detach().numpy().copy()
            elif lv > best_loss + 1e-6:  # overshoot: halve the step and restart from the best point
                lr /= 2
                w = torch.from_numpy(best_w.copy()).requires_grad_(True)
                if lr < 1e-4:
                    break
                continue
            (grad,) = torch.autograd.grad(loss, w)
            with torch.no_grad():
                new = w - lr * grad
                if self.orthogonal:
                    new = torch.from_numpy(nearest_orthogonal(new.numpy()))
            w = new.requires_grad_(True)
        final = float(loss_fn(w).detach())
        if final < best_loss:
            best_loss, best_w = final, w.detach().numpy().copy()
        return best_w.astype(np.float32), {"rcsls_loss": history, "rcsls_final_loss": best_loss}
