"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest


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
