"""Shared by all tests: the tests folder on sys.path (for _reference.py) and tiny training data."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))


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
