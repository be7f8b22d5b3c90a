"""The two batch-independent infills against known truth: the training basis and the VAE itself."""
import numpy as np

from npvae.apply.encode import vae_infill
from npvae.data.infill import basis_infill, fit_infill_basis
from npvae.train import make_model


def hide_stretches(shape, rng, length):
    """(N, D) bool: one stretch of ``length`` pixels at a random place in each row."""
    n, d = shape
    start = rng.integers(0, d - length, n)[:, None]                      # (N, 1)
    cols = np.arange(d)[None, :]
    return (cols >= start) & (cols < start + length)


def rms(fill, truth, mask):
    return float(np.sqrt(np.mean((fill - truth)[mask] ** 2)))


def test_basis_infill_is_exact_for_spectra_in_the_basis():
    rng = np.random.default_rng(0)
    d, k = 200, 4
    mean = rng.normal(size=d)
    V = np.linalg.qr(rng.normal(size=(d, k)))[0]                        # (D, K) orthonormal
    truth = (mean + rng.normal(size=(30, k)) @ V.T).astype(np.float32)  # (N, D) in the span
    mask = hide_stretches(truth.shape, rng, 40)
    weight = rng.uniform(0.5, 2.0, truth.shape)
    filled = basis_infill(np.where(mask, 0.0, truth), mask, mean, V, weight=weight)
    assert rms(filled, truth, mask) < 1e-4
    assert np.array_equal(filled[~mask], truth[~mask])                  # good pixels untouched


def test_basis_infill_of_a_row_does_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    d, k = 120, 5
    mean, V = rng.normal(size=d), np.linalg.qr(rng.normal(size=(d, k)))[0]
    X = rng.normal(size=(500, d)).astype(np.float32)
    mask = hide_stretches(X.shape, rng, 25)
    W = rng.uniform(0.1, 3.0, X.shape)
    batch = basis_infill(X, mask, mean, V, weight=W)
    for i in (0, 7, 499):
        alone = basis_infill(X[i:i + 1], mask[i:i + 1], mean, V, weight=W[i:i + 1])
        assert np.abs(alone[0] - batch[i]).max() <= 1e-5


def test_fit_infill_basis_spans_the_top_principal_components():
    rng = np.random.default_rng(2)
    X = (rng.normal(size=(400, 60)) * np.linspace(3, 0.1, 60)).astype(np.float32)
    mean, V = fit_infill_basis(X, 5, block=64)                            # several blocks
    Xc = X - X.mean(axis=0)
    ref = np.linalg.svd(Xc, full_matrices=False)[2][:5].T                # (D, 5) reference: SVD
    assert np.allclose(mean, X.mean(axis=0, dtype=np.float64))
    assert np.allclose(np.abs(ref.T @ V), np.eye(5), atol=1e-6)


def test_training_basis_fills_masked_synthetic_spectra_better_than_the_mean(prepared):
    data = prepared
    X, W, bad = data.flux, data.weight, data.mask != 0                   # (N, D)
    mean, V = fit_infill_basis(X[:240])
    truth, w = X[240:], W[240:]
    rng = np.random.default_rng(3)
    hidden = hide_stretches(truth.shape, rng, 80) & ~bad[240:]           # truth known there
    filled = basis_infill(np.where(hidden, 0.0, truth), hidden | bad[240:], mean, V,
                          weight=np.where(hidden, 0.0, w))
    mean_fill = np.where(hidden, mean, truth)
    assert rms(filled, truth, hidden) < 0.6 * rms(mean_fill, truth, hidden)


def test_vae_infill_recovers_masked_stretches_of_a_learned_manifold():
    rng = np.random.default_rng(7)
    basis, codes = rng.normal(size=(3, 40)), rng.normal(size=(600, 3))
    X = np.tanh(codes @ basis).astype(np.float32)                        # (N, 40) on a 3-d manifold
    W = np.full(X.shape, 100.0, np.float32)
    model = make_model("vae", 3, n_features=40, hidden=(64,), lam=1.0, seed=0)
    model.fit(X[:500], W[:500], X[500:], W[500:], max_epochs=60, batch_size=32, verbose=False)
    truth = X[500:]
    mask = hide_stretches(truth.shape, rng, 6)
    filled, iters = vae_infill(model, np.where(mask, 0.0, truth), mask)
    mean_fill = np.where(mask, X[:500].mean(axis=0), truth)
    recon_rms = float(np.sqrt(np.mean((model.reconstruct(truth) - truth) ** 2)))
    assert rms(filled, truth, mask) < 0.3 * rms(mean_fill, truth, mask)
    assert rms(filled, truth, mask) < 2.0 * recon_rms                    # as good as the model is
    assert np.array_equal(filled[~mask], truth[~mask])
    assert 1 <= iters.max() < 50                                         # it converged


def test_vae_infill_of_a_row_does_not_depend_on_the_batch(bundle, survey):
    _, model = bundle
    flux, weight, mask, _, _ = model.preprocessing.prepare(survey[:40])
    batch = vae_infill(model, flux, mask)[0]
    for i in (0, 13, 39):
        alone = vae_infill(model, flux[i:i + 1], mask[i:i + 1])[0]
        assert np.abs(alone[0] - batch[i]).max() <= 1e-4
