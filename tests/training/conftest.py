"""Shared fixtures of the training tests: tiny data and single-threaded kernels.

The models here have a few thousand parameters; a parallel Numba Adam pass on them costs more
in thread wake-ups than in arithmetic on a loaded 2-core machine (14 ms vs 0.1 ms per step), so
the tests run Numba and BLAS on one thread. Bit-identical resume is a same-thread-count claim.
"""
import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    numba.set_num_threads(previous)


@pytest.fixture
def tiny_data():
    """150 training and 70 validation spectra of 40 pixels with positive weights (5% zero)."""
    rng = np.random.default_rng(7)
    basis = rng.normal(size=(3, 40))                                   # (K, D)
    codes = rng.normal(size=(220, 3))                                  # (N, K)
    X = np.tanh(codes @ basis).astype(np.float32) + 0.05 * rng.normal(size=(220, 40)).astype(np.float32)
    W = rng.uniform(0.5, 2.0, size=X.shape).astype(np.float32)
    W[rng.random(X.shape) < 0.05] = 0.0
    return X[:150], W[:150], X[150:], W[150:]
