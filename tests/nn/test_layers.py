"""Tests of npvae.nn.layers: gradient checks of every layer, the ReLU kink, the fused layer.

Gradient checks are float64 central differences with a random upstream gradient
(npvae.nn.gradcheck.check_layer). Shapes: B batch, I inputs, O outputs.
"""
import numpy as np
import pytest

from npvae.nn import layers
from npvae.nn.gradcheck import check_layer

H = 1e-5          # finite-difference step (npvae.nn.gradcheck default)
TOL = 1e-6        # relative error allowed for smooth parts in float64
B, I, O = 6, 5, 4


def _away_from_kink(rng, shape, margin):
    """Standard normal values pushed to |x| >= margin (so x +- h never crosses 0)."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-300) * margin + x, x)


def test_linear_gradients_match_central_differences():
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((B, I)), "W": rng.standard_normal((I, O)),
              "b": rng.standard_normal(O)}
    errors = check_layer(layers.linear_forward, layers.linear_backward, inputs, rng=rng)
    assert set(errors) == {"x", "W", "b"}
    assert max(errors.values()) <= TOL, errors


def test_linear_forward_is_x_times_W_plus_b_with_W_shaped_in_out():
    rng = np.random.default_rng(1)
    x, W, b = rng.standard_normal((B, I)), rng.standard_normal((I, O)), rng.standard_normal(O)
    y, _ = layers.linear_forward(x, W, b)
    expected = np.array([[sum(x[n, i] * W[i, o] for i in range(I)) + b[o] for o in range(O)]
                         for n in range(B)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "leaky_relu"])
def test_activation_gradients_match_central_differences_away_from_kink(name):
    rng = np.random.default_rng(2)
    x = _away_from_kink(rng, (B, O), margin=0.05)
    assert np.abs(x).min() > 100 * H               # x +- h stays on one side of the kink
    fwd = getattr(layers, f"{name}_forward")
    bwd = getattr(layers, f"{name}_backward")
    errors = check_layer(fwd, bwd, {"x": x}, rng=rng)
    assert errors["x"] <= TOL, errors


def test_relu_subgradient_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, 2.0]])
    dy = np.array([[3.0, 5.0, 7.0]])
    y, cache = layers.relu_forward(x)
    dx = layers.relu_backward(dy, cache)
    np.testing.assert_array_equal(y, [[0.0, 0.0, 2.0]])
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 7.0]])     # dy * [x > 0]


def test_leaky_relu_subgradient_at_zero_is_the_slope():
    a = layers.LEAKY_SLOPE
    assert a == 0.01
    x = np.array([[-1.0, 0.0, 2.0]])
    dy = np.array([[3.0, 5.0, 7.0]])
    y, cache = layers.leaky_relu_forward(x)
    dx = layers.leaky_relu_backward(dy, cache)
    np.testing.assert_array_equal(y, [[-a, 0.0, 2.0]])
    np.testing.assert_array_equal(dx, [[a * 3.0, a * 5.0, 7.0]])   # the docstring: a at 0


def _fused_check(dtype, slope, seed):
    """Fused linear_act_forward/backward vs linear + activation composed from plain layers."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, I)).astype(dtype)
    W = rng.standard_normal((I, O)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    dy = rng.standard_normal((B, O)).astype(dtype)
    u, lin_cache = layers.linear_forward(x, W, b)
    if slope is None:
        y_ref, du = u, dy
    else:
        y_ref, act_cache = layers.leaky_relu_forward(u, slope)
        du = layers.leaky_relu_backward(dy, act_cache)
    dx_ref, dW_ref, db_ref = layers.linear_backward(du, lin_cache)

    y, cache = layers.linear_act_forward(x, W, b, slope, out=np.empty((B, O), dtype))
    dW, db = np.full((I, O), np.nan, dtype), np.full(O, np.nan, dtype)
    dx = layers.linear_act_backward(dy.copy(), cache, dW, db)
    return (y, dx, dW, db), (y_ref, dx_ref, dW_ref, db_ref)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("slope", [0.0, 0.01, None])
def test_fused_linear_act_equals_composition_of_plain_layers(dtype, rtol, slope):
    fused, ref = _fused_check(dtype, slope, seed=3)
    for got, want, what in zip(fused, ref, ("y", "dx", "dW", "db")):
        assert got.dtype == dtype, what
        scale = np.abs(want).max()
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("slope", [0.0, None])
def test_transposed_dx_buffer_and_transposed_dy_give_the_plain_gradients(dtype, rtol, slope):
    """dx written through a transposed (I, B) buffer (the product formed as W dy^T) equals
    dy W^T, and a layer fed that F-ordered dx as its upstream gradient (as the decoder's layer
    under the output layer is) gives the same dx, dW, db as with a C-ordered copy of it."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((B, I)).astype(dtype)
    W, b = rng.standard_normal((I, O)).astype(dtype), rng.standard_normal(O).astype(dtype)
    dy = rng.standard_normal((B, O)).astype(dtype)
    _, cache = layers.linear_act_forward(x, W, b, None)
    dW, db = np.empty((I, O), dtype), np.empty(O, dtype)
    dx_t = np.full((I, B), np.nan, dtype)                            # garbage: must be overwritten
    dx = layers.linear_act_backward(dy.copy(), cache, dW, db, dx_out=dx_t.T)
    assert dx.shape == (B, I) and np.shares_memory(dx, dx_t)
    want = dy.astype(np.float64) @ W.T.astype(np.float64)           # (B, I) the plain product
    np.testing.assert_allclose(dx, want, rtol=rtol, atol=rtol * np.abs(want).max())
    # the F-ordered dx as the upstream gradient of a layer below (I outputs)
    x2 = rng.standard_normal((B, O)).astype(dtype)
    W2, b2 = rng.standard_normal((O, I)).astype(dtype), rng.standard_normal(I).astype(dtype)
    _, cache2 = layers.linear_act_forward(x2, W2, b2, slope)
    grads = []
    for upstream in (dx.copy(order="F"), dx.copy(order="C")):
        assert upstream.flags.f_contiguous != upstream.flags.c_contiguous
        dW2, db2 = np.empty((O, I), dtype), np.empty(I, dtype)
        grads.append((layers.linear_act_backward(upstream, cache2, dW2, db2), dW2, db2))
    for got, want, what in zip(*grads, ("dx", "dW", "db")):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max(), err_msg=what)


def test_fused_backward_without_dx_returns_none_and_still_fills_dW_db():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal((B, I)), rng.standard_normal((I, O)), rng.standard_normal(O)
    dy = rng.standard_normal((B, O))
    _, cache = layers.linear_act_forward(x, W, b, 0.0)
    dW, db = np.zeros((I, O)), np.zeros(O)
    assert layers.linear_act_backward(dy.copy(), cache, dW, db, need_dx=False) is None
    u = x @ W + b
    du = dy * (u > 0)
    np.testing.assert_allclose(dW, x.T @ du, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(db, du.sum(0), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("slope", [0.0, 0.01, None])
def test_fused_layer_gradients_match_central_differences(slope):
    rng = np.random.default_rng(5)
    while True:     # draw until every pre-activation is far from the kink (deterministic)
        x, W = rng.standard_normal((B, I)), rng.standard_normal((I, O))
        b = rng.standard_normal(O)
        # one step h in x, W or b moves a pre-activation by at most h * (sum|x| + sum|W| + 1)
        reach = H * (np.abs(x).sum(1).max() + np.abs(W).sum(0).max() + 1)
        if np.abs(x @ W + b).min() > 100 * reach:
            break

    def backward(dy, cache):
        dW, db = np.empty((I, O)), np.empty(O)
        dx = layers.linear_act_backward(dy, cache, dW, db)
        return dx, dW, db

    errors = check_layer(lambda x, W, b: layers.linear_act_forward(x, W, b, slope), backward,
                         {"x": x, "W": W, "b": b}, rng=rng)
    assert max(errors.values()) <= TOL, errors
