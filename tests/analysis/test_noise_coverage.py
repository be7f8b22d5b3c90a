"""The calibration check by S/N (coverage_by_sn) and the noisier copies it is fed (add_noise).

Anchors: the Gaussian probability of |pull| <= 1, erf(1/sqrt 2) = 0.6827, and of
|pull| <= 1/2, erf(1/(2 sqrt 2)) = 0.3829 (intervals half as wide as the scatter); the summed
variance 1/w' = 1/w + sigma^2; the standard normal law of the added noise. Shapes: N spectra, Z latent.
"""
import math

import numpy as np
import pytest

from npvae.analysis import add_noise, coverage_by_sn, spectrum_sn
from npvae.utils import NpvaeError


def test_honest_intervals_cover_68_percent_and_half_width_ones_38_in_every_bin():
    rng = np.random.default_rng(0)
    n = 60000
    truth = rng.normal(size=(n, 2))                                        # (N, Z)
    sn = np.exp(rng.uniform(np.log(3), np.log(80), n))                     # (N,)
    std = np.stack([3.0 / sn, 0.5 * 3.0 / sn], axis=1)                     # (N, Z) latent 2 reports half
    mu = truth + (3.0 / sn)[:, None] * rng.normal(size=(n, 2))             # scatter 3/sn in both
    res = coverage_by_sn(mu, 2 * np.log(std), truth, sn, [3, 10, 30, 80])
    assert res.count.sum() == n
    np.testing.assert_allclose(res.coverage[:, 0], math.erf(1 / math.sqrt(2)), atol=0.012)
    np.testing.assert_allclose(res.coverage[:, 1], math.erf(0.5 / math.sqrt(2)), atol=0.012)
    np.testing.assert_allclose(res.rms_pull[:, 0], 1.0, atol=0.03)
    np.testing.assert_allclose(res.rms_pull[:, 1], 2.0, atol=0.06)
    np.testing.assert_allclose(res.coverage_mean, res.coverage.mean(axis=1))


def test_bins_are_half_open_and_empty_bins_are_nan():
    mu = np.array([[0.0], [0.0], [0.0]])
    truth = np.array([[0.5], [2.0], [0.5]])
    res = coverage_by_sn(mu, np.zeros_like(mu), truth, np.array([5.0, 10.0, 50.0]), [5, 10, 20, 30])
    assert res.count.tolist() == [1, 1, 0]                                 # 50 lies outside
    assert res.coverage[0, 0] == 1.0 and res.coverage[1, 0] == 0.0 and np.isnan(res.coverage[2, 0])


def test_bad_shapes_and_edges_raise_npvae_error():
    z = np.zeros((4, 2))
    with pytest.raises(NpvaeError, match="one shape"):
        coverage_by_sn(z, z[:3], z, np.ones(4), [0, 1])
    with pytest.raises(NpvaeError, match="increasing"):
        coverage_by_sn(z, z, z, np.ones(4), [2, 1])
    with pytest.raises(NpvaeError, match="sn must be"):
        coverage_by_sn(z, z, z, np.ones(3), [0, 1])


def test_added_noise_has_the_asked_sn_and_the_weights_the_summed_variance():
    rng = np.random.default_rng(1)
    X = rng.uniform(0.5, 2.0, (300, 400))
    W = rng.uniform(20.0, 200.0, X.shape)
    W[:, :7] = 0.0
    sn = np.exp(rng.uniform(np.log(3), np.log(80), 300))                   # (N,)
    Xn, Wn, sigma = add_noise(X, W, sn, rng=2)
    good_median = np.median(np.abs(X[:, 7:]), axis=1)                      # the median over good pixels
    np.testing.assert_allclose(sigma, good_median / sn, rtol=1e-12)
    pulls = (Xn - X) / sigma[:, None]
    assert abs(pulls.mean()) < 0.01 and abs(pulls.var() - 1) < 0.01
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(Wn, 1 / (1 / W + sigma[:, None] ** 2), rtol=1e-12)
    assert np.all(Wn[:, :7] == 0)
    assert np.array_equal(add_noise(X, W, sn, rng=2)[0], Xn)              # the seed fixes the draws


def test_spectrum_sn_is_the_median_over_good_pixels():
    X = np.array([[1.0, 2.0, 3.0, 100.0], [1.0, 1.0, 1.0, 1.0]])
    W = np.array([[4.0, 4.0, 4.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_allclose(spectrum_sn(X, W), [4.0, 0.0])            # median(2, 4, 6); none good
