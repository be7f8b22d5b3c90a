"""The chunked validation objective is deterministic, chunk-size independent and equals the
training estimator on the same noise."""
import numpy as np
import pytest

import npvae
from npvae.nn import kernels
from npvae.nn.kernels import mmd_rbf_terms_reference, prior_kernel_mean_reference
from npvae.train.validation import draw_validation_noise, evaluate


def _trained_vae(data):
    X, W, Xv, Wv = data
    return npvae.InfoVAE(40, (16, 8), 2, lam=4.0, seed=5, n_prior=60, dtype=np.float64).fit(
        X, W, max_epochs=2, batch_size=32, verbose=False)


def test_deterministic_and_independent_of_chunk_size(tiny_data):
    model = _trained_vae(tiny_data)
    Xv, Wv = tiny_data[2], tiny_data[3]
    noise = draw_validation_noise(model, len(Xv), seed=1)
    a = evaluate(model, Xv, Wv, noise, block=16, chunk=16)
    b = evaluate(model, Xv, Wv, noise, block=16, chunk=1024)
    c = evaluate(model, Xv, Wv, draw_validation_noise(model, len(Xv), seed=1), block=16, chunk=48)
    for key in ("recon", "kl", "mmd", "total"):
        assert a[key] == pytest.approx(b[key], rel=1e-12) and a[key] == pytest.approx(c[key], rel=1e-12)
    other = evaluate(model, Xv, Wv, draw_validation_noise(model, len(Xv), seed=2), block=16)
    assert other["total"] != a["total"]


def test_one_block_equals_the_training_objective_on_the_same_noise(tiny_data):
    model = _trained_vae(tiny_data)
    Xv, Wv = tiny_data[2], tiny_data[3]
    noise = draw_validation_noise(model, len(Xv), seed=3)
    val = evaluate(model, Xv, Wv, noise, block=len(Xv))
    terms, _ = model.loss_and_grads(Xv, Wv, noise.eps, noise.prior)
    for key in ("recon", "kl", "mmd", "total"):
        assert val[key] == pytest.approx(terms[key], rel=1e-9)


def test_block_mmd_is_the_size_weighted_mean_of_batch_estimators(tiny_data):
    model = _trained_vae(tiny_data)
    Xv, Wv = tiny_data[2], tiny_data[3]                      # 70 spectra: blocks 32, 32, 6
    noise = draw_validation_noise(model, len(Xv), seed=4)
    mu, logvar = model.encode(Xv)
    z = mu + np.exp(0.5 * logvar) * noise.eps
    expected = 0.0
    for s in range(0, 70, 32):
        zz, zp = mmd_rbf_terms_reference(z[s:s + 32], noise.prior, 0.0, np.zeros_like(z[s:s + 32]))
        pp = prior_kernel_mean_reference(noise.prior)
        expected += (zz + pp - 2 * zp) * len(z[s:s + 32]) / 70
    assert evaluate(model, Xv, Wv, noise, block=32)["mmd"] == pytest.approx(expected, rel=1e-9)


def test_prior_term_is_computed_once_per_noise_not_per_block(tiny_data, monkeypatch):
    """The prior-prior kernel mean does not depend on the model: ValidationNoise holds it, and
    evaluating (3 blocks here) must not recompute it."""
    model = _trained_vae(tiny_data)
    Xv, Wv = tiny_data[2], tiny_data[3]
    noise = draw_validation_noise(model, len(Xv), seed=4)
    assert noise.prior_term == pytest.approx(prior_kernel_mean_reference(noise.prior), rel=1e-12)
    calls = []
    original = kernels.prior_kernel_mean
    monkeypatch.setattr(kernels, "prior_kernel_mean", lambda p: calls.append(1) or original(p))
    evaluate(model, Xv, Wv, noise, block=32)
    assert calls == []


def test_autoencoder_validation_is_the_reconstruction_error(tiny_data):
    X, W, Xv, Wv = tiny_data
    model = npvae.Autoencoder(40, (16, 8), 2, seed=0, dtype=np.float64).fit(X, W, max_epochs=1, verbose=False)
    val = evaluate(model, Xv, Wv, draw_validation_noise(model, len(Xv), seed=0))
    expected = 0.5 * np.sum(Wv * (Xv - model.reconstruct(Xv)) ** 2) / len(Xv)
    assert set(val) == {"recon", "total"} and val["total"] == pytest.approx(expected, rel=1e-9)
