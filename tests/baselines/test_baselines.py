"""Tests of npvae.baselines on small synthetic data with known structure (docs/baselines.md)."""
import numpy as np
import pytest
from scipy.optimize import nnls

from npvae.baselines import NMF, PCA, WeightedNMF, WeightedPCA, nnls_codes
from npvae.utils import NpvaeError


def low_rank_data(rng, n=200, d=40, k=3, noise=0.01, offset=2.0):
    """x = offset + z B + noise with decreasing variances along the K planted directions."""
    Z = rng.normal(size=(n, k)) * np.arange(k, 0, -1)                 # (N, K)
    B = rng.normal(size=(k, d))                                        # (K, D)
    clean = offset + Z @ B
    return clean + noise * rng.normal(size=(n, d)), clean


def nonneg_data(rng, n=150, d=30, k=3):
    """x = C H with sparse non-negative factors (a unique NMF up to scale)."""
    H = np.zeros((k, d))
    for j in range(k):
        H[j, j * d // k:(j + 1) * d // k] = rng.uniform(0.5, 1.5, d // k)
    H += 0.05 * rng.uniform(size=(k, d))
    C = rng.gamma(2.0, 1.0, (n, k))
    return C @ H


def test_pca_matches_svd_of_centred_data():
    rng = np.random.default_rng(0)
    X, _ = low_rank_data(rng)
    pca = PCA(3).fit(X)
    Xc = X - X.mean(axis=0)
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    # same subspace: projector onto the top-3 right singular vectors
    assert np.allclose(pca.components_.T @ pca.components_, vt[:3].T @ vt[:3], atol=1e-8)
    assert np.allclose(pca.explained_variance_ratio_, s[:3] ** 2 / (s ** 2).sum())


def test_pca_wide_data_uses_svd_and_reconstructs_exactly_at_full_rank():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, 20))
    pca = PCA(5).fit(X)                      # N - 1 = 5 directions span the centred data
    assert np.allclose(pca.reconstruct(X), X, atol=1e-10)


def test_weighted_pca_with_uniform_weights_equals_pca():
    rng = np.random.default_rng(2)
    X, _ = low_rank_data(rng, noise=0.3)
    W = np.full(X.shape, 4.0)
    pca, wpca = PCA(3).fit(X), WeightedPCA(3, tol=1e-12).fit(X, W)
    rel = np.abs(wpca.reconstruct(X, W) - pca.reconstruct(X)).max() / np.abs(X).max()
    assert rel < 1e-6
    assert np.allclose(np.abs(wpca.components_ @ pca.components_.T), np.eye(3), atol=1e-6)
    assert np.allclose(wpca.components_ @ wpca.components_.T, np.eye(3), atol=1e-10)


def test_weighted_pca_recovers_masked_low_rank_signal_better_than_pca():
    rng = np.random.default_rng(3)
    X, clean = low_rank_data(rng, n=300, d=40, noise=0.05)
    W = np.ones_like(X)
    bad = rng.uniform(size=X.shape) < 0.2
    W[bad] = 0.0
    X_bad = np.where(bad, X + rng.normal(0, 20, X.shape), X)          # garbage in masked pixels
    err_w = np.abs(WeightedPCA(3).fit(X_bad, W).reconstruct(X_bad, W) - clean).mean()
    err_p = np.abs(PCA(3).fit(X_bad).reconstruct(X_bad) - clean).mean()
    assert err_w < 0.05
    assert err_w < 0.1 * err_p


def test_weighted_pca_objective_never_increases_and_is_deterministic():
    rng = np.random.default_rng(4)
    X, _ = low_rank_data(rng, noise=0.5)
    W = rng.uniform(0.1, 2.0, X.shape)
    a = WeightedPCA(2, max_iter=30, tol=0).fit(X, W)
    b = WeightedPCA(2, max_iter=30, tol=0).fit(X, W)
    h = a.objective_history_
    assert np.all(np.diff(h) <= 1e-9 * h[0])
    assert np.array_equal(a.components_, b.components_)


@pytest.mark.parametrize("cls", [NMF, WeightedNMF])
def test_nmf_recovers_nonnegative_low_rank_data(cls):
    X = nonneg_data(np.random.default_rng(5))
    model = cls(3, max_iter=2000, tol=1e-10, rng=0).fit(X)
    rel = np.linalg.norm(model.reconstruct(X) - X) / np.linalg.norm(X)
    assert rel < 0.02
    assert (model.components_ >= 0).all() and (model.transform(X) >= 0).all()


def test_weighted_nmf_objective_never_increases():
    rng = np.random.default_rng(6)
    X = nonneg_data(rng) + 0.05 * rng.uniform(size=(150, 30))
    W = rng.uniform(0.0, 3.0, X.shape)
    h = WeightedNMF(3, max_iter=200, tol=0, rng=1).fit(X, W).objective_history_
    assert len(h) == 200
    assert np.all(np.diff(h) <= 1e-12 * h[0])
    assert h[-1] < 0.5 * h[0]


def test_weighted_nmf_ignores_zero_weight_pixels():
    rng = np.random.default_rng(7)
    X = nonneg_data(rng)
    W = np.ones_like(X)
    W[:, 5] = 0.0
    X_bad = X.copy()
    X_bad[:, 5] = 1e3                                                  # garbage where w = 0
    model = WeightedNMF(3, max_iter=2000, tol=1e-10, rng=0).fit(X_bad, W)
    R = model.reconstruct(X_bad, W)
    assert np.abs(R - X)[:, np.arange(30) != 5].max() < 0.1 * X.max()


def test_nmf_same_rng_same_result_and_different_rng_differs():
    X = nonneg_data(np.random.default_rng(8))
    a = NMF(3, max_iter=50, rng=3).fit(X).components_
    b = NMF(3, max_iter=50, rng=np.random.default_rng(3)).fit(X).components_
    c = NMF(3, max_iter=50, rng=4).fit(X).components_
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_nnls_codes_match_scipy_nnls():
    rng = np.random.default_rng(9)
    H = rng.uniform(size=(4, 25))
    X = rng.normal(0.5, 0.5, (12, 25))                 # some optima sit on the c >= 0 boundary
    W = rng.uniform(0.0, 2.0, X.shape)
    C = nnls_codes(X, W, H, max_sweeps=5000, tol=1e-13)
    for n in range(12):
        s = np.sqrt(W[n])
        ref, _ = nnls(H.T * s[:, None], X[n] * s)
        assert np.allclose(C[n], ref, atol=1e-6)


def test_nmf_negative_data_clipped_and_counted_or_rejected():
    X = nonneg_data(np.random.default_rng(10))
    X[0, :4] = -0.1
    model = NMF(2, max_iter=20, rng=0).fit(X)
    assert model.n_clipped_ == 4
    with pytest.raises(NpvaeError, match="negative"):
        NMF(2, negative="raise").fit(X)


@pytest.mark.parametrize("cls", [PCA, WeightedPCA, NMF, WeightedNMF])
def test_bad_input_raises(cls):
    X = nonneg_data(np.random.default_rng(11))
    with pytest.raises(NpvaeError, match="not fitted"):
        cls(2).transform(X)
    with pytest.raises(NpvaeError, match="2-d"):
        cls(2).fit(X[0])
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(NpvaeError, match="row 3, pixel 2"):
        cls(2).fit(X_nan)
    W = np.ones_like(X)
    W[1, 1] = -1
    with pytest.raises(NpvaeError, match="negative"):
        cls(2).fit(X, W)
    with pytest.raises(NpvaeError, match="shape"):
        cls(2).fit(X, W[:, :5])
    model = cls(2, **({"max_iter": 5} if cls is not PCA else {})).fit(X)
    with pytest.raises(NpvaeError, match="pixels"):
        model.transform(X[:, :5])
    with pytest.raises(NpvaeError, match="columns"):
        model.inverse_transform(np.ones((2, 3)))


def test_hals_never_increases_the_objective_and_beats_multiplicative_updates():
    """Noisy non-negative rank-5 data: the rank-5 truncated SVD bounds any NMF's objective from
    below (Eckart-Young); 300 HALS sweeps get within 1% of it, far closer than 300 multiplicative
    updates from the same start."""
    rng = np.random.default_rng(11)
    X = nonneg_data(rng, n=200, d=40, k=5) + 0.05 * rng.uniform(size=(200, 40))
    bound = (np.linalg.svd(X, compute_uv=False)[5:] ** 2).sum()
    hals = NMF(5, max_iter=300, tol=0, rng=2).fit(X).objective_history_
    mu = NMF(5, max_iter=300, tol=0, rng=2, solver="mu").fit(X).objective_history_
    assert np.all(np.diff(hals) <= 1e-12 * hals[0])
    assert bound * (1 - 1e-9) <= hals[-1] < 1.01 * bound
    assert hals[-1] - bound < 0.01 * (mu[-1] - bound)
    assert NMF(2).solver == "hals" and WeightedNMF(2).solver == "mu"
    with pytest.raises(NpvaeError, match="solver"):
        WeightedNMF(2, solver="hals")
