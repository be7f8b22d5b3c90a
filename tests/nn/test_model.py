"""Tests of npvae.nn.model: gradient checks of both models, the params contract, determinism,
the mean spectrum, float32, the estimator interface, bad input, and the golden trajectory.

The golden test trains a tiny InfoVAE for 10 Adam steps (float64, fixed seed) and compares the
loss trajectory with (a) an independent NumPy implementation written below from plain matrix
expressions (no npvae.nn.layers or npvae.nn.kernels) and (b) tests/nn/golden/trajectory.json. Regenerate
(b) only after a deliberate change of the numbers, with

    NPVAE_REGENERATE_GOLDEN=1 python -m pytest -q tests/nn/test_model.py -k golden

Shapes: B batch, D pixels, H hidden, Z latent, M prior samples.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import npvae
from npvae.nn.gradcheck import check_model
from npvae.utils import NpvaeError, atomic_write
from _reference import textbook_adam

TOL = 1e-6                      # smooth parts, float64
# Finite-difference step of the model checks. At npvae.nn.gradcheck's default h = 1e-5 the
# encoder tensors of the recon term reach 1-2e-6 and the error scales as 1/h (measured:
# x10 from h = 1e-5 to 1e-6, x0.1 to 1e-4): it is roundoff, eps |f| / h with f ~ 17,
# judged against a floor of 1% of a tensor whose largest gradient is ~0.01. At h = 1e-4 the
# truncation error (~h^2) is still far below 1e-6, and every check below stays under 3e-7.
H = 1e-4
D, HIDDEN, Z, B, M = 30, (12, 7), 3, 6, 10
GOLDEN = Path(__file__).parent / "golden" / "trajectory.json"
VAE_KEYS = ["enc1.W", "enc1.b", "enc2.W", "enc2.b", "mu.W", "mu.b", "logvar.W", "logvar.b",
            "dec1.W", "dec1.b", "dec2.W", "dec2.b", "out.W", "out.b"]
AE_KEYS = [k for k in VAE_KEYS if not k.startswith("logvar")]


def _vae(hidden=HIDDEN, activation="relu", dtype=np.float64, seed=0, **kw):
    """A random-weight InfoVAE, marked fitted so that encode and decode may be called."""
    model = npvae.InfoVAE(D, hidden, Z, activation=activation, dtype=dtype, seed=seed, n_prior=M, **kw)
    model.is_fitted = True
    return model


def _data(seed, n=B):
    """x (B, D), w (B, D), eps (B, Z), prior (M, Z) from one generator."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, D))
    w = rng.uniform(0.5, 2.0, (n, D))
    return x, w, rng.standard_normal((n, Z)), rng.standard_normal((M, Z))


# --- an independent implementation: plain matrix expressions ---------------------------------
def _act(u, slope):
    return np.where(u > 0, u, slope * u)


def reference_loss_and_grads(P, x, w, eps, prior, mean, lam, alpha, slope, n_hidden):
    """InfoVAE objective and its gradient written out directly.  P: dict of float64 arrays."""
    n, zdim = eps.shape
    names_enc = [f"enc{i + 1}" for i in range(n_hidden)]
    names_dec = [f"dec{i + 1}" for i in range(n_hidden)]
    pre = []                                                   # all hidden pre-activations
    xc = x - mean
    ins, h = [], xc
    for name in names_enc:
        ins.append(h)
        u = h @ P[name + ".W"] + P[name + ".b"]
        pre.append(u)
        h = _act(u, slope)
    mu = h @ P["mu.W"] + P["mu.b"]
    lv = h @ P["logvar.W"] + P["logvar.b"]
    std = np.exp(lv / 2)
    z = mu + std * eps
    dins, d = [], z
    for name in names_dec:
        dins.append(d)
        u = d @ P[name + ".W"] + P[name + ".b"]
        pre.append(u)
        d = _act(u, slope)
    xhat = d @ P["out.W"] + P["out.b"]

    recon = np.sum(0.5 * w * (xc - xhat) ** 2) / n
    kl = -0.5 * np.sum(1 + lv - mu ** 2 - np.exp(lv)) / n
    diff_zz = z[:, None, :] - z[None, :, :]                    # (B, B, Z)
    diff_zp = z[:, None, :] - prior[None, :, :]                # (B, M, Z)
    diff_pp = prior[:, None, :] - prior[None, :, :]            # (M, M, Z)
    k_zz = np.exp(-np.sum(diff_zz ** 2, -1) / zdim)
    k_zp = np.exp(-np.sum(diff_zp ** 2, -1) / zdim)
    k_pp = np.exp(-np.sum(diff_pp ** 2, -1) / zdim)
    mmd = k_zz.mean() + k_pp.mean() - 2 * k_zp.mean()
    c_kl, c_mmd = 1 - alpha, (alpha + lam - 1) * zdim
    total = recon + c_kl * kl + c_mmd * mmd

    G = {}
    dxhat = w * (xhat - xc) / n
    G["out.W"], G["out.b"] = d.T @ dxhat, dxhat.sum(0)
    dd = dxhat @ P["out.W"].T
    for i in reversed(range(n_hidden)):
        name = names_dec[i]
        du = dd * np.where(pre[n_hidden + i] > 0, 1.0, slope)
        G[name + ".W"], G[name + ".b"] = dins[i].T @ du, du.sum(0)
        dd = du @ P[name + ".W"].T
    # d mmd / dz: both z slots of k(z_i, z_j), and the cross term; dk/da = -2 (a - b) k / Z
    dmmd = (2 * np.einsum("ab,abk->ak", k_zz, -2 * diff_zz / zdim) / n ** 2
            - 2 * np.einsum("am,amk->ak", k_zp, -2 * diff_zp / zdim) / (n * len(prior)))
    dz = dd + c_mmd * dmmd
    dmu = dz + c_kl * mu / n
    dlv = dz * eps * std / 2 + c_kl * (np.exp(lv) - 1) / (2 * n)
    G["mu.W"], G["mu.b"] = h.T @ dmu, dmu.sum(0)
    G["logvar.W"], G["logvar.b"] = h.T @ dlv, dlv.sum(0)
    dh = dmu @ P["mu.W"].T + dlv @ P["logvar.W"].T
    for i in reversed(range(n_hidden)):
        name = names_enc[i]
        du = dh * np.where(pre[i] > 0, 1.0, slope)
        G[name + ".W"], G[name + ".b"] = ins[i].T @ du, du.sum(0)
        dh = du @ P[name + ".W"].T
    terms = {"recon": recon, "kl": kl, "mmd": mmd, "total": total}
    return terms, G, pre


def _kink_margin(model, x, eps, heads=True):
    """Smallest |pre-activation| of any hidden unit on this batch (reference forward).

    For the autoencoder (no logvar head) pass heads=False: z is then the code mu itself.
    """
    P = {k: v.copy() for k, v in model.params.items()}
    if not heads:
        P["logvar.W"], P["logvar.b"] = np.zeros_like(P["mu.W"]), np.full(Z, -800.0)   # std = exp(-400): z = mu
    pre = reference_loss_and_grads(P, x, np.ones_like(x), eps, np.zeros((2, Z)), model.mean_,
                                   1.0, 0.0, model.slope, len(model.hidden))[2]
    return min(np.abs(u).min() for u in pre)


def _check(model, term, seed):
    x, w, eps, prior = _data(seed)
    assert _kink_margin(model, x, eps) > 20 * H          # a step h never crosses a ReLU kink
    if term in ("kl", "mmd"):
        w = np.zeros_like(w)                              # removes recon (check_model's docstring)
    return check_model(model, x, w, eps, prior, term=term, h=H)


# --- gradient checks ------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("term", ["total", "recon", "kl", "mmd"])
def test_infovae_gradients_match_central_differences(activation, term):
    model = _vae(activation=activation, seed=3)
    errors = _check(model, term, seed=103)
    assert list(errors) == VAE_KEYS
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("hidden, seed", [((9,), 1), ((12, 9, 7), 12)])
def test_infovae_gradients_match_for_one_and_three_hidden_layers(hidden, seed):
    model = _vae(hidden=hidden, activation="leaky_relu", seed=seed)
    errors = _check(model, "total", seed=100 + seed)
    assert len(errors) == 2 * (2 * len(hidden) + 3)
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
def test_autoencoder_gradients_match_central_differences(activation):
    model = npvae.Autoencoder(D, HIDDEN, Z, activation=activation, dtype=np.float64, seed=3)
    x, w, eps, _ = _data(103)
    assert _kink_margin(model, x, eps, heads=False) > 20 * H
    errors = check_model(model, x, w, h=H)
    assert list(errors) == AE_KEYS
    assert max(errors.values()) <= TOL, errors


@pytest.mark.parametrize("term", ["recon", "kl", "mmd"])
def test_kl_and_mmd_alone_really_are_isolated_by_check_model(term):
    """The objective check_model differentiates for one term is exactly that term: every
    loss_and_grads call it makes (through its own isolation of the term) returns a total equal
    to the term's value at the model's own settings (recon; kl; Z * mmd, the MMD weight at
    alpha + lam - 1 = 1), and lam and alpha are restored afterwards."""
    model = _vae(seed=4, lam=2.5, alpha=0.3)
    x, w, eps, prior = _data(14)
    terms, _ = model.loss_and_grads(x, w, eps, prior)
    expected = {"recon": terms["recon"], "kl": terms["kl"], "mmd": Z * terms["mmd"]}[term]
    if term in ("kl", "mmd"):
        w = np.zeros_like(w)                              # removes recon (check_model's docstring)
    totals = []

    def spy(*args):
        out = type(model).loss_and_grads(model, *args)
        totals.append(out[0]["total"])
        return out

    model.loss_and_grads = spy
    check_model(model, x, w, eps, prior, term=term, h=H, n_samples=2, rng=0)
    del model.loss_and_grads
    assert len(totals) > 10
    assert totals[0] == pytest.approx(expected, rel=1e-13)        # unperturbed parameters
    assert np.allclose(totals, expected, rtol=1e-3)                # perturbed by h
    assert (model.lam, model.alpha) == (2.5, 0.3)


def test_model_gradients_equal_the_independent_numpy_implementation():
    model = _vae(activation="leaky_relu", seed=5, lam=2.5, alpha=0.3)
    x, w, eps, prior = _data(15)
    model.mean_[...] = np.random.default_rng(25).standard_normal(D)
    terms, grads = model.loss_and_grads(x, w, eps, prior)
    P = {k: v.copy() for k, v in model.params.items()}
    ref_terms, ref_grads, _ = reference_loss_and_grads(P, x, w, eps, prior, model.mean_, 2.5, 0.3,
                                                       0.01, 2)
    for k in ref_terms:
        assert terms[k] == pytest.approx(ref_terms[k], rel=1e-12), k
    for k in VAE_KEYS:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-10,
                                   atol=1e-12 * np.abs(ref_grads[k]).max(), err_msg=k)


# --- the params contract ----------------------------------------------------------------------
@pytest.mark.parametrize("cls, keys", [(npvae.InfoVAE, VAE_KEYS), (npvae.Autoencoder, AE_KEYS)])
def test_params_have_exactly_the_contract_keys_and_W_shaped_in_out(cls, keys):
    model = cls(D, HIDDEN, Z, dtype=np.float64, seed=0)
    assert list(model.params) == keys
    widths = {"enc1": (D, 12), "enc2": (12, 7), "mu": (7, Z), "logvar": (7, Z),
              "dec1": (Z, 7), "dec2": (7, 12), "out": (12, D)}
    for key, arr in model.params.items():
        layer, kind = key.split(".")
        assert arr.shape == (widths[layer] if kind == "W" else widths[layer][1:]), key
        assert arr.dtype == np.float64


def test_loss_and_grads_returns_the_term_keys_and_grads_shaped_like_params():
    model = _vae()
    x, w, eps, prior = _data(16)
    terms, grads = model.loss_and_grads(x, w, eps, prior)
    assert set(terms) == {"recon", "kl", "mmd", "total"}
    assert all(isinstance(v, float) for v in terms.values())
    assert list(grads) == VAE_KEYS
    assert all(grads[k].shape == model.params[k].shape for k in VAE_KEYS)
    ae = npvae.Autoencoder(D, HIDDEN, Z, dtype=np.float64, seed=0)
    t, g = ae.loss_and_grads(x, w)
    assert set(t) == {"recon", "total"} and t["recon"] == t["total"]
    assert list(g) == AE_KEYS


def test_total_is_the_weighted_sum_of_the_terms():
    model = _vae(lam=4.0, alpha=0.25)
    x, w, eps, prior = _data(17)
    t, _ = model.loss_and_grads(x, w, eps, prior)
    assert t["total"] == pytest.approx(t["recon"] + 0.75 * t["kl"] + 3.25 * Z * t["mmd"], rel=1e-14)


# --- determinism, buffers, mean ----------------------------------------------------------------
def test_loss_and_grads_is_deterministic_and_reuses_grads_buffer_safely():
    model = _vae()
    x, w, eps, prior = _data(18)
    t1, g1 = model.loss_and_grads(x, w, eps, prior)
    g1 = {k: v.copy() for k, v in g1.items()}
    buf = model.new_grads()
    for v in buf.values():
        v[...] = np.nan                                    # garbage must be overwritten
    model.loss_and_grads(*_data(19, n=4))                  # other batch size in between
    t2, g2 = model.loss_and_grads(x, w, eps, prior, grads=buf)
    assert g2 is buf
    model.loss_and_grads(*_data(20))                       # same size, other numbers
    t3, g3 = model.loss_and_grads(x, w, eps, prior, grads=buf)
    assert t1 == t2 == t3
    for k in VAE_KEYS:
        np.testing.assert_array_equal(g2[k], g1[k], err_msg=k)
        np.testing.assert_array_equal(g3[k], g1[k], err_msg=k)


def test_different_noise_gives_different_loss():
    model = _vae()
    x, w, eps, prior = _data(21)
    t1, _ = model.loss_and_grads(x, w, eps, prior)
    t2, _ = model.loss_and_grads(x, w, -eps, prior)
    t3, _ = model.loss_and_grads(x, w, eps, prior[::-1] * 0.5)
    assert t1["recon"] != t2["recon"] and t1["mmd"] != t3["mmd"]


@pytest.mark.parametrize("cls", [npvae.InfoVAE, npvae.Autoencoder])
def test_mean_spectrum_is_subtracted(cls):
    model = cls(D, HIDDEN, Z, dtype=np.float64, seed=6)
    model.is_fitted = True                          # random weights used as if trained
    x, w, eps, prior = _data(22)
    shift = 10.0 * np.random.default_rng(26).standard_normal(D)
    t1, g1 = model.loss_and_grads(x, w, eps, prior)
    g1 = {k: v.copy() for k, v in g1.items()}
    code1, rec1 = model.transform(x), model.reconstruct(x)
    model.mean_[...] = shift
    t2, g2 = model.loss_and_grads(x + shift, w, eps, prior)
    for k in t1:
        assert t2[k] == pytest.approx(t1[k], rel=1e-10), k
    for k in g1:
        np.testing.assert_allclose(g2[k], g1[k], rtol=1e-8, atol=1e-10 * np.abs(g1[k]).max(), err_msg=k)
    np.testing.assert_allclose(model.transform(x + shift), code1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.reconstruct(x + shift), rec1 + shift, rtol=1e-10, atol=1e-10)
    t3, _ = model.loss_and_grads(x, w, eps, prior)        # mean moved, data not: differs
    assert abs(t3["recon"] - t1["recon"]) > 1e-3 * t1["recon"]


def test_float32_model_agrees_with_float64_to_float32_precision():
    m64, m32 = _vae(seed=7), _vae(seed=7, dtype=np.float32)
    for k in VAE_KEYS:
        np.testing.assert_array_equal(m32.params[k], m64.params[k].astype(np.float32))
        m64.params[k][...] = m32.params[k]                 # same numbers exactly
    x, w, eps, prior = (a.astype(np.float32) for a in _data(23))
    t64, g64 = m64.loss_and_grads(x, w, eps, prior)
    t32, g32 = m32.loss_and_grads(x, w, eps, prior)
    for k in t64:
        assert t32[k] == pytest.approx(t64[k], rel=1e-4), k
    for k in VAE_KEYS:
        assert g32[k].dtype == np.float32
        err = np.abs(g32[k] - g64[k]).max() / np.abs(g64[k]).max()
        assert err < 1e-3, (k, err)


# --- estimator interface ----------------------------------------------------------------------
def _plain_encode(model, X):
    """mu and logvar from the public params with plain NumPy."""
    h = X - model.mean_
    for i in range(len(model.hidden)):
        h = _act(h @ model.params[f"enc{i + 1}.W"] + model.params[f"enc{i + 1}.b"], model.slope)
    return h @ model.params["mu.W"] + model.params["mu.b"], h


def _plain_decode(model, C):
    d = C
    for i in range(len(model.hidden)):
        d = _act(d @ model.params[f"dec{i + 1}.W"] + model.params[f"dec{i + 1}.b"], model.slope)
    return d @ model.params["out.W"] + model.params["out.b"] + model.mean_


@pytest.mark.parametrize("cls", [npvae.InfoVAE, npvae.Autoencoder])
def test_encode_decode_reconstruct_match_plain_forward(cls):
    model = cls(D, HIDDEN, Z, activation="leaky_relu", dtype=np.float64, seed=8)
    model.is_fitted = True                          # random weights used as if trained
    model.mean_[...] = np.random.default_rng(27).standard_normal(D)
    X = np.random.default_rng(28).standard_normal((9, D))
    mu, logvar = model.encode(X)
    mu_ref, h = _plain_encode(model, X)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-12, atol=1e-14)
    if cls is npvae.InfoVAE:
        np.testing.assert_allclose(logvar, h @ model.params["logvar.W"] + model.params["logvar.b"],
                                   rtol=1e-12, atol=1e-14)
    else:
        np.testing.assert_array_equal(logvar, 0.0)
    np.testing.assert_array_equal(model.transform(X), mu)
    np.testing.assert_allclose(model.decode(mu), _plain_decode(model, mu), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(model.inverse_transform(mu), model.decode(mu))
    np.testing.assert_array_equal(model.reconstruct(X), model.decode(model.transform(X)))
    assert model.n_components == Z


@pytest.mark.parametrize("bad", ["x_wrong_D", "x_1d", "w_wrong_D"])
def test_bad_data_shapes_raise_npvae_error(bad):
    model = _vae()
    x, w, eps, prior = _data(24)
    if bad == "x_wrong_D":
        x = x[:, :-1]
    elif bad == "x_1d":
        x = x[0]
    else:
        w = w[:, :-1]
    with pytest.raises(NpvaeError):
        model.loss_and_grads(x, w, eps, prior)
    with pytest.raises(NpvaeError):
        model.encode(x if bad != "w_wrong_D" else x[:, :-1])


def test_weights_with_other_row_count_than_x_raise_npvae_error():
    model = _vae()
    x, w, eps, prior = _data(24)
    with pytest.raises(NpvaeError):
        model.loss_and_grads(x, w[:-1], eps, prior)


@pytest.mark.parametrize("eps_shape", [(1, Z), (Z,)])
def test_eps_of_wrong_shape_raises_npvae_error(eps_shape):
    model = _vae()
    x, w, eps, prior = _data(24)
    with pytest.raises(NpvaeError):
        model.loss_and_grads(x, w, np.ones(eps_shape), prior)


@pytest.mark.parametrize("cols", [Z - 1, Z + 1])
def test_prior_with_wrong_latent_dimension_raises_npvae_error(cols):
    model = _vae()
    x, w, eps, _ = _data(24)
    with pytest.raises(NpvaeError):
        model.loss_and_grads(x, w, eps, np.ones((M, cols)))


def test_decode_of_wrong_latent_dimension_and_bad_constructor_raise_npvae_error():
    model = _vae()
    with pytest.raises(NpvaeError, match="latent"):
        model.decode(np.zeros((4, Z + 1)))
    with pytest.raises(NpvaeError, match="activation"):
        _vae(activation="tanh")
    with pytest.raises(NpvaeError, match="dtype"):
        _vae(dtype=np.float16)


# --- golden trajectory --------------------------------------------------------------------------
GOLDEN_SETUP = {"seed": 2020, "lr": 1e-2, "steps": 10, "lam": 3.02, "alpha": 0.0,
                "activation": "relu"}


def _golden_run():
    """10 Adam steps of a tiny float64 InfoVAE: per-step terms and the final parameters."""
    s = GOLDEN_SETUP
    rng = np.random.default_rng(s["seed"])
    model = _vae(activation=s["activation"], seed=rng, lam=s["lam"], alpha=s["alpha"])
    x = rng.standard_normal((B, D)) + 1.0
    w = rng.uniform(0.5, 2.0, (B, D))
    model.mean_[...] = x.mean(0)
    initial = {k: v.copy() for k, v in model.params.items()}
    opt = npvae.Adam(model.params, lr=s["lr"])
    grads = model.new_grads()
    steps, noise = [], []
    for _ in range(s["steps"]):
        eps, prior = rng.standard_normal((B, Z)), rng.standard_normal((M, Z))
        noise.append((eps, prior))
        terms, grads = model.loss_and_grads(x, w, eps, prior, grads=grads)
        opt.step(grads)
        steps.append(terms)
    return steps, model, initial, x, w, noise


def _write_golden(path):
    steps, model, _, _, _, _ = _golden_run()
    record = {"setup": GOLDEN_SETUP, "shapes": {"D": D, "hidden": list(HIDDEN), "Z": Z, "B": B, "M": M},
              "steps": steps,
              "final_param_sums": {k: float(v.sum()) for k, v in model.params.items()},
              "final_param_sq_sums": {k: float((v ** 2).sum()) for k, v in model.params.items()}}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def test_golden_trajectory_equals_independent_numpy_implementation():
    steps, model, initial, x, w, noise = _golden_run()
    s = GOLDEN_SETUP
    P = {k: v.copy() for k, v in initial.items()}
    state = {"t": 0, "m": {k: 0.0 for k in P}, "v": {k: 0.0 for k in P}}
    for step, (eps, prior) in zip(steps, noise):
        terms, G, _ = reference_loss_and_grads(P, x, w, eps, prior, model.mean_, s["lam"], s["alpha"],
                                               0.0, len(HIDDEN))
        for k in terms:
            assert step[k] == pytest.approx(terms[k], rel=1e-10, abs=1e-14), k
        textbook_adam(P, G, state, s["lr"])
    for k in VAE_KEYS:
        np.testing.assert_allclose(model.params[k], P[k], rtol=1e-10, atol=1e-12, err_msg=k)
    assert steps[-1]["total"] < steps[0]["total"]          # it trained


def test_golden_trajectory_matches_stored_values():
    if os.environ.get("NPVAE_REGENERATE_GOLDEN") == "1":
        _write_golden(GOLDEN)
    stored = json.loads(GOLDEN.read_text())
    assert stored["setup"] == GOLDEN_SETUP
    steps, model, _, _, _, _ = _golden_run()
    assert len(stored["steps"]) == len(steps) == GOLDEN_SETUP["steps"]
    for got, want in zip(steps, stored["steps"]):
        for k in ("recon", "kl", "mmd", "total"):
            assert got[k] == pytest.approx(want[k], rel=1e-9), k
    for k in VAE_KEYS:
        assert float(model.params[k].sum()) == pytest.approx(stored["final_param_sums"][k], rel=1e-9, abs=1e-12)
        assert float((model.params[k] ** 2).sum()) == pytest.approx(stored["final_param_sq_sums"][k], rel=1e-9)
