"""On curves with a known 2-D nonlinear manifold (a Gaussian bump: position and width), a
2-latent VAE reconstructs far better than 2-component PCA and its latent means carry the factors."""
import numpy as np

import npvae

N_PIXELS, NOISE = 60, 0.02


def _bumps(n, rng):
    """Curves exp(-(x - p)^2 / 2 s^2) + noise.  -> X (n, D) float32, factors (n, 2) = (p, s)."""
    x = np.linspace(0.0, 1.0, N_PIXELS)                                      # (D,)
    pos, width = rng.uniform(0.2, 0.8, n), rng.uniform(0.04, 0.12, n)      # (n,)
    curves = np.exp(-0.5 * ((x[None] - pos[:, None]) / width[:, None]) ** 2)
    curves += NOISE * rng.standard_normal(curves.shape)
    return curves.astype(np.float32), np.c_[pos, width]


def _pca_reconstruction(X, X_new, k):
    """Rank-k PCA fitted on X (with its mean), applied to X_new."""
    mean = X.mean(axis=0)
    components = np.linalg.svd(X - mean, full_matrices=False)[2][:k]        # (k, D)
    return (X_new - mean) @ components.T @ components + mean


def _quadratic_r2(codes, factor):
    """R^2 of a least-squares fit of ``factor`` on 1, c1, c2, c1^2, c2^2, c1 c2."""
    design = np.c_[np.ones(len(codes)), codes, codes ** 2, codes[:, :1] * codes[:, 1:]]
    residual = factor - design @ np.linalg.lstsq(design, factor, rcond=None)[0]
    return 1.0 - residual @ residual / np.sum((factor - factor.mean()) ** 2)


def test_vae_beats_pca_and_its_latents_track_position_and_width():
    rng = np.random.default_rng(0)
    X, _ = _bumps(600, rng)
    Xv, factors_v = _bumps(200, rng)
    W, Wv = np.full_like(X, NOISE ** -2), np.full_like(Xv, NOISE ** -2)
    model = npvae.InfoVAE(N_PIXELS, (32, 16), 2, lam=10.0, seed=0)
    model.fit(X, W, Xv, Wv, batch_size=32, max_epochs=100, lr=3e-3, verbose=False)
    mse_vae = np.mean((Xv - model.reconstruct(Xv)) ** 2)
    mse_pca = np.mean((Xv - _pca_reconstruction(X, Xv, 2)) ** 2)
    assert mse_vae < 0.2 * mse_pca
    codes = model.transform(Xv)
    assert _quadratic_r2(codes, factors_v[:, 0]) > 0.75
    assert _quadratic_r2(codes, factors_v[:, 1]) > 0.75
    totals = [rec["val_total"] for rec in model.history_]
    assert min(totals) < 0.2 * totals[0]
