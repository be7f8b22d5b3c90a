"""The fused weighted multiplicative updates against their NumPy reference (nmf_step)."""
import numba
import numpy as np

from npvae.baselines import WeightedNMF
from npvae.baselines.models import nmf_objective, nmf_step
from npvae.baselines.weighted_mu import h_statistics, update_codes


def _problem(seed, n=70, d=40, k=3):
    rng = np.random.default_rng(seed)
    X = np.abs(rng.normal(1.0, 0.5, (n, d)))                            # (N, D)
    W = rng.uniform(0.0, 2.0, (n, d))                                   # (N, D)
    W[rng.random((n, d)) < 0.1] = 0.0                                   # masked pixels
    C, H = rng.uniform(0.1, 1.0, (n, k)), rng.uniform(0.1, 1.0, (k, d))
    return X, W, C, H


def test_fused_iterations_follow_the_numpy_updates():
    """Thirty fused iterations give the NumPy updates' C, H and chi^2 (rounding only)."""
    X, W, C, H = _problem(0)
    C_ref, H_ref = C.copy(), H.copy()
    _, num, den = h_statistics(X, W, C, H)
    for _ in range(30):
        H = H * num / (den + 1e-12)
        update_codes(X, W, C, H, 1e-12)
        chi2, num, den = h_statistics(X, W, C, H)
        C_ref, H_ref = nmf_step(X, W, C_ref, H_ref)
    np.testing.assert_allclose(H, H_ref, rtol=1e-10)
    np.testing.assert_allclose(C, C_ref, rtol=1e-10)
    assert abs(chi2 - nmf_objective(X, W, C_ref, H_ref)) <= 1e-10 * chi2


def test_h_statistics_against_dense_products():
    X, W, C, H = _problem(1, n=5)                  # fewer rows than blocks
    chi2, num, den = h_statistics(X, W, C, H)
    np.testing.assert_allclose(num, C.T @ (W * X), rtol=1e-12)
    np.testing.assert_allclose(den, C.T @ (W * (C @ H)), rtol=1e-12)
    np.testing.assert_allclose(chi2, (W * (X - C @ H) ** 2).sum(), rtol=1e-12)


def test_weighted_nmf_same_numbers_on_one_or_two_threads():
    X, W, _, _ = _problem(2, n=200)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = WeightedNMF(3, max_iter=20, tol=0, rng=0).fit(X, W)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = WeightedNMF(3, max_iter=20, tol=0, rng=0).fit(X, W)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one.components_, two.components_)
    assert one.objective_history_ == two.objective_history_


def test_h_statistics_does_not_depend_on_memory_alignment():
    """The same rows at another address give the same sums bit for bit (fixed summation order)."""
    X, W, C, H = _problem(3, n=50, d=37)
    buf = np.empty(X.size + 1)
    X_shifted = buf[1:].reshape(X.shape)           # 8 bytes off the original alignment
    X_shifted[:] = X
    a, b = h_statistics(X, W, C, H), h_statistics(X_shifted, W, C, H)
    assert a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
