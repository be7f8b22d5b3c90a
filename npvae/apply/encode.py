"""Encoding one chunk of prepared spectra, and the model's own infill of masked pixels.

:func:`encode_chunk` is the one function every path that applies a model calls (the Python API,
``npvae encode``, the benchmarks); it maps a chunk of model inputs to latent means, log-variances
and the reduced chi^2 of the reconstruction. It is fast because it copies nothing it can avoid:
the centring x - mean is folded into the first layer's bias (x W + (b - mean W)), the inputs stay
as given when they are contiguous arrays of the model's dtype, and the bias + activation pass is
the engine's in-place Numba kernel.

:func:`vae_infill` is the paper's Section 4 suggestion for masked pixels: fill them with the
model's own reconstruction and repeat (encode -> decode -> refill) until the latent means stop
moving. Each spectrum iterates alone, so the result never depends on the others in the chunk.

Shapes: B chunk of spectra, D pixels, H hidden, Z latent.
"""
from contextlib import nullcontext

import numpy as np
from threadpoolctl import ThreadpoolController

from ..nn.layers import linear_act_forward
from ..utils import NpvaeError

__all__ = ["encode_chunk", "encoder_means", "decoder_means", "vae_infill", "VAE_INFILL_TOL", "VAE_INFILL_MAX_ITER"]

VAE_INFILL_TOL = 1e-3        # stop when no latent mean moves by more than this in one iteration
VAE_INFILL_MAX_ITER = 50     # and in any case after this many iterations
SMALL_CHUNK = 256            # below this many rows one BLAS thread is faster (no waiting for the second)


def encoder_means(model, x, w=None):
    """Latent means and log-variances of a chunk.  x (B, D) -> mu (B, Z), logvar (B, Z).

    ``logvar`` is zeros for a model without a variance head (the autoencoder). A noise-aware
    model also reads the weights w (B, D) (its enc1.W is (2D, H1): flux rows, then noise rows).
    """
    p = model.params
    W1 = p["enc1.W"]                                                   # (D, H1) or (2D, H1)
    b1 = p["enc1.b"] - model.mean_ @ W1[:model.n_features]             # (H1,) centring folded in
    if model.noise_aware:
        x = model.encoder_input(x, model.encoder_weights(x, w), work=False)   # (B, 2D) [x, noise block]
    h = linear_act_forward(x, W1, b1, model.slope)[0]                  # (B, H1)
    for i in range(1, len(model.hidden)):
        h = linear_act_forward(h, p[f"enc{i + 1}.W"], p[f"enc{i + 1}.b"], model.slope)[0]   # (B, H_i)
    mu = h @ p["mu.W"] + p["mu.b"]                                     # (B, Z)
    if not model.variational:
        return mu, np.zeros_like(mu)
    return mu, h @ p["logvar.W"] + p["logvar.b"]                       # (B, Z)


def encode_chunk(model, flux, weight=None, *, rchi2=True):
    """Latent means, log-variances and reduced chi^2 of one chunk of model inputs.

    Parameters
    ----------
    model : InfoVAE or Autoencoder
    flux : ndarray (B, D)
        Prepared spectra (normalised, masked pixels infilled).
    weight : ndarray (B, D) or None
        Inverse-variance weights, 0 on bad pixels. None skips the reconstruction and RCHI2.
    rchi2 : bool
        False: skip the decoder and RCHI2 (returned as None) even with weights (a noise-aware
        encoder still reads them).

    Returns
    -------
    mu, logvar : ndarray (B, Z) in the model's dtype
    rchi2 : ndarray (B,) float64, or None without weights or with ``rchi2=False``
        sum_d w_d (x_d - xhat_d)^2 / (n_good - Z) over the good pixels (w > 0), xhat the
        reconstruction from the latent mean: :func:`npvae.baselines.metrics.reduced_chi2`
        (the tests' reference), computed in place in float32 with float64 sums; NaN when
        n_good <= Z.
    """
    x = np.ascontiguousarray(model.check_X(flux, "flux"), dtype=model.dtype)    # (B, D) no copy if ready
    mu, logvar = encoder_means(model, x, weight)
    if weight is None or not rchi2:
        return mu, logvar, None
    w = np.asarray(weight)
    if w.shape != x.shape:
        raise NpvaeError(f"weight must have the shape of flux {x.shape}, got {w.shape}")
    resid = decoder_means(model, mu)                                   # (B, D) xhat
    resid -= x                                                         # xhat - x, in place
    resid *= resid
    resid *= w
    chi2 = resid.sum(axis=1, dtype=np.float64)                         # (B,)
    dof = np.count_nonzero(w > 0, axis=1) - model.n_latent             # (B,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mu, logvar, np.where(dof > 0, chi2 / np.maximum(dof, 1), np.nan)


def decoder_means(model, z):
    """Reconstructions of latent points, the mean spectrum folded into the last bias.  z (B, Z) -> (B, D)."""
    p = model.params
    h = np.asarray(z, model.dtype)
    for i in range(len(model.hidden)):
        h = linear_act_forward(h, p[f"dec{i + 1}.W"], p[f"dec{i + 1}.b"], model.slope)[0]   # (B, H_i)
    return linear_act_forward(h, p["out.W"], p["out.b"] + model.mean_, None)[0]          # (B, D)


def vae_infill(model, flux, mask, *, weight=None, tol=VAE_INFILL_TOL, max_iter=VAE_INFILL_MAX_ITER):
    """Fill masked pixels with the model's reconstruction until the latent means settle.

    Starting from ``flux`` (masked pixels already holding a first guess, e.g. the basis
    infill), repeat for each spectrum with masked pixels: mu = encode(x); x[masked] <-
    decode(mu)[masked]; stop when max_k |mu_k - mu_k(previous)| < ``tol`` or after ``max_iter``
    iterations. A spectrum stops on its own criterion (converged rows leave the loop), so
    its result does not depend on the others. ``weight`` (B, D), the inverse variances (0 on the
    masked pixels), is what a noise-aware model's encoder also reads (required there; ignored by
    other models): a refilled pixel keeps weight 0, "no information here".

    Returns (flux (B, D) float32 copy, iterations (B,) int).
    """
    x = np.array(model.check_X(flux, "flux"), dtype=np.float32)       # (B, D) copy
    mask = np.asarray(mask, bool)
    if mask.shape != x.shape:
        raise NpvaeError(f"mask must have the shape of flux {x.shape}, got {mask.shape}")
    n_iter = np.zeros(len(x), int)
    rows = np.flatnonzero(mask.any(axis=1))                            # (A,) rows still moving
    xa, ma = x[rows], mask[rows]                                       # (A, D) working copies
    wa = None if weight is None or not model.noise_aware else np.asarray(weight)[rows]   # (A, D)
    mu = encoder_means(model, xa, wa)[0]                               # (A, Z)
    threads = ThreadpoolController() if rows.size else None           # finds the BLAS once, not per iteration
    for _ in range(max_iter):
        if rows.size == 0:
            break
        with threads.limit(limits=1, user_api="blas") if len(rows) < SMALL_CHUNK else nullcontext():
            np.copyto(xa, decoder_means(model, mu), where=ma)          # refill masked pixels
            new_mu = encoder_means(model, xa, wa)[0]                   # (A, Z)
        n_iter[rows] += 1
        moving = np.abs(new_mu - mu).max(axis=1) >= tol                # (A,)
        if not moving.all():                                           # settled rows leave
            x[rows[~moving]] = xa[~moving]
            rows, xa, ma = rows[moving], xa[moving], ma[moving]
            wa = None if wa is None else wa[moving]
        mu = new_mu[moving]
    x[rows] = xa                                                       # rows that hit max_iter
    return x, n_iter
