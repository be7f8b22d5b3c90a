"""Tests of npvae.baselines.metrics on hand-computable examples (docs/baselines.md)."""
import json

import numpy as np
import pytest

from npvae.baselines.metrics import (per_class, reconstruction_table, reduced_chi2, weighted_mse,
                           weighted_mse_per_spectrum)
from npvae.utils import NpvaeError

# two spectra, three pixels; one bad pixel (w = 0) in the second spectrum
X = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
XHAT = np.array([[1.5, 2.0, 2.0], [1.0, -2.0, 7.0]])
W = np.array([[4.0, 1.0, 2.0], [1.0, 0.5, 0.0]])


def test_weighted_mse_counts_zero_weight_pixels_in_the_denominator():
    # spectrum 0: 4*0.25 + 0 + 2*1 = 3; spectrum 1: 1*1 + 0.5*4 + 0*49 = 3
    by_hand = (4 * 0.5 ** 2 + 1 * 0 + 2 * 1 ** 2 + 1 * 1 + 0.5 * 2 ** 2 + 0 * 7 ** 2) / 6
    assert weighted_mse(X, XHAT, W) == pytest.approx(by_hand)
    per = weighted_mse_per_spectrum(X, XHAT, W)
    assert per == pytest.approx([3.0 / 3, 3.0 / 3])
    assert weighted_mse(X, XHAT, W) == pytest.approx(per.mean())


def test_weighted_mse_is_zero_for_perfect_reconstruction_and_scales_with_weight():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 7))
    w = rng.uniform(size=(5, 7))
    assert weighted_mse(x, x, w) == 0.0
    xhat = x + rng.normal(size=x.shape)
    assert weighted_mse(x, xhat, 3 * w) == pytest.approx(3 * weighted_mse(x, xhat, w))


def test_reduced_chi2_uses_good_pixels_and_parameters():
    chi = reduced_chi2(X, XHAT, W, n_params=1)
    # spectrum 0: chi2 = 3, 3 good pixels - 1 = 2 dof; spectrum 1: chi2 = 3, 2 good - 1 = 1 dof
    assert chi == pytest.approx([3.0 / 2, 3.0 / 1])
    assert np.isnan(reduced_chi2(X, XHAT, W, n_params=2)[1])   # no degrees of freedom left


def test_reduced_chi2_is_one_on_average_for_pure_noise():
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.5, 2.0, (400, 300))
    x = sigma * rng.normal(size=sigma.shape)
    chi = reduced_chi2(x, np.zeros_like(x), 1 / sigma ** 2, n_params=0)
    assert np.mean(chi) == pytest.approx(1.0, abs=0.01)


def test_per_class_means_and_counts():
    values = np.array([1.0, 2.0, 3.0, 10.0, np.nan])
    labels = np.array(["quiescent", "quiescent", "emission", "blagn", "blagn"])
    out = per_class(values, labels)
    assert out["all"]["mean"] == pytest.approx(np.mean([1, 2, 3, 10]))
    assert out["all"]["n"] == 4
    assert out["quiescent"] == {"mean": 1.5, "median": 1.5, "n": 2}
    assert out["blagn"]["n"] == 1 and out["blagn"]["mean"] == 10.0
    assert out["nlagn"] == {"mean": None, "median": None, "n": 0}


def test_reconstruction_table_is_json_ready_and_sorted_by_params():
    labels = np.array(["quiescent", "emission", "nlagn", "blagn"])
    results = {"PCA": {10: np.array([1.0, 2, 3, 4]), 2: np.array([5.0, 6, 7, 8])},
               "VAE": {2: np.array([0.5, 1, 1, 2])}}
    table = reconstruction_table(results, labels)
    assert list(table["PCA"]) == ["2", "10"]
    assert table["PCA"]["2"]["all"]["mean"] == pytest.approx(6.5)
    assert table["VAE"]["2"]["blagn"]["mean"] == 2.0
    assert json.loads(json.dumps(table)) == table


@pytest.mark.parametrize("bad", ["shape", "nan", "negative"])
def test_bad_input_raises(bad):
    x, xhat, w = X.copy(), XHAT.copy(), W.copy()
    if bad == "shape":
        xhat = xhat[:, :2]
    elif bad == "nan":
        x[1, 2] = np.nan
    else:
        w[0, 1] = -1.0
    with pytest.raises(NpvaeError, match={"shape": "shapes differ", "nan": "row 1, pixel 2",
                                          "negative": "negative"}[bad]):
        weighted_mse(x, xhat, w)
    with pytest.raises(NpvaeError):
        per_class(np.ones(3), np.array(["a", "b"]))
