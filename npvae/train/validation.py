"""The validation objective: deterministic, chunked, bounded memory for any validation size.

Goes with docs/training.md ("Validation objective"). Shapes: N spectra, C chunk, B block
(the training batch size), D pixels, Z latent, M prior samples.

For an InfoVAE the validation noise is drawn ONCE (eps (N, Z) for the reparameterization and a
prior sample (M, Z) for the MMD) from its own seeded generator, so the objective is a fixed
function of the weights and epochs can be compared. Then, per spectrum,

* ``recon`` = 1/2 sum_j w_j (x_j - xhat_j)^2 with xhat decoded from z = mu + sigma eps,
* ``kl`` = KL(N(mu, sigma^2) || N(0, I)),

both averaged over the N spectra (the same per-spectrum means as a training batch). The MMD is
NOT computed over all N x N pairs (15,580^2 = 243M kernel evaluations): the spectra are cut
into consecutive blocks of the training batch size B and ``mmd`` is the size-weighted mean over
blocks of the training-batch estimator (biased MMD^2 of the block's z against the fixed prior
sample). It estimates the expected value of the MMD term that a training step minimises, on
validation data, so the training and validation totals are the same quantity. The cost is
N (B / 2 + M) + M^2 / 2 kernel evaluations: the prior-prior mean is the same for every block
and is computed once, and no gradient is formed.

The autoencoder has no noise and only ``recon`` (= ``total``).
"""
import numpy as np

from ..nn import kernels, losses

__all__ = ["ValidationNoise", "draw_validation_noise", "evaluate"]

CHUNK = 1024      # spectra per forward pass (C)


class ValidationNoise:
    """Fixed noise of the validation objective: eps (N, Z) and prior (M, Z), or None for an AE."""

    def __init__(self, eps=None, prior=None):
        self.eps, self.prior = eps, prior
        # mean k(p, p') of the fixed prior sample: the same in every MMD block, computed once
        self.prior_term = None if prior is None else kernels.prior_kernel_mean(prior)


def draw_validation_noise(model, n_spectra, seed):
    """Draw the validation noise for ``model`` from ``np.random.default_rng(seed)``.

    Returns a :class:`ValidationNoise`; empty for a model without ``n_prior`` (the autoencoder).
    """
    n_prior = getattr(model, "n_prior", None)
    if n_prior is None:
        return ValidationNoise()
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n_spectra, model.n_latent), dtype=model.dtype)    # (N, Z)
    prior = rng.standard_normal((n_prior, model.n_latent), dtype=model.dtype)    # (M, Z)
    return ValidationNoise(eps, prior)


def evaluate(model, X, W, noise, block=64, chunk=CHUNK):
    """Validation recon, kl, mmd and total of ``model`` on X (N, D) with weights W (N, D).

    .. math::
        \\mathrm{total} = \\mathrm{recon} + (1-\\alpha)\\,\\mathrm{KL} + (\\alpha+\\lambda-1)\\,Z\\,\\mathrm{MMD}

    Parameters
    ----------
    model : InfoVAE or Autoencoder
    X, W : ndarray (N, D)
        Or lazy rows (:class:`npvae.data.shards.ShardedArray`), read a chunk at a time;
        W None = weights of one.
    noise : ValidationNoise
        From :func:`draw_validation_noise` (eps rows match X rows).
    block : int
        Spectra per MMD block (the training batch size).
    chunk : int
        Spectra per forward pass; a multiple of ``block`` is rounded up to.

    Returns
    -------
    dict of float
        ``recon``, ``kl``, ``mmd``, ``total`` (InfoVAE) or ``recon``, ``total`` (autoencoder).
    """
    chunk = max(block, (chunk // block) * block)
    sums = {"recon": 0.0, "kl": 0.0, "mmd": 0.0}
    for s in range(0, len(X), chunk):
        _add_chunk(model, X[s:s + chunk], None if W is None else W[s:s + chunk], noise, s, block, sums)
    n = len(X)
    if noise.eps is None:
        return {"recon": sums["recon"] / n, "total": sums["recon"] / n}
    c_rec, c_kl, c_mmd = losses.term_weights(model.lam, model.alpha, model.n_latent)
    terms = {key: value / n for key, value in sums.items()}
    terms["total"] = c_rec * terms["recon"] + c_kl * terms["kl"] + c_mmd * terms["mmd"]
    return terms


def _add_chunk(model, x, w, noise, start, block, sums):
    """Add one chunk's summed recon, kl and block-size-weighted mmd to ``sums``."""
    x = np.asarray(x, model.dtype)                                       # (C, D)
    w = np.ones_like(x) if w is None else np.asarray(w, model.dtype)     # (C, D)
    mu, logvar = model.encode(x, w)                                      # (C, Z) w: a noise-aware encoder's
    if noise.eps is None:
        z = mu
    else:
        z = mu + np.exp(0.5 * logvar) * noise.eps[start:start + len(x)]  # (C, Z)
    xhat = model.decode(z)                                               # (C, D)
    scratch = np.empty_like(xhat)                                        # (C, D) unused gradient
    sums["recon"] += kernels.weighted_residual(x, xhat, w, 0.0, scratch)
    if noise.eps is None:
        return
    sums["kl"] += losses.kl_to_standard_normal(mu, logvar)[0] * len(x)
    dz = np.zeros((block, model.n_latent), model.dtype)                  # (B, Z) untouched
    for b in range(0, len(z), block):
        zb = np.ascontiguousarray(z[b:b + block])                        # (B, Z)
        mmd = losses.mmd_rbf(zb, noise.prior, 0.0, dz[:len(zb)], noise.prior_term)[0]
        sums["mmd"] += mmd * len(zb)
