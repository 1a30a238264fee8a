"""Wasserstein-Procrustes (Grave, Joulin & Berthet 2019): jointly learn an orthogonal map and a matching.

1. Convex-relaxation initialisation on the ``n_init`` most frequent words: Frank-Wolfe on
   ``min_P ||Kx P - P Ky||^2`` over doubly-stochastic ``P`` (``Kx = X X^T``), each linear step an entropic
   assignment (stabilised Sinkhorn); Procrustes from the relaxed matching gives W0.
2. Stochastic alternation over the ``n_max`` most frequent words: sample a minibatch from each side, match it
   under the current W (exact assignment, or Sinkhorn for large batches / GPU), take a gradient step on
   ``||X W - P Y||^2`` and project back onto the orthogonal matrices; learning rate and batch size change per epoch.
The base class then refines the result (iterative Procrustes over the whole vocabulary).
"""
from __future__ import annotations

import time
from typing import Any, Optional

import numpy as np
import torch
from tqdm.auto import tqdm

from ..criteria import random_orthogonal
from ..embeddings import Embeddings
from ..errors import UdmError
from ..ot import as_tensor, resolve_device, sinkhorn
from ..procrustes import nearest_orthogonal
from .unsupervised import UnsupervisedAligner

RESTART_INITS = ("convex", "rotation")


def convex_init(
    x: torch.Tensor, y: torch.Tensor, *, n_iter: int = 30, eps: float = 0.05, init: Optional[torch.Tensor] = None,
    deadline: Optional[float] = None, progress: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Frank-Wolfe on the convex relaxation ``min_P ||X X^T P - P Y Y^T||^2`` (P doubly stochastic, rows of
    ``x``/``y`` matched); returns the d x d cross-covariance ``X^T P Y`` of the relaxed matching and information.

    The n x n similarity matrices are never formed: the gradient ``2 (Kx^2 P - 2 Kx P Ky + P Ky^2)`` is
    computed through ``X``/``Y`` (O(n^2 d)). ``eps`` is the entropic regularisation of each linear step,
    relative to the gradient's spread. ``init``: a d x d map whose entropic matching starts the iterations
    (None: the uniform coupling).
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise UdmError("the convex initialisation needs the same number of words on both sides")
    if init is None:
        p = torch.full((n, n), 1.0 / n, device=x.device)
    else:
        sim = (x @ init) @ y.T
        p, _, _, _ = sinkhorn(-sim / (float(sim.std()) or 1.0), eps, max_iter=100, tol=1e-3)
        del sim
    cx = x.T @ x
    cy = y.T @ y
    g_pot = None
    done = 0
    for it in tqdm(range(1, n_iter + 1), desc="convex init", disable=not progress, leave=False):
        xtp = x.T @ p  # d x n
        py = p @ y  # n x d
        grad = x @ (cx @ xtp) + (py @ cy) @ y.T - 2.0 * x @ ((xtp @ y) @ y.T)
        del xtp, py
        grad /= float(grad[:: max(1, n // 500)].std()) or 1.0
        q, _, g_pot, _ = sinkhorn(grad, eps, g=g_pot, max_iter=100, tol=1e-3)
        del grad
        step = 2.0 / (2.0 + it)
        p.mul_(1.0 - step).add_(q, alpha=step)
        del q
        done = it
        if deadline is not None and time.perf_counter() > deadline:
            break
    cross = x.T @ (p @ y)
    return cross, {"convex_iter": done}


def _matched_targets(xb: torch.Tensor, yb: torch.Tensor, exact: bool, eps: float = 0.05) -> torch.Tensor:
    """For each (mapped) source row of a minibatch, its matched target vector: exact assignment, or the
    barycentre of its row of a sharp entropic plan (stabilised Sinkhorn, ``eps`` relative to the cost's spread)."""
    sim = xb @ yb.T
    if exact:
        from scipy.optimize import linear_sum_assignment

        _, cols = linear_sum_assignment(-sim.cpu().numpy())
        return yb[torch.as_tensor(cols, device=xb.device)]
    cost = -sim / (float(sim.std()) or 1.0)
    del sim
    plan, _, _, _ = sinkhorn(cost, eps, max_iter=50, tol=1e-3)
    return (plan @ yb) * len(xb)


class WassersteinProcrustesAligner(UnsupervisedAligner):
    """Convex-relaxation init on ``n_init`` words + stochastic Wasserstein-Procrustes on ``n_max`` words.

    Defaults: ``n_init=2500``, ``init_iter=30`` Frank-Wolfe steps, ``n_max=20000``, ``n_epochs=3`` of
    ``n_iter=100`` minibatch steps, ``batch_size=500`` (x2 per epoch up to ``max_batch=1000``), ``lr=1.0``
    (halved per epoch); minibatches are matched by Sinkhorn (exact assignment on CPU for batches up to
    ``exact_max``, default 0 = never). Stops at ``time_budget``. ``restart_init``: what restarts 2..K start
    from: ``"convex"`` (default; the first start's convex initialisation, computed once per fit, so restarts
    differ only in the minibatch order, which is what spreads wp's seeds) or ``"rotation"`` (the convex
    initialisation started from a random rotation's matching).
    """

    name = "wp"
    min_words = 50

    def __init__(self, *, n_init: int = 2500, init_iter: int = 30, init_eps: float = 0.05, n_max: int = 20000,
                 n_epochs: int = 3, n_iter: int = 100, batch_size: int = 500, max_batch: int = 1000, lr: float = 1.0,
                 exact_max: int = 0, restart_init: str = "convex", **kwargs):
        super().__init__(**kwargs)
        if n_init < 2 or batch_size < 2:
            raise UdmError(f"n_init and batch_size must be at least 2, got {n_init} and {batch_size}")
        if restart_init not in RESTART_INITS:
            raise UdmError(f"wp: unknown restart_init {restart_init!r}; choose one of {', '.join(RESTART_INITS)}")
        self.restart_init = restart_init
        self._convex: Optional[tuple[np.ndarray, dict[str, Any]]] = None  # the current fit's first start
        self.n_init = int(n_init)
        self.init_iter = int(init_iter)
        self.init_eps = float(init_eps)
        self.n_max = int(n_max)
        self.n_epochs = int(n_epochs)
        self.n_iter = int(n_iter)
        self.batch_size = int(batch_size)
        self.max_batch = int(max_batch)
        self.lr = float(lr)
        self.exact_max = int(exact_max)

    def _convex_start(self, x: np.ndarray, y: np.ndarray, dev: torch.device,
                      deadline: Optional[float]) -> tuple[np.ndarray, dict[str, Any]]:
        """W0 from the convex relaxation on the top ``n_init`` words (restarts reuse the first start's unless
        ``restart_init="rotation"``, which starts the relaxation from a random rotation's matching)."""
        restart = self.run_seed != self.seed
        rotation = restart and self.restart_init == "rotation"
        if restart and not rotation and self._convex is not None:
            return self._convex[0], {**self._convex[1], "convex_reused": True}
        t0 = time.perf_counter()
        n0 = min(self.n_init, len(x), len(y))
        xi, yi = as_tensor(x[:n0], dev), as_tensor(y[:n0], dev)
        init = as_tensor(random_orthogonal(x.shape[1], self.rng), dev) if rotation else None
        cross, info = convex_init(xi, yi, n_iter=self.init_iter, eps=self.init_eps, init=init, deadline=deadline,
                                  progress=self.progress)
        del xi, yi
        w0 = nearest_orthogonal(cross.cpu().numpy())
        info.update({"init_words": n0, "convex_seconds": round(time.perf_counter() - t0, 3)})
        if not restart:  # the first start of every fit computes it afresh
            self._convex = (w0, dict(info))
        return w0, info

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Convex initialisation, then stochastic alternation of matching and orthogonal gradient steps."""
        dev = resolve_device(self.device)
        left = self.time_left()
        deadline = None if left is None else time.perf_counter() + max(left, 0.0)
        t0 = time.perf_counter()
        w0, info = self._convex_start(x, y, dev, deadline)
        w = as_tensor(w0, dev)
        nx, ny = min(self.n_max, len(x)), min(self.n_max, len(y))
        xs, ys = as_tensor(x[:nx], dev), as_tensor(y[:ny], dev)
        d = x.shape[1]
        lr, bsz = self.lr, min(self.batch_size, nx, ny)
        steps = 0
        stopped = "done"
        total = self.n_epochs * self.n_iter
        with tqdm(total=total, desc="wasserstein-procrustes", disable=not self.progress, leave=False) as bar:
            for epoch in range(self.n_epochs):
                for _ in range(self.n_iter):
                    ix = torch.as_tensor(self.rng.choice(nx, bsz, replace=False), device=dev)
                    iy = torch.as_tensor(self.rng.choice(ny, bsz, replace=False), device=dev)
                    xb = xs[ix] @ w
                    yb = ys[iy]
                    matched = _matched_targets(xb, yb, exact=bsz <= self.exact_max and dev.type == "cpu")
                    grad = xs[ix].T @ matched / bsz  # minus the gradient of ||X W - P Y||^2 / (2 bsz)
                    w = as_tensor(nearest_orthogonal((w + lr * d * grad).cpu().numpy()), dev)
                    steps += 1
                    bar.update(1)
                    if deadline is not None and time.perf_counter() > deadline:
                        stopped = "time_budget"
                        break
                if stopped == "time_budget":
                    break
                lr /= 2.0
                bsz = min(bsz * 2, self.max_batch, nx, ny)
        info.update({"wp_steps": steps, "wp_stopped": stopped, "wp_words": min(nx, ny),
                     "wp_seconds": round(time.perf_counter() - t0, 3), "device": str(dev)})
        return w.cpu().numpy(), info
