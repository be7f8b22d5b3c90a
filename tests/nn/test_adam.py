"""Tests of npvae.nn.adam: the first step, the fused flat path vs the per-tensor path vs the
NumPy reference kernel, several steps vs a textbook Adam written here, and the state round trip.

Shapes: P parameters in all.
"""
import math

import numpy as np
import pytest

import npvae
from npvae.nn import kernels
from npvae.nn.adam import Adam, flat_base
from _reference import textbook_adam


def _tiny_vae(seed=0, dtype=np.float64):
    return npvae.InfoVAE(30, (12, 7), 3, dtype=dtype, seed=seed, n_prior=10)


def _random_grads(model, rng, scale=1.0):
    """A gradient dict laid out like model.params (one flat buffer), random entries."""
    grads = model.new_grads()
    for g in grads.values():
        g[...] = scale * rng.standard_normal(g.shape)
    return grads


def test_first_step_is_minus_lr_times_sign_of_gradient():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(200)
    g = rng.standard_normal(200) * 10.0 ** rng.uniform(-4, 2, 200)   # magnitudes 1e-4 .. 1e2
    params = {"p": p0.copy()}
    lr, eps = 1e-3, 1e-8
    Adam(params, lr=lr, eps=eps).step({"p": g})
    step = params["p"] - p0
    # exactly -lr g / (|g| + eps) after bias correction; equal to -lr sign(g) up to eps / |g|
    np.testing.assert_allclose(step, -lr * g / (np.abs(g) + eps), rtol=1e-9, atol=1e-18)
    assert np.all(np.abs(step + lr * np.sign(g)) <= lr * eps / np.abs(g) + 1e-15)


def test_flat_path_equals_per_tensor_path_and_reference_kernel():
    rng = np.random.default_rng(1)
    model = _tiny_vae(seed=1)
    separate = {k: v.copy() for k, v in model.params.items()}       # a dict of separate arrays
    flat_ref = np.concatenate([v.ravel() for v in model.params.values()])
    opt_flat, opt_sep = Adam(model.params, lr=3e-3), Adam(separate, lr=3e-3)
    assert opt_flat._flat_p is not None                              # one fused pass
    assert opt_sep._flat_p is None                                   # tensor by tensor
    m_ref, v_ref = np.zeros_like(flat_ref), np.zeros_like(flat_ref)
    for t in range(1, 4):
        grads = _random_grads(model, rng)
        assert flat_base(list(grads.values())) is not None
        opt_flat.step(grads)
        opt_sep.step({k: v.copy() for k, v in grads.items()})
        c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
        g_flat = np.concatenate([v.ravel() for v in grads.values()])
        kernels.adam_update_reference(flat_ref, g_flat, m_ref, v_ref, 3e-3 * math.sqrt(c2) / c1,
                                      0.9, 0.999, 1e-8 * math.sqrt(c2), np.finfo(flat_ref.dtype).tiny)
    for k in model.params:
        np.testing.assert_allclose(model.params[k], separate[k], rtol=1e-14, atol=1e-16, err_msg=k)
    got = np.concatenate([v.ravel() for v in model.params.values()])
    np.testing.assert_allclose(got, flat_ref, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(opt_flat.m, m_ref, rtol=1e-14, atol=1e-18)
    np.testing.assert_allclose(opt_flat.v, v_ref, rtol=1e-14, atol=1e-20)


def test_non_flat_grads_for_flat_params_fall_back_to_per_tensor_path():
    rng = np.random.default_rng(2)
    model = _tiny_vae(seed=2)
    twin = {k: v.copy() for k, v in model.params.items()}
    grads = {k: v.copy() for k, v in _random_grads(model, rng).items()}   # separate arrays
    Adam(model.params, lr=1e-2).step(grads)
    state = {"t": 0, "m": {k: 0.0 for k in twin}, "v": {k: 0.0 for k in twin}}
    textbook_adam(twin, grads, state, 1e-2)
    for k in twin:
        np.testing.assert_allclose(model.params[k], twin[k], rtol=1e-13, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("layout", ["flat", "separate"])
def test_step_returns_the_count_of_non_finite_gradient_entries(layout):
    """The training loop's gradient check: 0 for finite gradients, else the number of entries
    that are NaN, infinite, or whose square overflows Adam's second moment, on both paths."""
    rng = np.random.default_rng(4)
    model = _tiny_vae(seed=4)
    grads = _random_grads(model, rng)                                      # views of one flat buffer
    if layout == "separate":
        grads = {k: v.copy() for k, v in grads.items()}
    opt = Adam(model.params, lr=1e-3)
    assert opt.step(grads) == 0
    grads["enc1.W"][0, 1] = np.nan
    grads["out.b"][2] = -np.inf
    grads["dec1.W"][1, 0] = 1e200                                          # (0.001 g) g > 1.8e308
    with np.errstate(all="ignore"):
        assert opt.step(grads) == 3


def test_switching_between_flat_and_separate_gradient_arrays_takes_the_right_path():
    """The flat-buffer check is cached per set of gradient arrays: a new dict, flat or not,
    must be checked again (a stale cache would read the old buffer)."""
    rng = np.random.default_rng(12)
    model = _tiny_vae(seed=12)
    twin = {k: v.copy() for k, v in model.params.items()}
    state = {"t": 0, "m": {k: 0.0 for k in twin}, "v": {k: 0.0 for k in twin}}
    opt = Adam(model.params, lr=1e-2)
    flat_grads = _random_grads(model, rng)
    for grads in (flat_grads, {k: 2.0 * v for k, v in flat_grads.items()}, flat_grads,
                  _random_grads(model, rng)):                 # flat, separate, same flat, new flat
        opt.step(grads)
        textbook_adam(twin, grads, state, 1e-2)
        for k in twin:
            np.testing.assert_allclose(model.params[k], twin[k], rtol=1e-12, atol=1e-15, err_msg=k)


@pytest.mark.parametrize("flat", [True, False])
def test_several_steps_equal_textbook_adam(flat):
    rng = np.random.default_rng(3)
    model = _tiny_vae(seed=3)
    params = model.params if flat else {k: v.copy() for k, v in model.params.items()}
    twin = {k: v.copy() for k, v in model.params.items()}
    state = {"t": 0, "m": {k: 0.0 for k in twin}, "v": {k: 0.0 for k in twin}}
    opt = Adam(params, lr=5e-3, beta1=0.8, beta2=0.99, eps=1e-6)
    for _ in range(7):
        grads = _random_grads(model, rng, scale=10.0 ** rng.uniform(-3, 1))
        opt.step(grads)
        textbook_adam(twin, grads, state, 5e-3, 0.8, 0.99, 1e-6)
    assert opt.t == 7
    for k in twin:
        np.testing.assert_allclose(params[k], twin[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_float32_step_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(4)
    m32, m64 = _tiny_vae(seed=4, dtype=np.float32), _tiny_vae(seed=4)
    for k in m64.params:
        m64.params[k][...] = m32.params[k]
    o32, o64 = Adam(m32.params, lr=1e-2), Adam(m64.params, lr=1e-2)
    for _ in range(3):
        g64 = _random_grads(m64, rng)
        g32 = m32.new_grads()
        for k in g32:
            g32[k][...] = g64[k]
        o32.step(g32)
        o64.step(g64)
    assert o32.m.dtype == np.float32
    for k in m64.params:
        assert m32.params[k].dtype == np.float32
        np.testing.assert_allclose(m32.params[k], m64.params[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(5)
    model = _tiny_vae(seed=5)
    opt = Adam(model.params, lr=2e-3)
    for _ in range(3):
        opt.step(_random_grads(model, rng))
    state = opt.state_dict()
    state_copy = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
    clone = _tiny_vae(seed=99)
    for k in clone.params:
        clone.params[k][...] = model.params[k]
    opt2 = Adam(clone.params, lr=0.5)                      # hyper-parameters come from the state
    opt2.load_state_dict(state)
    assert (opt2.t, opt2.lr, opt2.beta1, opt2.beta2, opt2.eps) == (3, 2e-3, 0.9, 0.999, 1e-8)
    for _ in range(2):
        g = _random_grads(model, rng)
        opt.step(g)
        opt2.step({k: v.copy() for k, v in g.items()})
    for k in model.params:
        np.testing.assert_array_equal(clone.params[k], model.params[k], err_msg=k)
    # state_dict returned copies: stepping did not change it
    np.testing.assert_array_equal(state["m"], state_copy["m"])
    np.testing.assert_array_equal(state["v"], state_copy["v"])


def test_load_state_dict_of_other_size_raises():
    a, b = _tiny_vae(), npvae.InfoVAE(30, (12,), 3, dtype=np.float64, seed=0)
    with pytest.raises(ValueError, match="moments"):
        Adam(b.params).load_state_dict(Adam(a.params).state_dict())


def test_non_contiguous_parameter_arrays_are_updated_in_place():
    rng = np.random.default_rng(6)
    W = np.asfortranarray(rng.standard_normal((4, 5)))
    W0 = W.copy()
    g = rng.standard_normal((4, 5))
    Adam({"W": W}, lr=1e-2).step({"W": g})
    np.testing.assert_allclose(W - W0, -1e-2 * np.sign(g), rtol=1e-5)
