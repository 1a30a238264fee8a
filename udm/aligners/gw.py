"""Gromov-Wasserstein alignment (Alvarez-Melis & Jaakkola 2018): match the two spaces' similarity structures.

Entropic GW between the cosine-similarity matrices of the ``n_words`` most frequent words of each side, solved
by mirror descent (each step a stabilised Sinkhorn on the linearised GW cost) with epsilon annealed from large
to small. With cosine similarities ``Cx = X X^T`` the linearised cost ``-2 Cx T Cy`` is ``-2 X (X^T T Y) Y^T``, so
the N x N similarity matrices are never formed and one step costs O(N^2 d). Coarse to fine: GW first on the
``coarse_words`` most frequent words (cheap, and on real corpora far less prone to a wrong local optimum than
GW on 5,000 words started cold), annealed from a few starting epsilons, keeping the run with the highest GW
objective, and once more on an over-centred view of the same words (kept instead when the map its coupling seeds
scores higher by the dictionary-free criterion); then on the ``n_words`` most frequent words, started from the
coarse coupling at a small epsilon.
The coupling's mutual argmax pairs give a seed dictionary -> Procrustes -> initial W, which the base class
refines over the whole vocabulary.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..embeddings import Embeddings
from ..errors import UdmError
from ..normalize import unit
from ..ot import as_tensor, coupling_pairs, epsilon_schedule, partial_sinkhorn, resolve_device, sinkhorn
from ..procrustes import procrustes
from .unsupervised import UnsupervisedAligner


EPS_STARTS = (0.5, 0.1)  # first-stage annealing starts (relative epsilon); see GromovWassersteinAligner


def gw_coupling(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps_start: float = 0.5,
    eps_end: float = 0.02,
    max_iter: int = 60,
    tol: float = 1e-4,
    sinkhorn_iter: int = 300,
    init: Optional[torch.Tensor] = None,
    mass: float = 1.0,
    deadline: Optional[float] = None,
    progress: bool = False,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Entropic GW coupling between rows of ``x`` and ``y`` (unit rows, same count) under cosine similarity.

    ``init`` is an initial d x d cross-covariance ``X^T T Y`` (None: that of the independent coupling). Epsilon
    is relative to the spread (std) of the current linearised cost and decreases geometrically over ``max_iter``
    steps; stops early when the coupling stops moving (``tol``, mean absolute change x N) or at ``deadline``.
    ``mass`` < 1 makes it partial GW: each step transports only that share of the mass (:func:`partial_sinkhorn`),
    so words with no counterpart among the other side's top words (one corpus's own domain) can stay unmatched.
    """
    n = x.shape[0]
    if y.shape[0] != n:
        raise UdmError("GW needs the same number of words on both sides")
    if not 0.0 < mass <= 1.0:
        raise UdmError(f"GW transported mass must be in (0, 1], got {mass}")
    cross = x.mean(0)[:, None] * y.mean(0)[None, :] if init is None else init
    schedule = epsilon_schedule(eps_start, eps_end, max_iter)
    g = None
    plan = None
    history: list[dict] = []
    stopped = "max_iter"
    for step, eps_rel in enumerate(tqdm(schedule, desc="gromov-wasserstein", disable=not progress, leave=False)):
        cost = -2.0 * (x @ cross) @ y.T
        sample = cost[:: max(1, n // 500)]
        scale = float(sample.std()) or 1.0
        cost /= scale
        last = step == max_iter - 1
        solve = sinkhorn if mass >= 1.0 else partial(partial_sinkhorn, mass=mass)
        new_plan, _, g, info = solve(cost, eps_rel, g=g, max_iter=sinkhorn_iter if last else sinkhorn_iter // 3,
                                     tol=1e-5 if last else 1e-3)
        del cost
        change = float("inf") if plan is None else float(torch.dist(new_plan, plan, p=1)) / 2.0
        plan = new_plan
        cross = x.T @ (plan @ y)
        history.append({"eps": round(eps_rel, 5), "change": round(change, 5), "sinkhorn_iter": info["iterations"]})
        if step >= max_iter // 2 and change < tol:
            stopped = "converged"
            break
        if deadline is not None and time.perf_counter() > deadline:
            stopped = "time_budget"
            break
    return plan, {"gw_steps": len(history), "gw_stopped": stopped, "gw_history": history}


def staged_gw_coupling(
    x: np.ndarray,
    y: np.ndarray,
    stages: Sequence[int],
    *,
    device: Optional[str | torch.device] = None,
    init: Optional[torch.Tensor] = None,
    eps_starts: Sequence[float] = (),
    views: Sequence[tuple[str, np.ndarray, np.ndarray, Sequence[float]]] = (),
    choose: Optional[Callable[[torch.Tensor], float]] = None,
    view_kwargs: Optional[dict[str, Any]] = None,
    warm: Optional[dict[str, Any]] = None,
    deadline: Optional[float] = None,
    **gw_kwargs: Any,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """:func:`gw_coupling` on the top ``stages[0]`` rows, then on each larger top-``m`` started from the previous
    stage's cross-covariance (coarse to fine).

    The first stage runs once per annealing start in ``eps_starts`` (all from ``init``; empty = once with
    ``gw_kwargs``) and keeps the coupling with the highest GW objective, the quantity GW maximises, so no
    dictionary is needed to choose; a start not begun before ``deadline`` is skipped. ``views`` adds first-stage
    runs on other inputs for the same words, ``(label, x_view, y_view, eps_starts)`` (e.g. differently centred
    rows, which can lead GW to another optimum); each view keeps its best start by its own objective, and the
    views' couplings are then compared by ``choose(coupling)`` (higher = better; default: the GW objective on
    the top rows of ``x``/``y``), as objectives of different inputs are not comparable; ``view_kwargs``
    overrides ``gw_kwargs`` for the views' runs (e.g. a shorter annealing). ``warm`` overrides
    ``gw_kwargs`` for the warm-started later stages (e.g. a short schedule from a small epsilon, which keeps what
    the first stage found). Returns the last stage's coupling and information: the last stage's as ``gw_*`` (plus
    ``gw_objective``), the earlier ones' as ``gw_coarse_*``, and each first-stage start's objective.
    """
    info: dict[str, Any] = {}
    plan = None
    for k, m in enumerate(stages):
        xt = as_tensor(x[:m], device)
        yt = as_tensor(y[:m], device)
        del plan
        plan = None
        if k == 0:
            tried: list[dict[str, Any]] = []
            winners: list[tuple[str, torch.Tensor, dict[str, Any]]] = []
            inputs = [("", xt, yt, list(eps_starts) or [gw_kwargs.get("eps_start", 0.5)])] + [
                (label, as_tensor(xv[:m], device), as_tensor(yv[:m], device), starts) for label, xv, yv, starts in views]
            for label, xv, yv, starts in inputs:
                best = -1.0
                for eps in starts:
                    if tried and deadline is not None and time.perf_counter() > deadline:
                        break
                    kwargs = {**gw_kwargs, **((view_kwargs or {}) if label else {}), "eps_start": float(eps)}
                    candidate, cand_info = gw_coupling(xv, yv, init=init, deadline=deadline, **kwargs)
                    obj = gw_objective(xv, yv, candidate)
                    tried.append({"view": label, "eps_start": float(eps), "objective": round(obj, 8),
                                  "steps": cand_info["gw_steps"]})
                    if obj > best:
                        best, view_best = obj, (label or "standard", candidate,
                                                {**cand_info, "gw_eps_start": float(eps)})
                    del candidate
                if best >= 0:
                    winners.append(view_best)
                    del view_best
            scores = [(choose or (lambda p: gw_objective(xt, yt, p)))(w[1]) for w in winners]
            pick = int(np.argmax(scores))
            label, plan, stage_info = winners[pick]
            stage_info = {**stage_info, "gw_view": label}
            if len(winners) > 1:
                info["gw_view_scores"] = ", ".join(f"{w[0]}: {sc:.6f}" for w, sc in zip(winners, scores))
            del winners
            info["gw_first_stage_starts"] = tried
            info["gw_first_stage"] = ", ".join(f"{t['view'] + ' ' if t['view'] else ''}eps {t['eps_start']:g}: "
                                               f"{t['objective']:.6f}" for t in tried)
        else:
            kwargs = {**gw_kwargs, **(warm or {})}
            plan, stage_info = gw_coupling(xt, yt, init=init, deadline=deadline, **kwargs)
        last = k == len(stages) - 1
        prefix = "gw_" if last else "gw_coarse_"
        info.update({prefix + key[3:]: v for key, v in stage_info.items()})
        info[prefix + "objective"] = gw_objective(xt, yt, plan)
        if not last:
            init = xt.T @ (plan @ yt)
    return plan, info


def overcentred(vectors: np.ndarray, n: int, factor: float) -> np.ndarray:
    """The top ``n`` of ``vectors`` (frequency order) as unit rows minus ``factor`` times the mean unit row of all
    of them, renormalised (``factor`` 1 = plain centring; above 1 over-centres)."""
    u = unit(np.asarray(vectors, dtype=np.float32))
    return unit(u[:n] - factor * u.mean(0, keepdims=True)).astype(np.float32)


def coupling_seed_pairs(plan: torch.Tensor, dim: int) -> np.ndarray:
    """A coupling's seed dictionary: its mutual-argmax pairs, or each row's argmax when those are too few for a
    ``dim``-dimensional Procrustes fit."""
    pairs = coupling_pairs(plan, mode="mutual")
    return pairs if len(pairs) >= max(10, dim // 10) else coupling_pairs(plan, mode="rows")


def gw_objective(x: torch.Tensor, y: torch.Tensor, plan: torch.Tensor) -> float:
    """``sum_ijkl Cx_ij Cy_kl T_ik T_jl = ||X^T T Y||_F^2`` for cosine similarities: the similarity structure a
    coupling preserves (higher = better match; the GW distance is a constant minus twice this)."""
    return float(((x.T @ (plan @ y)) ** 2).sum())


class GromovWassersteinAligner(UnsupervisedAligner):
    """Entropic Gromov-Wasserstein initialisation on the top ``n_words`` + Procrustes, then shared refinement.

    ``n_words`` (default 5000; 20000 is practical on a GPU via ``device="cuda"``), ``coarse_words`` (default
    2000; the first, cold-started stage; 0 = none). The first stage anneals epsilon (relative to the cost's
    spread) from each of ``eps_starts`` down to ``eps_end`` over ``max_iter`` mirror-descent steps and keeps
    the run with the highest GW objective: on real corpora which annealing start finds the translation varies
    from one pair of vector sets to the next, while the objective tells the runs apart without a dictionary.
    With ``overcentre`` A (default 1.5; 0 = off) the first stage also runs once on each side's unit rows minus A
    times their mean (over-centred: a shared offset that orders the words alike on both sides, which on some
    real spaces leads GW to the translation where plain centring does not); the two views' best couplings are
    compared by the dictionary-free criterion of the map each seeds (objectives of different inputs are not
    comparable). ``mass`` below 1 (e.g. 0.8) makes every stage partial GW: only that share of the top words'
    mass is matched, so words of a domain one corpus has and the other lacks can stay out of the coupling.
    The warm-started ``n_words`` stage anneals from ``fine_eps_start`` over ``fine_max_iter`` steps. ``tol``
    stops a stage once the coupling stops moving. Memory: a few ``n_words`` x ``n_words`` float32 matrices.
    """

    name = "gw"
    min_words = 50
    seed_free_single_start = True  # the first start is deterministic; the seed only draws restarts 2..K

    def __init__(self, *, n_words: int = 5000, coarse_words: int = 2000,
                 eps_starts: Sequence[float] = EPS_STARTS, eps_end: float = 0.02, max_iter: int = 240,
                 fine_eps_start: float = 0.05, fine_max_iter: int = 30, tol: float = 1e-4, sinkhorn_iter: int = 300,
                 overcentre: float = 1.5, mass: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if n_words < 2 or coarse_words < 0:
            raise UdmError(f"n_words must be at least 2 and coarse_words at least 0, got {n_words}, {coarse_words}")
        if isinstance(eps_starts, (int, float)):
            eps_starts = (eps_starts,)
        if not eps_starts or min(eps_starts) <= 0 or eps_end <= 0 or fine_eps_start <= 0:
            raise UdmError(f"epsilons must be positive and eps_starts non-empty, got eps_starts={eps_starts}, "
                           f"eps_end={eps_end}, fine_eps_start={fine_eps_start}")
        if overcentre < 0:
            raise UdmError(f"overcentre must be 0 (off) or positive, got {overcentre}")
        if not 0.0 < mass <= 1.0:
            raise UdmError(f"mass (the share of the top words GW matches) must be in (0, 1], got {mass}")
        if max_iter < 1 or fine_max_iter < 1:
            raise UdmError(f"max_iter and fine_max_iter must be at least 1, got {max_iter}, {fine_max_iter}")
        self.n_words = int(n_words)
        self.coarse_words = int(coarse_words)
        self.eps_starts = tuple(float(e) for e in eps_starts)
        self.eps_end = float(eps_end)
        self.max_iter = int(max_iter)
        self.fine_eps_start = float(fine_eps_start)
        self.fine_max_iter = int(fine_max_iter)
        self.tol = float(tol)
        self.sinkhorn_iter = int(sinkhorn_iter)
        self.overcentre = float(overcentre)
        self.mass = float(mass)

    def stages(self, n_available: int) -> list[int]:
        """Word counts of the GW stages on ``n_available`` words a side: [coarse_words,] n_words."""
        n = min(self.n_words, n_available)
        return ([self.coarse_words] if 2 <= self.coarse_words < n else []) + [n]

    def views(self, src: np.ndarray, tgt: np.ndarray, n: int) -> list[tuple[str, np.ndarray, np.ndarray, list[float]]]:
        """The first stage's extra input for the top ``n`` words (see :func:`staged_gw_coupling`): with
        ``overcentre`` A > 0, each side's unit rows minus A times their mean over all the words given, annealed
        from the first of ``eps_starts`` over half of ``max_iter`` steps (its starts all end alike); none when A
        is 0."""
        if not self.overcentre:
            return []
        return [(f"overcentred {self.overcentre:g}", overcentred(src, n, self.overcentre),
                 overcentred(tgt, n, self.overcentre), [self.eps_starts[0]])]

    def view_score(self, x: np.ndarray, y: np.ndarray) -> Callable[[torch.Tensor], float]:
        """How the first stage's views are compared: the criterion of the Procrustes map a coupling seeds on the
        normalised ``x``/``y`` (a dictionary-free score on the standard input, whatever view found the coupling)."""
        def score(plan: torch.Tensor) -> float:
            pairs = coupling_seed_pairs(plan, x.shape[1])
            return self.criterion(x @ procrustes(x[pairs[:, 0]], y[pairs[:, 1]]), y)
        return score

    def schedule(self) -> dict[str, Any]:
        """The keyword arguments of :func:`staged_gw_coupling` that set this aligner's annealing schedules."""
        return {"eps_starts": self.eps_starts, "eps_end": self.eps_end, "max_iter": self.max_iter, "tol": self.tol,
                "sinkhorn_iter": self.sinkhorn_iter, "mass": self.mass,
                "warm": {"eps_start": self.fine_eps_start, "max_iter": self.fine_max_iter},
                "view_kwargs": {"max_iter": max(1, self.max_iter // 2)}}

    def initialize(
        self, x: np.ndarray, y: np.ndarray, src: Embeddings, tgt: Embeddings, seed_pairs: Optional[np.ndarray]
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """GW coupling of the top ``coarse_words`` (best of the annealing starts), then of the top ``n_words``
        from it -> mutual argmax pairs -> Procrustes."""
        dev = resolve_device(self.device)
        init = None
        if self.run_seed != self.seed:  # later restarts start from a random rotation's cross-covariance
            q = torch.linalg.qr(torch.from_numpy(self.rng.standard_normal((x.shape[1], x.shape[1]))).float())[0]
            init = q.to(dev) / x.shape[1]
        left = self.time_left()
        deadline = None if left is None else time.perf_counter() + max(left, 0.0)
        t0 = time.perf_counter()
        stages = self.stages(min(len(x), len(y)))
        views = self.views(src.vectors, tgt.vectors, stages[0])
        plan, info = staged_gw_coupling(x, y, stages, device=dev, init=init, deadline=deadline, views=views,
                                        choose=self.view_score(x, y) if views else None, progress=self.progress,
                                        **self.schedule())
        info.update({"gw_words": stages[-1], "gw_stages": stages})
        pairs = coupling_seed_pairs(plan, x.shape[1])
        del plan
        w = procrustes(x[pairs[:, 0]], y[pairs[:, 1]])
        info.update({"gw_pairs": int(len(pairs)), "gw_seconds": round(time.perf_counter() - t0, 3),
                     "device": str(dev)})
        return w, info
