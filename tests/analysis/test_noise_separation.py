"""Noise experiment on a linear encoder (exact answer), class separation and truth correlations."""
import numpy as np
import pytest

from npvae.analysis import (added_noise_sigma, compare_separation, knn_separation,
                            noise_sensitivity, truth_correlations)
from npvae.utils import NpvaeError


def _linear_encoder(rng, d=60, z=4, logvar=-3.0):
    """encode(X) = (X A^T + b, constant logvar); returns the callable and A."""
    A = rng.standard_normal((z, d)) / np.sqrt(d)
    b = rng.standard_normal(z)
    return (lambda X: (X @ A.T + b, np.full((X.shape[0], z), logvar))), A


def test_noise_variance_matches_linear_encoder_exactly():
    rng = np.random.default_rng(0)
    encode, A = _linear_encoder(rng)
    x = 1.0 + 0.3 * rng.standard_normal(60)
    w = np.full(60, 100.0)
    w[:5] = 0.0
    levels = np.array([3.0, 10.0, 30.0])
    r = 4000
    res = noise_sensitivity(encode, x, w, levels, n_draws=r, rng=1, chunk=700)
    sigma = np.median(np.abs(x[5:])) / levels
    assert np.allclose(res.sigma, sigma)
    analytic = sigma[:, None] ** 2 * np.diag(A @ A.T)[None, :]    # (L, Z) diag of A Sigma A^T
    tol = 5 * np.sqrt(2.0 / (r - 1))                               # 5 sigma of a variance estimate
    assert np.all(np.abs(res.var_of_means / analytic - 1) < tol)
    assert np.allclose(res.mean_reported_var, np.exp(-3.0))
    assert np.allclose(res.ratio, analytic / np.exp(-3.0), rtol=tol)
    assert np.all(np.abs(res.bias) < 5 * res.bias_stderr)          # linear: unbiased
    assert res.constrained.all() and np.allclose(res.std_clean, np.exp(-1.5))
    assert np.all(np.diff(res.sn_effective) > 0) and np.all(res.sn_effective < levels)


def test_noise_bias_of_a_nonlinear_encoder_is_detected():
    # mu = sum(x^2): noise adds D sigma^2 on average, a bias well above its standard error
    x = np.ones(30)
    encode = lambda X: ((X ** 2).sum(axis=1, keepdims=True), np.zeros((X.shape[0], 1)))
    res = noise_sensitivity(encode, x, None, [2.0], n_draws=3000, rng=2)
    assert np.isclose(res.bias[0, 0], 30 * 0.25, rtol=0.05)
    assert not res.constrained[0]
    assert np.isnan(res.sn_effective).all()


def test_noise_reproducible_and_checks_input():
    rng = np.random.default_rng(3)
    encode, _ = _linear_encoder(rng)
    x = rng.random(60) + 0.5
    a = noise_sensitivity(encode, x, None, [5.0], n_draws=50, rng=7)
    b = noise_sensitivity(encode, x, None, [5.0], n_draws=50, rng=7)
    assert np.array_equal(a.var_of_means, b.var_of_means)
    with pytest.raises(NpvaeError):
        noise_sensitivity(encode, x, None, [0.0], n_draws=50)
    with pytest.raises(NpvaeError):
        noise_sensitivity(lambda X: (X[:, :2], X[:, :3]), x, None, [5.0], n_draws=50)
    with pytest.raises(NpvaeError):
        added_noise_sigma(np.zeros(10), 5.0)


def test_crossing_sn_interpolates_where_ratio_is_one():
    rng = np.random.default_rng(4)
    encode, A = _linear_encoder(rng, z=1, logvar=0.0)
    x = np.ones(60)
    res = noise_sensitivity(encode, x, None, np.geomspace(0.1, 10, 9), n_draws=2000, rng=5)
    # var = sigma^2 |A|^2 = |A|^2 / s^2 = 1 at s = |A|
    assert np.isclose(res.crossing_sn(0), np.linalg.norm(A), rtol=0.1)


def test_knn_separates_distinct_clusters_not_overlapping_ones():
    rng = np.random.default_rng(6)
    labels = np.repeat(["quiescent", "emission", "blagn"], [300, 150, 40])
    centers = {"quiescent": [0, 0], "emission": [6, 0], "blagn": [0, 6]}
    far = np.array([centers[c] for c in labels]) + rng.standard_normal((labels.size, 2))
    same = rng.standard_normal((labels.size, 2))
    good = knn_separation(far, labels, k=10, cv=5, rng=0)
    bad = knn_separation(same, labels, k=10, cv=5, rng=0)
    assert good["balanced_accuracy"] > 0.97
    assert abs(bad["balanced_accuracy"] - bad["chance"]) < 0.12
    assert len(good["folds"]) == 5 and good["dropped_classes"] == []
    both = compare_separation({"far": far, "same": same}, labels, k=10, rng=3)
    assert both["far"]["balanced_accuracy"] > both["same"]["balanced_accuracy"] + 0.4
    again = compare_separation({"far": far, "far2": far.copy()}, labels, k=10, rng=3)
    assert np.array_equal(again["far"]["folds"], again["far2"]["folds"])   # shared folds


def test_knn_drops_tiny_classes_and_rejects_one_class():
    rng = np.random.default_rng(7)
    labels = np.array(["quiescent"] * 50 + ["emission"] * 50 + ["other"] * 3)
    res = knn_separation(rng.standard_normal((103, 2)), labels, k=5, cv=5, rng=1)
    assert res["dropped_classes"] == ["other"]
    with pytest.raises(NpvaeError):
        knn_separation(rng.standard_normal((50, 2)), np.array(["quiescent"] * 50), k=5)


def test_truth_correlations_find_monotone_relations():
    rng = np.random.default_rng(8)
    coords = rng.standard_normal((500, 3))
    truth = {"age": np.exp(coords[:, 1]),                      # monotone in axis 2
             "dust": -coords[:, 0] ** 3,                       # anti-monotone in axis 1
             "line_width": rng.random(500),                    # unrelated
             "kind": np.array(["a"] * 500)}                    # text: skipped
    truth["line_width"][:10] = np.nan
    res = truth_correlations(coords, truth)
    assert res.params == ["age", "dust", "line_width"]
    assert np.isclose(res.rho[1, 0], 1.0) and np.isclose(res.rho[0, 1], -1.0)
    assert np.all(np.abs(res.rho[:, 2]) < 0.15) and res.n_used[2] == 490
    assert res.best_axis()["age"][0] == 1
    with pytest.raises(NpvaeError):
        truth_correlations(coords, {"age": np.ones(10)})


def test_noise_experiment_gives_a_noise_aware_encoder_the_weights_of_each_noisy_copy():
    """with_weights: encode(X, W) gets W = 1 / (1/w + sigma^2) for every copy (w itself for x)."""
    rng = np.random.default_rng(3)
    x = 1.0 + 0.3 * rng.standard_normal(40)
    w = rng.uniform(50.0, 400.0, 40)
    w[:4] = 0.0
    seen = []

    def encode(X, W):
        seen.append(np.array(W))
        return np.c_[X.sum(axis=1), W.sum(axis=1)], np.c_[-np.log(W.sum(axis=1)), np.zeros(len(X))]

    res = noise_sensitivity(encode, x, w, [5.0, 20.0], n_draws=30, rng=1, chunk=30, with_weights=True)
    assert np.array_equal(seen[0], w[None])
    with np.errstate(divide="ignore"):
        for W, sigma in zip(seen[1:], res.sigma):
            np.testing.assert_allclose(W, np.broadcast_to(1 / (1 / w + sigma ** 2), W.shape), rtol=1e-12)
    assert res.mean_reported_var[0, 0] > res.mean_reported_var[1, 0]     # noisier copy: less weight, more variance
    with pytest.raises(NpvaeError, match="needs the spectrum's weights"):
        noise_sensitivity(encode, x, None, [5.0], n_draws=3, with_weights=True)
