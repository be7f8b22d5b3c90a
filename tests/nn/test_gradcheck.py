"""Tests of npvae.nn.gradcheck itself: it passes correct gradients and FAILS planted errors.

A checker that cannot fail proves nothing, so each planted error (1% on one entry, a
swapped transpose, a model gradient scaled by 1.01) must be reported above 1e-3, while the
correct code stays below 1e-6. Float64 throughout. Shapes: B batch, I inputs, O outputs.
"""
import numpy as np
import pytest

import npvae
from npvae.nn import layers
from npvae.nn.gradcheck import check_function, check_layer, check_model, numerical_gradient, rel_error

B, I, O = 6, 5, 5          # I == O so that a swapped transpose still has the right shape


def _linear_inputs(seed):
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((B, I)), "W": rng.standard_normal((I, O)),
            "b": rng.standard_normal(O)}, rng


def test_gradcheck_passes_on_correct_linear_layer():
    inputs, rng = _linear_inputs(0)
    errors = check_layer(layers.linear_forward, layers.linear_backward, inputs, rng=rng)
    assert max(errors.values()) <= 1e-6, errors


def test_gradcheck_fails_on_planted_error():
    inputs, rng = _linear_inputs(0)

    def backward_one_percent_off(dy, cache):
        dx, dW, db = layers.linear_backward(dy, cache)
        i = np.unravel_index(np.argmax(np.abs(dW)), dW.shape)
        dW = dW.copy()
        dW[i] *= 1.01                                   # 1% error on one entry
        return dx, dW, db

    errors = check_layer(layers.linear_forward, backward_one_percent_off, inputs, rng=rng)
    assert errors["W"] > 1e-3, errors
    assert errors["x"] <= 1e-6 and errors["b"] <= 1e-6, errors     # only W is wrong


def test_gradcheck_fails_on_swapped_transpose():
    inputs, rng = _linear_inputs(1)

    def backward_swapped(dy, cache):
        x, W = cache
        return dy @ W, x.T @ dy, dy.sum(0)               # W instead of W.T

    errors = check_layer(layers.linear_forward, backward_swapped, inputs, rng=rng)
    assert errors["x"] > 1e-3, errors


def test_gradcheck_fails_on_a_wrong_model_gradient():
    class Planted(npvae.InfoVAE):
        def loss_and_grads(self, x, w, eps, prior, grads=None):
            terms, grads = super().loss_and_grads(x, w, eps, prior, grads)
            grads["dec2.W"] *= 1.01
            return terms, grads

    rng = np.random.default_rng(2)
    model = Planted(12, (6, 5), 2, dtype=np.float64, seed=2, n_prior=8, activation="leaky_relu")
    x, w = rng.standard_normal((4, 12)), rng.uniform(0.5, 2.0, (4, 12))
    eps, prior = rng.standard_normal((4, 2)), rng.standard_normal((8, 2))
    errors = check_model(model, x, w, eps, prior, h=1e-4)
    assert errors["dec2.W"] > 1e-3, errors
    others = {k: v for k, v in errors.items() if k != "dec2.W"}
    assert max(others.values()) <= 1e-6, others


def test_numerical_gradient_of_a_known_function_and_restores_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    grad = numerical_gradient(lambda: float(np.sum(np.sin(x) * x0)), x)
    np.testing.assert_allclose(grad, np.cos(x0) * x0, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(x, x0)
    part = numerical_gradient(lambda: float(np.sum(x ** 2)), x, indices=[(0, 1), (2, 3)])
    assert np.isnan(part).sum() == x.size - 2
    np.testing.assert_allclose(part[[0, 2], [1, 3]], 2 * x0[[0, 2], [1, 3]], rtol=1e-8)


def test_rel_error_is_relative_with_a_floor_at_one_percent_of_the_largest_gradient():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.01], [1.0]) == pytest.approx(0.01 / 2.01)
    # a tiny entry next to a large one: judged against 1% of the large one
    assert rel_error([100.0, 2e-6], [100.0, 1e-6]) == pytest.approx(1e-6 / 1.0)
    assert rel_error([1.0, np.nan], [1.0, np.nan]) == 0.0            # NaN entries are skipped
    assert rel_error([0.0, 0.0], [0.0, 0.0]) == 0.0


def test_check_function_with_sampled_indices_catches_a_wrong_gradient():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(50)
    good = check_function(lambda: float(np.sum(x ** 3)), {"x": x}, {"x": 3 * x ** 2},
                          n_samples=20, rng=rng)
    bad = check_function(lambda: float(np.sum(x ** 3)), {"x": x}, {"x": 3.1 * x ** 2},
                         n_samples=20, rng=rng)
    assert good["x"] <= 1e-6 < 1e-3 < bad["x"]


def test_check_model_restores_lam_and_alpha_and_rejects_unknown_term():
    model = npvae.InfoVAE(8, (5,), 2, lam=2.5, alpha=0.2, dtype=np.float64, seed=0, n_prior=4)
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((3, 8)), np.zeros((3, 8))
    eps, prior = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    check_model(model, x, w, eps, prior, term="mmd", n_samples=3, rng=rng)
    assert (model.lam, model.alpha) == (2.5, 0.2)
    with pytest.raises(ValueError):
        check_model(model, x, w, eps, prior, term="elbo")
    assert (model.lam, model.alpha) == (2.5, 0.2)
