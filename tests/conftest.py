"""Fixtures shared by the test modules."""
from __future__ import annotations

import os

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (README's ``-n auto``) each worker gets its share of the cores for torch and BLAS.

    Without it every worker would start as many threads as there are cores and they would oversubscribe them.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // workers)
    import torch

    torch.set_num_threads(threads)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return
    threadpool_limits(limits=threads)  # process-wide from here on: the worker runs only tests


@pytest.fixture(scope="module")
def one_thread():
    """For modules whose problems are tiny: one torch/BLAS thread is faster than two, and immune to a busy machine.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
    else:
        with threadpool_limits(limits=1):
            yield
    torch.set_num_threads(before)
