"""Iterative-PCA infill: recovers masked pixels of low-rank data; the fast eigen-solver agrees."""
import numpy as np
import pytest

from npvae.data import infill
from npvae.data.infill import basis_infill, iterative_pca_infill, top_eigenvectors
from npvae.utils import NpvaeError


def _low_rank(rng, n=1500, d=120, rank=6, noise=0.01):
    clean = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, d)) + 3.0     # (N, D)
    return clean, clean + noise * rng.standard_normal((n, d))


def test_infill_recovers_masked_pixels_of_low_rank_data():
    rng = np.random.default_rng(6)
    clean, noisy = _low_rank(rng)
    mask = rng.random(clean.shape) < 0.1
    mask[:50, 30:60] = True                                     # contiguous gaps too
    filled = iterative_pca_infill(np.where(mask, np.nan, noisy), mask, n_ev=6, n_iter=20, rng=0)
    err = np.sqrt(np.mean((filled - clean)[mask] ** 2))
    mean_fill_err = np.sqrt(np.mean((clean - clean.mean(axis=0))[mask] ** 2))
    assert err < 0.05 and err < 0.02 * mean_fill_err, (err, mean_fill_err)
    np.testing.assert_array_equal(filled[~mask], noisy[~mask].astype(np.float32))
    assert np.isfinite(filled).all()


def test_randomized_eigenvectors_span_the_exact_ones():
    rng = np.random.default_rng(7)
    _, X = _low_rank(rng, n=800, d=200, rank=12, noise=0.05)
    mu = X.mean(axis=0)
    exact, _ = top_eigenvectors(X, mu, 10, method="eigh")
    fast, _ = top_eigenvectors(X, mu, 10, method="randomized", rng=0)
    overlap = np.linalg.svd(exact.T @ fast, compute_uv=False)   # cosines of principal angles
    assert overlap.min() > 0.999


def test_no_mask_is_a_no_op():
    X = np.random.default_rng(8).normal(size=(30, 20))
    out = iterative_pca_infill(X, np.zeros_like(X, bool))
    np.testing.assert_array_equal(out, X.astype(np.float32))


def test_basis_of_one_sample_fills_new_spectra():
    rng = np.random.default_rng(9)
    clean, noisy = _low_rank(rng, n=3000)
    mask = rng.random(clean.shape) < 0.1
    mask[::7, 40:70] = True
    fit, new = slice(0, 1500), slice(1500, 3000)              # basis from the first half only
    filled, mu, V = iterative_pca_infill(np.where(mask, np.nan, noisy)[fit], mask[fit], n_ev=6, n_iter=20,
                                         rng=0, return_basis=True)
    np.testing.assert_array_equal(filled, iterative_pca_infill(noisy[fit], mask[fit], n_ev=6, n_iter=20, rng=0))
    again = basis_infill(np.where(mask, np.nan, noisy)[fit], mask[fit], mu, V)
    np.testing.assert_allclose(again, filled, atol=1e-4)     # the last iteration's fill, in one step
    other = basis_infill(np.where(mask, np.nan, noisy)[new], mask[new], mu, V)
    err = np.sqrt(np.mean((other - clean[new])[mask[new]] ** 2))
    assert err < 0.05, err
    np.testing.assert_array_equal(other[~mask[new]], noisy[new][~mask[new]].astype(np.float32))


def _lstsq_fill(x, mask, mean, V, w, ridge=1e-8):
    """Reference: one spectrum's masked pixels from a weighted lstsq of its good pixels (ridge in the normal matrix)."""
    g = np.where(mask, 0.0, w)                                  # (D,)
    A = V.T @ (g[:, None] * V)
    A += ridge * np.trace(A) / V.shape[1] * np.eye(V.shape[1])
    c = np.linalg.solve(A, V.T @ (g * np.where(mask, 0.0, x - mean)))
    return np.where(mask, (mean + V @ c).astype(np.float32), x.astype(np.float32))


def test_basis_infill_matches_a_row_by_row_weighted_fit_and_ignores_what_masked_pixels_hold():
    rng = np.random.default_rng(11)
    clean, noisy = _low_rank(rng, n=40, d=90, rank=5)
    mean, V = clean.mean(axis=0), np.linalg.qr(rng.normal(size=(90, 5)))[0]
    mask = rng.random(noisy.shape) < 0.15
    mask[3] = False                                             # a row with nothing to fill
    weight = rng.uniform(0.5, 4.0, noisy.shape).astype(np.float32)
    X = np.where(mask, np.nan, noisy).astype(np.float32)        # NaN where masked: never read
    for w in (weight, None):
        got = basis_infill(X, mask, mean, V, weight=w)
        want = np.array([_lstsq_fill(X[i].astype(np.float64), mask[i], mean, V, 1.0 if w is None else w[i])
                         for i in range(len(X))])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(got[3], X[3])
    with pytest.raises(NpvaeError, match="weight must have the shape"):
        basis_infill(X, mask, mean, V, weight=weight[:, :10])


@pytest.mark.parametrize("weighted", [True, False])
def test_basis_infill_in_blocks_of_rows_equals_each_row_alone(monkeypatch, weighted):
    """Blocks of 4 rows (``INFILL_ROWS``), the last one short, give each row what it gets alone, bit for bit."""
    rng = np.random.default_rng(12)
    clean, noisy = _low_rank(rng, n=11, d=60, rank=4)
    mean, V = clean.mean(axis=0), np.linalg.qr(rng.normal(size=(60, 4)))[0]
    mask = rng.random(noisy.shape) < 0.2
    mask[:, 0] = True                                           # every row has something to fill
    weight = rng.uniform(0.5, 4.0, noisy.shape).astype(np.float32) if weighted else None
    alone = np.concatenate([basis_infill(noisy[i:i + 1], mask[i:i + 1], mean, V,
                                         weight=None if weight is None else weight[i:i + 1]) for i in range(11)])
    monkeypatch.setattr(infill, "INFILL_ROWS", 4)
    np.testing.assert_array_equal(basis_infill(noisy, mask, mean, V, weight=weight), alone)


def test_weighted_residuals_kernel_matches_its_python_body():
    rng = np.random.default_rng(3)
    flux, weight = rng.normal(size=(4, 30)).astype(np.float32), rng.random((4, 30)).astype(np.float32)
    mask, mean = rng.random((4, 30)) < 0.3, rng.normal(size=30)
    flux[mask] = np.nan                                         # masked pixels are never read
    for w in (weight, np.zeros((0, 0), np.float32)):
        outs = [(np.empty((4, 30)), np.empty((4, 30))) for _ in range(2)]
        infill._weighted_residuals(flux, mask, w, mean, *outs[0])
        infill._weighted_residuals_jit(flux, mask, w, mean, *outs[1])
        np.testing.assert_array_equal(outs[0][0], outs[1][0])
        np.testing.assert_array_equal(outs[0][1], outs[1][1])
        g = np.where(mask, 0.0, weight if w.size else 1.0)
        np.testing.assert_array_equal(outs[1][0], g)
        np.testing.assert_array_equal(outs[1][1], np.where(mask, 0.0, g * (flux.astype(np.float64) - mean)))


def _ridge_lstsq(B, g, y, ridge):
    """Reference: one row's coefficients by float64 np.linalg.lstsq (QR/SVD of the weighted design, no
    normal equations): min |sqrt(g) (B c - y)|^2 + lam |c|^2, lam = ridge * tr(B^T G B) / K."""
    lam = ridge * np.sum(g[:, None] * B * B) / B.shape[1]
    design = np.vstack([np.sqrt(g)[:, None] * B, np.sqrt(lam) * np.eye(B.shape[1])])   # (D + K, K)
    return np.linalg.lstsq(design, np.concatenate([np.sqrt(g) * y, np.zeros(B.shape[1])]), rcond=None)[0]


def test_cholesky_coefficients_match_a_float64_lstsq_per_row():
    rng = np.random.default_rng(12)
    B = np.linalg.qr(rng.normal(size=(200, 7)))[0] * rng.uniform(0.5, 2.0, 7)   # (D, K) not orthonormal
    g = rng.uniform(0.1, 5.0, (30, 200)) * (rng.random((30, 200)) > 0.2)         # (T, D) 20% masked
    g[4, 60:] = 0.0                                                               # a row with few good pixels
    y = rng.normal(size=(30, 200))
    for ridge in (1e-8, 1e-2):
        fit = infill.WeightedFit(B, ridge)
        got = fit.coefficients(g, g * y, cholesky=True)
        want = np.array([_ridge_lstsq(B, g[t], y[t], ridge) for t in range(len(g))])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got, fit.coefficients(g, g * y), rtol=1e-10, atol=1e-13)   # the LU path


def test_cholesky_coefficients_fall_back_to_lu_where_not_positive_definite():
    rng = np.random.default_rng(13)
    B, g, y = rng.normal(size=(40, 4)), rng.uniform(0.5, 2.0, (5, 40)), rng.normal(size=(5, 40))
    g[2, :20] = -3.0                                                 # negative weights: not positive definite
    fit = infill.WeightedFit(B, 1e-8)
    got = fit.coefficients(g, g * y, cholesky=True)
    np.testing.assert_allclose(got, fit.coefficients(g, g * y), rtol=1e-10)   # row 2 too, by LU


def test_basis_infill_overwrite_fills_the_given_array_and_only_then():
    rng = np.random.default_rng(14)
    clean, noisy = _low_rank(rng, n=20, d=50, rank=3)
    mean, V = clean.mean(axis=0), np.linalg.qr(rng.normal(size=(50, 3)))[0]
    mask = rng.random(noisy.shape) < 0.2
    X = noisy.astype(np.float32)
    copy = basis_infill(X, mask, mean, V)
    assert not np.shares_memory(copy, X) and np.array_equal(X, noisy.astype(np.float32))
    fit = infill.WeightedFit(V, infill.BASIS_RIDGE)                  # made once, for many calls
    same = basis_infill(X, mask, mean, fit, overwrite=True)
    assert same is X
    np.testing.assert_array_equal(same, copy)


def test_a_recipe_fills_with_its_cached_fit_and_pickles_without_it():
    import pickle

    from npvae.data.recipe import Preprocessing
    rng = np.random.default_rng(15)
    clean, noisy = _low_rank(rng, n=30, d=1000, rank=4)
    mean, V = clean.mean(axis=0), np.linalg.qr(rng.normal(size=(1000, 4)))[0]
    recipe = Preprocessing(infill_mean=mean, infill_vectors=V)
    mask, weight = rng.random(noisy.shape) < 0.1, rng.uniform(1, 2, noisy.shape).astype(np.float32)
    want = basis_infill(noisy, mask, mean, V, weight=weight)
    np.testing.assert_array_equal(recipe.fill(noisy, weight, mask), want)
    assert recipe.infill_fit is recipe.infill_fit                             # made once
    again = pickle.loads(pickle.dumps(recipe))
    assert "infill_fit" not in again.__dict__                                 # not sent with the model
    np.testing.assert_array_equal(again.fill(noisy, weight, mask), want)
