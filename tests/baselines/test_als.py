"""Weighted PCA's alternating least squares (npvae.baselines.als) against slow, independent anchors.

Anchors: the first implementation written out with einsum (tests/_reference.py), the objective
computed directly, np.linalg.solve, and a brute-force minimisation of chi^2 by scipy from many starts.
"""
import numpy as np
import pytest
from scipy.optimize import minimize

from _reference import weighted_pca_reference
from npvae.baselines import WeightedPCA
from npvae.baselines import als
from npvae.baselines.models import _weighted_mean
from npvae.data import infill


def problem(rng, n=80, d=20, k=3, masked=0.15):
    """Low-rank spectra-like data with noise, unequal weights and masked pixels."""
    Z = rng.normal(size=(n, k)) * np.arange(k, 0, -1)                  # (N, K)
    X = 1.0 + Z @ rng.normal(size=(k, d)) + 0.3 * rng.normal(size=(n, d))
    W = rng.uniform(0.2, 3.0, size=(n, d))
    W[rng.random((n, d)) < masked] = 0.0
    return X, W


def start(X, W, k):
    mean = _weighted_mean(X, W)
    return mean, WeightedPCA(k)._initial_components(X - mean, W)


def test_plain_alternation_follows_the_reference_iterates():
    X, W = problem(np.random.default_rng(0))
    mean, P = start(X, W, 3)
    one = als.weighted_als(X, W, mean, P, max_iter=1, tol=0.0, extrapolate=False)
    ref = weighted_pca_reference(X, W, mean, P, max_iter=1, tol=0.0)
    for a, b in zip(one[:3], ref[:3]):                                  # C, P, mean after one iteration
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    C, P1, m1, h = als.weighted_als(X, W, mean, P, max_iter=8, tol=-1.0, extrapolate=False)
    C_ref, P_ref, m_ref, h_ref = weighted_pca_reference(X, W, mean, P, max_iter=8, tol=-1.0)
    assert len(h) == len(h_ref) == 8
    # the factors may drift apart along C R, R^-1 P (same fit) by rounding; the fit may not
    np.testing.assert_allclose(m1 + C @ P1, m_ref + C_ref @ P_ref, rtol=1e-10, atol=1e-12)
    # the reference records chi^2 after the components step, npvae after the next codes step
    assert np.all(h <= h_ref * (1 + 1e-12))
    assert h[-1] == pytest.approx(als.chi2(X, W, C_ref, P_ref, m_ref), rel=1e-9)


@pytest.mark.parametrize("seed, k, atol", [(1, 3, 1e-6), (2, 3, 1e-6), (1, 5, 1e-4)])
def test_extrapolation_converges_to_the_reference_minimum_in_fewer_iterations(seed, k, atol):
    """Same chi^2 to 1e-9; the same fitted values (with k = 5 the minimum is flat along the noise)."""
    X, W = problem(np.random.default_rng(seed), masked=0.3)          # rank 3 + noise; k = 5 fits noise too
    mean, P = start(X, W, k)
    C_ref, P_ref, m_ref, h_ref = weighted_pca_reference(X, W, mean, P, max_iter=20000, tol=1e-14)
    fast = als.weighted_als(X, W, mean, P, max_iter=20000, tol=1e-14)
    plain = als.weighted_als(X, W, mean, P, max_iter=20000, tol=1e-14, extrapolate=False)
    assert len(fast[3]) < len(plain[3])
    for C, P1, m1, h in (fast, plain):
        assert h[-1] == pytest.approx(h_ref[-1], rel=1e-9)
        np.testing.assert_allclose(m1 + C @ P1, m_ref + C_ref @ P_ref, atol=atol)   # same fit, any rotation
        assert np.all(np.diff(h) <= 1e-12 * h[0])                                   # chi^2 never increases


def test_fitted_chi2_is_the_brute_force_minimum():
    """scipy's L-BFGS on chi^2(C, P, m) over all N K + K D + D numbers, 15 random starts."""
    rng = np.random.default_rng(3)
    X, W = problem(rng, n=12, d=6, k=2, masked=0.1)
    n, d, k = X.shape[0], X.shape[1], 2
    fit = WeightedPCA(k, max_iter=5000, tol=1e-15).fit(X, W)
    chi2_fit = float((W * (X - fit.reconstruct(X, W)) ** 2).sum())

    def objective(theta):
        C, P, m = theta[:n * k].reshape(n, k), theta[n * k:n * k + k * d].reshape(k, d), theta[-d:]
        R = W * (X - m - C @ P)                                                        # (N, D)
        grad = np.concatenate([(-2 * R @ P.T).ravel(), (-2 * C.T @ R).ravel(), -2 * R.sum(axis=0)])
        return float((R * (X - m - C @ P)).sum()), grad

    best = min(minimize(objective, rng.normal(size=n * k + k * d + d), jac=True, method="L-BFGS-B",
                        options={"maxiter": 20000, "gtol": 1e-12, "ftol": 1e-15}).fun for _ in range(15))
    assert chi2_fit <= best * (1 + 1e-7)
    assert chi2_fit == pytest.approx(best, rel=1e-4)


def test_chi2_from_the_normal_equations_equals_the_direct_sum():
    X, W = problem(np.random.default_rng(4))
    mean, P = start(X, W, 3)
    WX = W * X
    C, value = als.codes_step(W, WX, P, mean, (WX * X).sum(axis=1))
    assert value == pytest.approx(als.chi2(X, W, C, P, mean, rows=7), rel=1e-10)
    P2, m2, value2 = als.components_step(W, WX, (WX * X).sum(axis=0), C)
    assert value2 == pytest.approx(als.chi2(X, W, C, P2, m2), rel=1e-10)
    assert value2 <= value


def test_stacked_cholesky_equals_linalg_solve_and_falls_back_when_not_positive_definite():
    rng = np.random.default_rng(5)
    B = rng.normal(size=(50, 4, 4))
    A = B @ B.transpose(0, 2, 1)                                       # (M, K, K) SPD
    A[7] = np.diag([1.0, -2.0, 3.0, 1.0])                              # not positive definite
    b = rng.normal(size=(50, 4))
    r = als.RIDGE * np.trace(A, axis1=1, axis2=2) / 4
    expected = np.linalg.solve(A + r[:, None, None] * np.eye(4), b[..., None])[..., 0]
    np.testing.assert_allclose(als.solve_spd_stacked(A, b), expected, rtol=1e-9, atol=1e-12)
    out = np.empty_like(b)
    infill._cholesky_solve(A + r[:, None, None] * np.eye(4), b, out)   # the plain-Python body
    np.testing.assert_allclose(np.delete(out, 7, axis=0), np.delete(expected, 7, axis=0), rtol=1e-9)
    assert np.isnan(out[7]).all()
