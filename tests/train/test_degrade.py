"""Training a noise-aware InfoVAE on degraded minibatches: the degradation itself, determinism,
a resume with other settings refused (bit-identical resume: tests/train/test_resume.py), and
that the reported latent variance then grows with the noise.

Anchors: the summed variance 1/w' = 1/w + sigma^2; the standard normal distribution of the
added noise; the log-uniform law of the S/N; an uninterrupted run. Shapes: B batch, D pixels.
"""
import numpy as np
import pytest

import npvae
from npvae.train.degrade import DEGRADE_SN, check_sn_range, degrade_batch
from npvae.utils import NpvaeError

OPTIONS = dict(batch_size=32, max_epochs=4, lr=3e-3, verbose=False)


def _aware(seed=11):
    return npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=seed, n_prior=50, noise_aware=True)


def test_degraded_weights_are_the_inverse_summed_variance_and_zero_stays_zero():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (64, 50))
    w = rng.uniform(1.0, 100.0, (64, 50))
    w[:, :3] = 0.0
    w0 = w.copy()
    sigma = degrade_batch(x, w, np.random.default_rng(1), (3.0, 80.0))
    with np.errstate(divide="ignore"):
        expected = 1.0 / (1.0 / w0 + sigma[:, None] ** 2)                 # (B, D), 0 where w0 = 0
    np.testing.assert_allclose(w, expected, rtol=1e-12)
    assert np.all(w[:, :3] == 0.0)


def test_added_noise_is_white_with_the_returned_sigma_and_sn_is_log_uniform():
    rng = np.random.default_rng(2)
    clean = rng.uniform(0.5, 2.0, (4000, 60))
    x, w = clean.copy(), np.ones_like(clean)
    sigma = degrade_batch(x, w, np.random.default_rng(3), (3.0, 80.0))
    pulls = (x - clean) / sigma[:, None]                                      # (B, D) ~ N(0, 1)
    assert abs(pulls.mean()) < 0.01 and abs(pulls.var() - 1.0) < 0.01
    sn = np.median(np.abs(clean), axis=1) / sigma                              # (B,)
    assert sn.min() >= 3.0 and sn.max() <= 80.0
    below = np.mean(sn < np.sqrt(3.0 * 80.0))                                  # half below the geometric mean
    assert abs(below - 0.5) < 0.03


@pytest.mark.parametrize("bad", [(0.0, 10.0), (10.0, 3.0), (3.0, np.inf), "3-80", (1.0,)])
def test_bad_sn_range_raises_npvae_error(bad):
    with pytest.raises(NpvaeError, match="S/N range"):
        check_sn_range(bad)


def test_noise_aware_fit_degrades_by_default_and_is_deterministic(sharp_data):
    X, W, Xv, Wv = sharp_data
    a = _aware().fit(X, W, Xv, Wv, **OPTIONS)
    b = _aware().fit(X, W, Xv, Wv, **OPTIONS)
    clean = _aware().fit(X, W, Xv, Wv, degrade_sn=None, **OPTIONS)
    standard_degraded = npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50).fit(
        X, W, Xv, Wv, degrade_sn=DEGRADE_SN, **OPTIONS)
    assert np.array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, clean.flat_params)
    assert a.history_[0]["train_recon"] < clean.history_[0]["train_recon"]   # degraded weights: smaller chi^2
    assert np.isfinite(standard_degraded.flat_params).all()
    assert np.array_equal(a.train_latents_, a.transform(X, W))           # encoded with their own weights


def test_resume_with_another_degradation_is_refused(tmp_path, tiny_data):
    """Bit-identical resume with degradation: tests/train/test_resume.py (kind "noise-aware")."""
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "run.ckpt.npz"
    _aware().fit(X, W, Xv, Wv, checkpoint=path, **dict(OPTIONS, max_epochs=1))
    with pytest.raises(NpvaeError, match="degrade_sn"):
        _aware().fit(X, W, Xv, Wv, checkpoint=path, resume=True, degrade_sn=(5.0, 50.0), **OPTIONS)
    assert len(_aware().fit(X, W, Xv, Wv, checkpoint=path, resume=True, **OPTIONS).history_) == 4


def _reported_variance(model, x, w, sn_levels):
    """Mean exp(logvar) of noisy copies of x (K, D) at each S/N, with the matching weights."""
    reported = []
    for sn in sn_levels:
        sigma = np.median(np.abs(x), axis=1, keepdims=True) / sn              # (K, 1)
        noisy = x + sigma * np.random.default_rng(4).standard_normal(x.shape)
        reported.append(np.exp(model.encode(noisy, w / (1 + w * sigma ** 2))[1]).mean())
    return reported


def test_reported_variance_grows_with_added_noise_after_short_training(sharp_data):
    """The point of the design: the noise-aware encoder reports a larger latent variance for a
    noisier copy of the same spectrum; the standard encoder, which never sees the noise level,
    reports about the same variance at every S/N. (At this size the growth does not need the
    degraded training; that the training is degraded is tested above, by its effect on the weights.)"""
    X, W, Xv, Wv = sharp_data
    options = dict(batch_size=32, max_epochs=20, lr=3e-3, verbose=False)
    x, w = Xv[:20].astype(np.float64), Wv[:20].astype(np.float64)
    aware = _reported_variance(_aware(seed=3).fit(X, W, Xv, Wv, **options), x, w, (40.0, 10.0, 3.0))
    assert aware[0] < aware[1] < aware[2]
    assert aware[2] > 1.5 * aware[0]
    standard = npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=3, n_prior=50).fit(X, W, Xv, Wv, **options)
    plain = _reported_variance(standard, x, w, (40.0, 10.0, 3.0))
    assert plain[2] < 1.2 * plain[0]
