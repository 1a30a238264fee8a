"""Optimal-transport helpers shared by the OT aligners: stabilised Sinkhorn, epsilon schedules, couplings -> pairs.

Everything works on torch tensors (CPU or GPU) in float32; an n x m problem keeps at most a few n x m
matrices in memory. Costs are arbitrary real matrices; ``eps`` is in the same units as the cost.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import torch

from .errors import UdmError


def as_tensor(x, device: Optional[str | torch.device] = None) -> torch.Tensor:
    """A float32 torch tensor on ``device`` (default CPU) from a numpy array or tensor."""
    if isinstance(x, torch.Tensor):
        return x.to(device=device or x.device, dtype=torch.float32)
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device or "cpu")


def resolve_device(device: Optional[str]) -> torch.device:
    """A torch device from a user string (None -> CPU), with a clear error when it is not usable."""
    if device is None or device == "":
        return torch.device("cpu")
    try:
        dev = torch.device(device)
        torch.zeros(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise UdmError(f"device {device!r} is not usable here ({str(exc).splitlines()[0]}); use --device cpu") from None
    return dev


def epsilon_schedule(eps_start: float, eps_end: float, n_steps: int) -> list[float]:
    """``n_steps`` epsilons decreasing geometrically from ``eps_start`` to ``eps_end`` (annealing)."""
    if eps_start <= 0 or eps_end <= 0:
        raise UdmError(f"entropic regularisation must be positive, got {eps_start} -> {eps_end}")
    if n_steps <= 1:
        return [float(eps_end)]
    r = (eps_end / eps_start) ** (1.0 / (n_steps - 1))
    return [float(eps_start * r**i) for i in range(n_steps)]


def _balanced_kernel(
    cost: torch.Tensor, g: torch.Tensor, eps: float, a: torch.Tensor, b: torch.Tensor, log_a: torch.Tensor,
    log_b: torch.Tensor, out: Optional[torch.Tensor] = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One exact log-domain update of each potential (rows from ``g``, then columns) and the kernel
    ``exp((f_i + g_j - C_ij) / eps)`` they give, written into ``out``: ``(f, g, kernel)``.

    The row update is a log-sum-exp; the column update is read off the row-normalised kernel (its entries are at
    most 1, the row weights ``a_i``), one matrix-vector product instead of a second log-sum-exp over the matrix,
    unless a column's mass underflows there, when the column log-sum-exp is taken exactly.
    """
    kernel = torch.sub(g[None, :], cost, out=out).div_(eps)  # (g_j - C_ij) / eps
    row_max = kernel.amax(dim=1, keepdim=True)
    kernel.sub_(row_max).exp_()
    row_sum = kernel.sum(dim=1)
    f = eps * (log_a - row_max.squeeze(1) - torch.log(row_sum))
    weights = a / row_sum  # kernel * weights[:, None] = exp((f_i + g_j - C_ij) / eps): rows sum to a
    col_mass = kernel.T @ weights
    if bool((col_mass > 1e-30).all()):
        g = g + eps * (log_b - torch.log(col_mass))
        kernel.mul_(weights[:, None]).mul_((b / col_mass)[None, :])
        return f, g, kernel
    g = eps * (log_b - torch.logsumexp((f[:, None] - cost) / eps, dim=0))
    torch.sub(f[:, None] + g[None, :], cost, out=kernel).div_(eps).exp_()
    return f, g, kernel


def sinkhorn(
    cost: torch.Tensor,
    eps: float,
    *,
    a: Optional[torch.Tensor] = None,
    b: Optional[torch.Tensor] = None,
    f: Optional[torch.Tensor] = None,
    g: Optional[torch.Tensor] = None,
    max_iter: int = 1000,
    tol: float = 1e-5,
    check_every: int = 10,
    absorb_at: float = 1e4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Entropic OT, stabilised: returns ``(plan, f, g, info)`` with plan = exp((f_i + g_j - C_ij) / eps).

    Log-domain potentials ``f``/``g`` (warm-startable) absorb the scalings whenever they grow past ``absorb_at``,
    so small ``eps`` never overflows (Schmitzer 2019); between absorptions the iterations are cheap matrix-vector
    products on one kernel matrix. ``a``/``b`` default to uniform marginals; ``tol`` is the L1 marginal error.
    """
    n, m = cost.shape
    dev = cost.device
    a = torch.full((n,), 1.0 / n, device=dev) if a is None else a
    b = torch.full((m,), 1.0 / m, device=dev) if b is None else b
    g = torch.zeros(m, device=dev) if g is None else g.clone()
    log_a, log_b = torch.log(a), torch.log(b)
    # one exact log-domain update of each potential: every row and column of the kernel is then well scaled
    f, g, kernel = _balanced_kernel(cost, g, eps, a, b, log_a, log_b)
    u = torch.ones(n, device=dev)
    v = torch.ones(m, device=dev)
    err = float("inf")
    it = 0
    absorptions = 0
    for it in range(1, max_iter + 1):
        kv = kernel @ v
        u = a / kv.clamp_min(1e-30)
        ktu = kernel.T @ u
        v = b / ktu.clamp_min(1e-30)
        lo, hi = torch.aminmax(torch.cat([u, v]))
        lo, hi = float(lo), float(hi)
        if hi > absorb_at or lo < 1.0 / absorb_at or not math.isfinite(hi):
            f = f + eps * torch.log(u.clamp_min(1e-30))
            g = g + eps * torch.log(v.clamp_min(1e-30))
            f, g, kernel = _balanced_kernel(cost, g, eps, a, b, log_a, log_b, out=kernel)
            u.fill_(1.0)
            v.fill_(1.0)
            absorptions += 1
            continue
        if it % check_every == 0:
            err = float((u * (kernel @ v) - a).abs().sum())
            if err < tol:
                break
    f = f + eps * torch.log(u.clamp_min(1e-30))
    g = g + eps * torch.log(v.clamp_min(1e-30))
    kernel.mul_(u[:, None]).mul_(v[None, :])
    if not (bool(torch.isfinite(f).all()) and bool(torch.isfinite(g).all())):
        raise UdmError("Sinkhorn diverged (non-finite transport plan); increase epsilon")
    return kernel, f, g, {"iterations": it, "marginal_error": err, "absorptions": absorptions}


def partial_sinkhorn(
    cost: torch.Tensor, eps: float, *, mass: float, g: Optional[torch.Tensor] = None, **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    """Entropic partial OT between uniform marginals: a plan of total ``mass`` (0 < mass <= 1) whose rows and
    columns sum to at most 1/n and 1/m, as :func:`sinkhorn` on the cost with one dummy row and column (cost 0)
    that take the untransported ``1 - mass`` of each side, the dummy-to-dummy cell forbidden (Chapel et al. 2020).

    Returns ``(plan, f, g, info)`` like :func:`sinkhorn`, the plan without the dummy row and column; ``g`` (the
    column potentials, dummy included: m + 1 values) warm-starts the next call.
    """
    if not 0.0 < mass <= 1.0:
        raise UdmError(f"transported mass must be in (0, 1], got {mass}")
    n, m = cost.shape
    dev = cost.device
    big = float(cost.abs().max()) * 10.0 + 1.0
    padded = torch.zeros(n + 1, m + 1, device=dev, dtype=cost.dtype)
    padded[:n, :m] = cost
    padded[n, m] = big
    rest = torch.tensor([1.0 - mass + 1e-12], device=dev)
    a = torch.cat([torch.full((n,), 1.0 / n, device=dev), rest])
    b = torch.cat([torch.full((m,), 1.0 / m, device=dev), rest])
    plan, f, g, info = sinkhorn(padded, eps, a=a, b=b, g=g, **kwargs)
    return plan[:n, :m], f[:n], g, info


def sinkhorn_cost(cost: torch.Tensor, eps: float, *, max_iter: int = 1000, tol: float = 1e-5) -> float:
    """Entropic OT transport cost <P, C> between uniform marginals (the plan is computed by :func:`sinkhorn`)."""
    plan, _, _, _ = sinkhorn(cost, eps, max_iter=max_iter, tol=tol)
    return float((plan * cost).sum())


def coupling_pairs(plan: torch.Tensor | np.ndarray, *, mode: str = "mutual") -> np.ndarray:
    """Index pairs ``(i, j)`` read off a transport plan: ``mutual`` (row and column argmax agree) or ``rows``."""
    p = as_tensor(plan) if not isinstance(plan, torch.Tensor) else plan
    row_best = p.argmax(dim=1)
    i = torch.arange(p.shape[0], device=p.device)
    if mode == "rows":
        keep = torch.ones_like(i, dtype=torch.bool)
    elif mode == "mutual":
        col_best = p.argmax(dim=0)
        keep = col_best[row_best] == i
    else:
        raise UdmError(f"unknown coupling read-out {mode!r}; choose mutual or rows")
    return torch.stack([i[keep], row_best[keep]], dim=1).cpu().numpy().astype(np.int64)
