"""Fixtures shared by the test modules."""
from __future__ import annotations

import os

import pytest


def limit_threads(n: int):
    """Set torch's and BLAS's thread counts to ``n``; returns threadpoolctl's limiter (its
    ``restore_original_limits`` undoes the BLAS part), or None where threadpoolctl is missing."""
    import torch

    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return None
    return threadpool_limits(limits=n)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (README's ``-n auto``) each worker gets its share of the cores for torch and BLAS.

    Without it every worker would start as many threads as there are cores and they would oversubscribe them.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        limit_threads(max(1, cores // workers))  # process-wide from here on: the worker runs only tests


@pytest.fixture(scope="module")
def one_thread():
    """For modules whose problems are tiny: one torch/BLAS thread is faster than two, and immune to a busy machine.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    limiter = limit_threads(1)
    yield
    if limiter is not None:
        limiter.restore_original_limits()
    torch.set_num_threads(before)
