"""Decoder polish: a noise-aware model's decoder refitted to the spectra as given, encoder frozen.

A noise-aware model is trained on degraded spectra (:mod:`npvae.train.degrade`), so its decoder
learns to reconstruct a spectrum from the code of a NOISIER copy of it: a code that scatters
around the clean spectrum's code, so the decoder learns a blurred map (an average of the spectra
whose noisy codes land near z). A spectrum is applied as given, though, and its reconstruction
from the latent mean then misses the sharpness the clean code allows. After training, ``fit``
therefore runs a few more epochs of the same objective on the undegraded training spectra with
the encoder frozen: Adam updates the decoder parameters only. With the encoder fixed, the KL and
MMD terms do not depend on the decoder, so the step minimises the reconstruction term alone,

.. math::
    \\min_{\\theta_{\\rm dec}} \\; \\mathbb{E}_{x}\\, \\mathbb{E}_{z \\sim q(z|x, w)}
    \\tfrac12 \\sum_d w_d\\,(x_d - \\hat x_d(z; \\theta_{\\rm dec}))^2 ,

whose gradient is the decoder part of the usual one (docs/derivations/noise_aware.md). The encoder,
hence the latent means and variances and the calibration of :mod:`npvae.train.calibrate` (which
runs after this), is unchanged bit for bit. With validation spectra the decoder of the epoch of
lowest validation reconstruction term is kept (the validation noise of ``fit``), including the
decoder as trained when no polish epoch improves on it. Docs: docs/noise_aware.md.

Shapes: N spectra, B batch, D pixels, Z latent, M prior samples.
"""
import math

import numpy as np

from ..nn.adam import Adam
from ..utils import NpvaeError, as_generator
from .guards import as_training_arrays
from .validation import draw_validation_noise, evaluate

__all__ = ["POLISH_EPOCHS", "POLISH_LR", "check_polish", "decoder_keys", "polish_decoder"]

POLISH_EPOCHS = 10      # decoder-only epochs on the spectra as given (0 = no polish)
POLISH_LR = 3e-4        # Adam learning rate of the polish (a fresh optimiser; 1e-3 first undoes the fit)


def decoder_keys(model):
    """Names of the decoder's parameters (``dec*`` and ``out``), in the model's order."""
    return [k for k in model.params if k.startswith(("dec", "out."))]


def check_polish(epochs, lr=POLISH_LR):
    """NpvaeError unless ``epochs`` is an integer >= 0 and ``lr`` a finite number > 0."""
    if int(epochs) != epochs or epochs < 0 or not (math.isfinite(lr) and lr > 0):
        raise NpvaeError(f"polish epochs must be an integer >= 0 and lr > 0, got {epochs}, {lr}")


def polish_decoder(model, X, W=None, X_val=None, W_val=None, *, epochs=POLISH_EPOCHS, lr=POLISH_LR,
                   batch_size=64, rng=None, val_seed=0):
    """Train the decoder of a fitted model on X (N, D) for ``epochs`` epochs, encoder frozen.

    Parameters
    ----------
    model : InfoVAE
        Fitted; its encoder parameters and ``mean_`` are left untouched.
    X, W : ndarray (N, D)
        Training spectra as given and their weights (None = ones); lazy rows are read by batch.
    X_val, W_val : ndarray (N_val, D), optional
        Validation spectra: the decoder of the best epoch (validation recon term) is kept.
    epochs, lr, batch_size : int, float, int
        Decoder-only epochs, Adam learning rate, minibatch size.
    rng : Generator, int or None
        Shuffling, reparameterisation and prior noise; None = ``model.rng``.
    val_seed : int
        Seed of the validation noise (:func:`npvae.train.validation.draw_validation_noise`).

    Returns
    -------
    list of dict
        One record per epoch: ``epoch``, ``train_recon`` and, with validation spectra, ``val_recon``;
        epoch 0 is the decoder as trained (validation only).
    """
    check_polish(epochs, lr)
    X, W = as_training_arrays(model, X, W, "X", "weights")
    rng = model.rng if rng is None else as_generator(rng)
    keys = decoder_keys(model)
    opt = Adam({k: model.params[k] for k in keys}, lr=lr)
    grads = model.new_grads()
    val = None
    if X_val is not None:
        X_val, W_val = as_training_arrays(model, X_val, W_val, "X_val", "weights_val")
        noise = draw_validation_noise(model, len(X_val), val_seed)
        val = lambda: evaluate(model, X_val, W_val, noise, block=min(batch_size, len(X_val)))["recon"]  # noqa: E731
    records = [{"epoch": 0, "val_recon": val()}] if val else []
    best = (records[0]["val_recon"] if val else math.inf), {k: model.params[k].copy() for k in keys}
    for epoch in range(1, int(epochs) + 1):
        record = {"epoch": epoch, "train_recon": _decoder_epoch(model, X, W, opt, grads, keys, batch_size, rng)}
        if val:
            record["val_recon"] = val()
            if record["val_recon"] < best[0]:
                best = record["val_recon"], {k: model.params[k].copy() for k in keys}
        records.append(record)
    if val:
        for k in keys:
            model.params[k][...] = best[1][k]
    return records


def _decoder_epoch(model, X, W, opt, grads, keys, batch_size, rng):
    """One shuffled pass of decoder-only Adam steps; returns the epoch's mean recon term."""
    n, total = len(X), 0.0
    order = rng.permutation(n)                                               # (N,)
    eps = np.empty((min(batch_size, n), model.n_latent), model.dtype)        # (B, Z)
    prior = np.empty((model.n_prior, model.n_latent), model.dtype)           # (M, Z)
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]                                        # (B,)
        xb = np.asarray(X[idx], model.dtype)                                 # (B, D)
        wb = np.ones_like(xb) if W is None else np.asarray(W[idx], model.dtype)   # (B, D)
        rng.standard_normal(out=eps[:len(idx)], dtype=model.dtype)
        rng.standard_normal(out=prior, dtype=model.dtype)
        terms, _ = model.loss_and_grads(xb, wb, eps[:len(idx)], prior, grads)
        if not np.isfinite(terms["recon"]):
            raise NpvaeError(f"decoder polish diverged: recon term {terms['recon']} at spectrum {s}")
        opt.step({k: grads[k] for k in keys})                                # the encoder's grads are dropped
        total += terms["recon"] * len(idx)
    return total / n
