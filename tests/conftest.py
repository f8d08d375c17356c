"""Shared fixtures."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread for a module's tests (restored afterwards). The tiny models here gain
    nothing from 2 threads, and on a shared 2-core CPU every eager op of a 2-thread run waits at an OpenMP
    barrier whenever another process holds a core (measured: such modules ran ~3x faster with 1 thread)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
