"""Shared fixtures of the training tests: tiny data and single-threaded BLAS.

The models here have a few thousand parameters, too small for two BLAS threads to pay off on a
loaded 2-core machine. Bit-identical resume is a same-thread-count claim.
"""
import numpy as np
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    with threadpool_limits(limits=1):
        yield


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
