"""encode_chunk passes the weights to a noise-aware encoder: the same latents as model.encode."""
import numpy as np
import pytest

import npvae
from npvae.apply import encode_chunk, vae_infill
from npvae.utils import NpvaeError


def _random_model_and_spectra(seed, n):
    """An untrained noise-aware InfoVAE (random weights and mean) and n random spectra and weights."""
    model = npvae.InfoVAE(40, (16, 8), 3, seed=seed, n_prior=50, noise_aware=True)
    model.is_fitted = True
    rng = np.random.default_rng(seed - 1)
    model.mean_[...] = rng.uniform(0.5, 1.5, 40)
    x = rng.uniform(0.0, 2.0, (n, 40)).astype(np.float32)
    w = rng.uniform(10.0, 2500.0, (n, 40)).astype(np.float32)
    return model, x, w, rng


def test_noise_aware_model_encodes_the_same_through_encode_chunk_as_through_encode():
    model, x, w, rng = _random_model_and_spectra(2, 25)
    w[rng.random(w.shape) < 0.1] = 0.0
    mu, logvar, rchi2 = encode_chunk(model, x, w)
    ref_mu, ref_logvar = model.encode(x, w)
    np.testing.assert_allclose(mu, ref_mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, ref_logvar, rtol=1e-5, atol=1e-6)
    assert not np.allclose(encode_chunk(model, x, w / 100)[1], logvar, atol=1e-4)   # the weights reach it
    assert np.isfinite(rchi2).all()
    with pytest.raises(NpvaeError, match="pass its weights"):
        encode_chunk(model, x)


def _slow_infill(model, x, w, mask, tol, max_iter):
    """The reference: each spectrum alone, through model.encode (which reads w) and model.decode."""
    out = x.astype(np.float64).copy()
    for i in np.flatnonzero(mask.any(axis=1)):
        xi = x[i:i + 1].copy()
        mu = model.encode(xi, w[i:i + 1])[0]
        for _ in range(max_iter):
            xi[mask[i:i + 1]] = model.decode(mu)[mask[i:i + 1]]
            new = model.encode(xi, w[i:i + 1])[0]
            done = np.abs(new - mu).max() < tol
            mu = new
            if done:
                break
        out[i] = xi[0]
    return out


def test_vae_infill_of_a_noise_aware_model_reads_the_weights_and_matches_a_slow_loop():
    model, x, w, rng = _random_model_and_spectra(4, 12)
    mask = rng.random(x.shape) < 0.2
    mask[:3] = False                                                     # rows with nothing to fill
    w[mask] = 0.0
    filled, n_iter = vae_infill(model, x, mask, weight=w, tol=1e-4, max_iter=30)
    np.testing.assert_allclose(filled, _slow_infill(model, x, w, mask, 1e-4, 30), rtol=1e-4, atol=1e-5)
    assert np.all(n_iter[:3] == 0) and np.all(filled[:3] == x[:3])
    other = vae_infill(model, x, mask, weight=np.where(mask, 0, w / 50), tol=1e-4, max_iter=30)[0]
    assert not np.allclose(other[mask], filled[mask], atol=1e-4)         # the weights reach the encoder
    with pytest.raises(NpvaeError, match="pass its weights"):
        vae_infill(model, x, mask)


def test_the_encode_and_redshift_paths_give_a_noise_aware_model_its_weights_in_the_vae_infill(monkeypatch):
    from npvae.apply import zmodels
    from npvae.apply.spectra import _encode_prepared
    model, x, w, rng = _random_model_and_spectra(6, 10)
    mask = rng.random(x.shape) < 0.2
    w[mask] = 0.0
    filled = vae_infill(model, x, mask, weight=w)[0]
    ref_mu = encode_chunk(model, filled, w)[0]
    columns = {"ROW": np.arange(len(x))}
    part = _encode_prepared(model, (x, w, mask, columns, []), "vae", None, False)[0]
    np.testing.assert_allclose(part["MU"], ref_mu, rtol=1e-5, atol=1e-6)
    monkeypatch.setattr(zmodels.BasisFill, "from_recipe", lambda recipe: lambda f, ww, m: f)   # no first fill
    scorer = zmodels.VaeScorer(model, infill="vae")
    np.testing.assert_allclose(scorer(x, w, mask)[1], ref_mu, rtol=1e-5, atol=1e-6)
