"""The noise-aware InfoVAE: gradients (float64), what its encoder reads, save and load.

Anchors: central differences for the gradients; a standard InfoVAE with the flux rows of enc1
for the forward pass and gradients when the noise rows are zero; plain matrix expressions for
the encoder; sigma = w^(-1/2) for the noise block. Shapes: B batch, D pixels, Z latent, M prior.
"""
import numpy as np
import pytest

import npvae
from npvae.nn import InfoVAE
from npvae.nn.gradcheck import check_model
from npvae.nn.network import NOISE_SCALE, noise_feature
from npvae.paper import SN_CAP
from npvae.utils import NpvaeError

H, TOL = 1e-4, 1e-6            # the step and tolerance of tests/nn/test_model.py
D, HIDDEN, Z, B, M = 30, (12, 7), 3, 6, 10
KEYS = ["enc1.W", "enc1.b", "enc2.W", "enc2.b", "mu.W", "mu.b", "logvar.W", "logvar.b",
        "dec1.W", "dec1.b", "dec2.W", "dec2.b", "out.W", "out.b"]


def _model(noise_aware=True, activation="relu", seed=3, **kw):
    model = InfoVAE(D, HIDDEN, Z, activation=activation, dtype=np.float64, seed=seed, n_prior=M,
                    noise_aware=noise_aware, **kw)
    model.is_fitted = True
    return model


def _data(seed):
    """x (B, D), w (B, D) with some zero weights, eps (B, Z), prior (M, Z)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, D))
    w = rng.uniform(0.5, 2.0, (B, D))                         # |f| ~ 20: roundoff stays below 1e-6
    w[rng.random((B, D)) < 0.1] = 0.0
    return x, w, rng.standard_normal((B, Z)), rng.standard_normal((M, Z))


def _act(u, slope):
    return np.where(u > 0, u, slope * u)


def _plain_encoder(model, x, w):
    """Encoder written out: relu([x - mean, sqrt(w) / 50] W1 + b1) ... -> mu, logvar, pre-activations."""
    P = model.params
    h = np.hstack([x - model.mean_, np.sqrt(w) / SN_CAP])                 # (B, 2D)
    pre = []
    for name in ("enc1", "enc2"):
        pre.append(h @ P[name + ".W"] + P[name + ".b"])
        h = _act(pre[-1], model.slope)
    return h @ P["mu.W"] + P["mu.b"], h @ P["logvar.W"] + P["logvar.b"], pre


def _kink_margin(model, x, w, eps):
    """Smallest |pre-activation| of any hidden unit, encoder and decoder, on this batch."""
    mu, logvar, pre = _plain_encoder(model, x, w)
    d = mu + np.exp(0.5 * logvar) * eps                                   # (B, Z)
    for name in ("dec1", "dec2"):
        pre.append(d @ model.params[name + ".W"] + model.params[name + ".b"])
        d = _act(pre[-1], model.slope)
    return min(np.abs(u).min() for u in pre)


# --- gradients --------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ["relu", "leaky_relu"])
@pytest.mark.parametrize("term", ["total", "recon"])
def test_noise_aware_gradients_match_central_differences(activation, term):
    seed = 9          # batches kept away from the kinks
    model = _model(activation=activation, seed=seed)
    model.mean_[...] = np.random.default_rng(9).standard_normal(D)
    x, w, eps, prior = _data(100 + seed)
    assert _kink_margin(model, x, w, eps) > 20 * H           # a step h never crosses a ReLU kink
    errors = check_model(model, x, w, eps, prior, term=term, h=H, n_samples=60, rng=0)   # 60 entries a tensor
    assert list(errors) == KEYS
    assert model.params["enc1.W"].shape == (2 * D, HIDDEN[0])
    assert max(errors.values()) <= TOL, errors


def test_with_zero_noise_rows_it_is_the_standard_model_on_the_flux_rows():
    """enc1.W = [W_x; 0]: the same terms and gradients as a standard InfoVAE with enc1.W = W_x;
    and the noise row of pixel d gets the gradient of its flux row when u_d = x_d - mean_d."""
    aware, plain = _model(seed=4, lam=2.5, alpha=0.2), _model(noise_aware=False, seed=5, lam=2.5, alpha=0.2)
    aware.params["enc1.W"][D:] = 0.0
    for key in KEYS:
        source = aware.params[key][:D] if key == "enc1.W" else aware.params[key]
        plain.params[key][...] = source
    x, w, eps, prior = _data(14)
    terms_a, grads_a = aware.loss_and_grads(x, w, eps, prior)
    terms_p, grads_p = plain.loss_and_grads(x, w, eps, prior)
    for key in terms_p:
        assert terms_a[key] == pytest.approx(terms_p[key], rel=1e-13), key
    for key in KEYS:
        got = grads_a[key][:D] if key == "enc1.W" else grads_a[key]
        np.testing.assert_allclose(got, grads_p[key], rtol=1e-11, atol=1e-14, err_msg=key)
    # the first layer reads the noise block like flux: where u_d = x_d - mean_d the two rows agree
    x[:, 0] = aware.mean_[0] + noise_feature(w)[:, 0]
    grads_a = aware.loss_and_grads(x, w, eps, prior)[1]
    assert np.abs(grads_a["enc1.W"][0]).max() > 0
    np.testing.assert_allclose(grads_a["enc1.W"][D], grads_a["enc1.W"][0], rtol=1e-12, atol=1e-15)


def test_noise_rows_change_nothing_when_every_weight_is_zero():
    """w = 0 everywhere: the noise block is 0 (infinite noise), so its rows have no effect and no gradient."""
    model = _model(seed=6)
    x, _, eps, prior = _data(16)
    w = np.zeros((B, D))
    before = model.encode(x, w)
    terms, grads = model.loss_and_grads(x, w, eps, prior)
    model.params["enc1.W"][D:] += 5.0
    after = model.encode(x, w)
    assert np.array_equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert np.all(grads["enc1.W"][D:] == 0.0)


# --- what the encoder reads -------------------------------------------------------------------
def test_noise_block_is_inverse_sigma_over_the_cap_and_zero_for_zero_weight():
    sigma = np.array([[0.02, 0.1, 1.0, 4.0]])
    w = 1.0 / sigma ** 2
    w[0, 2] = 0.0                                               # a masked pixel: infinite noise
    expected = np.array([[1.0 / (0.02 * SN_CAP), 1.0 / (0.1 * SN_CAP), 0.0, 1.0 / (4.0 * SN_CAP)]])
    np.testing.assert_allclose(noise_feature(w), expected, rtol=1e-15)
    assert NOISE_SCALE == SN_CAP and noise_feature(w)[0, 0] == pytest.approx(1.0)   # S/N cap of unit flux -> 1


def test_encode_equals_the_plain_encoder_on_flux_and_noise():
    model = _model(activation="leaky_relu", seed=7)
    model.mean_[...] = np.random.default_rng(17).standard_normal(D)
    x, w, _, _ = _data(17)
    mu, logvar = model.encode(x, w)
    mu_ref, logvar_ref, _ = _plain_encoder(model, x, w)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(logvar, logvar_ref, rtol=1e-12, atol=1e-14)
    assert not np.allclose(model.encode(x, 2 * w)[1], logvar)             # it does read the noise


@pytest.mark.parametrize("weights, message", [(None, "pass its weights"), (np.ones((B, D - 1)), "must be"),
                                              (-np.ones((B, D)), ">= 0")])
def test_noise_aware_encode_without_good_weights_raises_npvae_error(weights, message):
    model = _model()
    with pytest.raises(NpvaeError, match=message):
        model.encode(np.zeros((B, D)), weights)


def test_standard_model_ignores_weights_and_keeps_its_old_configuration():
    model = _model(noise_aware=False)
    x, w, _, _ = _data(18)
    assert np.array_equal(model.encode(x)[0], model.encode(x, w)[0])
    assert "noise_aware" not in model.config() and model.params["enc1.W"].shape == (D, HIDDEN[0])


# --- save and load ----------------------------------------------------------------------------
def test_save_load_round_trip_keeps_noise_aware_and_the_encoding(tmp_path):
    model = npvae.InfoVAE(D, HIDDEN, Z, seed=8, n_prior=M, noise_aware=True)
    model.is_fitted = True
    model.mean_[...] = 0.3
    model.save(tmp_path / "m.npz")
    back = npvae.load(tmp_path / "m.npz")
    x, w, _, _ = _data(19)
    assert back.noise_aware and back.config() == model.config()
    assert back.params["enc1.W"].shape == (2 * D, HIDDEN[0])
    for a, b in zip(model.encode(x, w), back.encode(x, w)):
        assert np.array_equal(a, b)
    with pytest.raises(NpvaeError, match="pass its weights"):
        back.transform(x)
