"""The residual atlas arithmetic: residuals of pure noise are standard normal, stacks give its quantiles.

Anchors: data drawn as model + sigma * N(0, 1) give normalised residuals with mean 0 and rms 1
whatever sigma is; the 16th/50th/84th percentiles of N(0, 1) are -0.994, 0, +0.994.
"""
import numpy as np
import pytest

from npvae.analysis.residuals import normalised_residuals, realism_ratio, stack_residuals
from npvae.utils import NpvaeError


def test_noise_only_residuals_are_standard_normal_and_masked_pixels_nan():
    rng = np.random.default_rng(0)
    model = rng.uniform(1, 3, (400, 300))                                    # (N, D)
    sigma = rng.uniform(0.05, 0.5, (400, 300))
    weight = 1 / sigma ** 2
    weight[:, :10] = 0.0
    r = normalised_residuals(model + sigma * rng.standard_normal(model.shape), model, weight)
    assert np.all(np.isnan(r[:, :10]))
    good = r[:, 10:]
    assert abs(good.mean()) < 0.01 and np.sqrt(np.mean(good ** 2)) == pytest.approx(1.0, abs=0.01)
    stack = stack_residuals(r)
    assert np.all(np.isnan(stack["quantiles"][:, :10])) and np.all(stack["count"][:10] == 0)
    q = stack["quantiles"][:, 10:].mean(axis=1)
    np.testing.assert_allclose(q, [-0.994, 0.0, 0.994], atol=0.02)
    assert np.mean(stack["rms"][10:]) == pytest.approx(1.0, abs=0.02)


def test_realism_ratio_is_the_ratio_of_medians_and_checks_its_input():
    assert realism_ratio([1.0, 3.0, 2.0], [0.5, 9.0, 1.0, 1.0], [40, 10, 35, 50], 30) == pytest.approx(2.0)
    with pytest.raises(NpvaeError, match="S/N"):
        realism_ratio([1.0], [1.0], [10], 30)
    with pytest.raises(NpvaeError, match="shapes"):
        normalised_residuals(np.ones((2, 3)), np.ones((2, 4)), np.ones((2, 3)))
