"""The training tests run on single-threaded BLAS; and the data of the noise-aware tests.

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
def sharp_data():
    """tiny_data's manifold at pixel S/N ~75 (sigma 0.02 on fluxes ~1.5), 5% zero weights:
    spectra whose own noise is small beside the noise added at S/N 3-80."""
    rng = np.random.default_rng(7)
    basis, codes = rng.normal(size=(3, 40)), rng.normal(size=(220, 3))                 # (K, D), (N, K)
    X = (1.5 + np.tanh(codes @ basis) + 0.02 * rng.normal(size=(220, 40))).astype(np.float32)
    W = np.full(X.shape, 2500.0, np.float32)
    W[rng.random(X.shape) < 0.05] = 0.0
    return X[:150], W[:150], X[150:], W[150:]
