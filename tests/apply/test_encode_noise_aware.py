"""encode_chunk passes the weights to a noise-aware encoder: the same latents as model.encode."""
import numpy as np
import pytest

import npvae
from npvae.apply import encode_chunk
from npvae.utils import NpvaeError


def test_noise_aware_model_encodes_the_same_through_encode_chunk_as_through_encode():
    model = npvae.InfoVAE(40, (16, 8), 3, seed=2, n_prior=50, noise_aware=True)
    model.is_fitted = True
    rng = np.random.default_rng(1)
    model.mean_[...] = rng.uniform(0.5, 1.5, 40)
    x = rng.uniform(0.0, 2.0, (25, 40)).astype(np.float32)
    w = rng.uniform(10.0, 2500.0, (25, 40)).astype(np.float32)
    w[rng.random(w.shape) < 0.1] = 0.0
    mu, logvar, rchi2 = encode_chunk(model, x, w)
    ref_mu, ref_logvar = model.encode(x, w)
    np.testing.assert_allclose(mu, ref_mu, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logvar, ref_logvar, rtol=1e-5, atol=1e-6)
    assert not np.allclose(encode_chunk(model, x, w / 100)[1], logvar, atol=1e-4)   # the weights reach it
    assert np.isfinite(rchi2).all()
    with pytest.raises(NpvaeError, match="pass its weights"):
        encode_chunk(model, x)
