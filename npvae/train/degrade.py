"""Training on spectra degraded by known extra noise: what makes a noise-aware encoder honest.

Paper Sec. 4 finds that the encoder reports the same latent variance whatever the S/N, and
suggests giving it the pixel noise as a feature (``InfoVAE(noise_aware=True)``). A feature only
helps if the training set spans the noise levels it must tell apart, so each training spectrum
of each minibatch is seen degraded: white Gaussian noise of its own standard deviation is added
and its weights are updated to the summed variance,

.. math::
    x'_{bd} = x_{bd} + \\sigma_b n_{bd}, \\qquad
    w'_{bd} = \\frac{1}{1/w_{bd} + \\sigma_b^2} = \\frac{w_{bd}}{1 + w_{bd}\\sigma_b^2},

with n ~ N(0, 1), sigma_b = median_d |x_bd| / s_b and s_b (the S/N of the added noise) drawn
log-uniformly from ``sn_range`` (a pixel of weight 0 keeps weight 0). The objective is then the
objective of the degraded spectrum under its OWN likelihood (weights w'): for a VAE the ELBO of
a noisier spectrum is maximised by a wider posterior, so the encoder learns to report a larger
variance when the noise is larger (docs/derivations/noise_aware.md, docs/noise_aware.md).
The draws come from the training generator, after the minibatch is gathered and before the
reparameterisation noise, so a run is deterministic and resumes bit for bit.

Shapes: B batch, D pixels.
"""
import math

import numpy as np

from ..utils import NpvaeError

__all__ = ["DEGRADE_SN", "check_sn_range", "degrade_batch"]

DEGRADE_SN = (2.0, 200.0)   # S/N range of the added noise: covers 3-80 and nearly clean spectra


def check_sn_range(sn_range):
    """``sn_range`` as a (lo, hi) tuple of floats with 0 < lo <= hi < inf; NpvaeError otherwise."""
    try:
        lo, hi = (float(v) for v in sn_range)
    except (TypeError, ValueError) as err:
        raise NpvaeError(f"the S/N range of the added noise must be two numbers (lo, hi), got {sn_range!r}") from err
    if not (0 < lo <= hi and math.isfinite(hi)):
        raise NpvaeError(f"the S/N range of the added noise must have 0 < lo <= hi < inf, got ({lo}, {hi})")
    return lo, hi


def degrade_batch(x, w, rng, sn_range=DEGRADE_SN, scratch=None):
    """Add white noise of a random S/N to each row of x and update w, in place.

    Parameters
    ----------
    x, w : ndarray (B, D)
        Spectra and inverse-variance weights of one minibatch (overwritten).
    rng : np.random.Generator
        Draws s (B,) log-uniform in ``sn_range``, then n (B, D) standard normal.
    sn_range : (float, float)
        Range of the S/N s_b = median_d |x_bd| / sigma_b of the added noise.
    scratch : ndarray (B, D), optional
        Workspace of x's dtype for the noise (allocated if None).

    Returns
    -------
    sigma : ndarray (B,) float64
        The standard deviation added to each row.
    """
    lo, hi = sn_range
    sn = np.exp(rng.uniform(math.log(lo), math.log(hi), size=len(x)))             # (B,)
    sigma = np.median(np.abs(x), axis=1) / sn                                      # (B,)
    noise = np.empty_like(x) if scratch is None else scratch                      # (B, D)
    rng.standard_normal(out=noise, dtype=x.dtype)
    noise *= sigma[:, None].astype(x.dtype)
    x += noise                                                                     # x' = x + sigma n
    np.multiply(w, (sigma ** 2)[:, None].astype(w.dtype), out=noise)              # (B, D) w sigma^2
    noise += 1
    w /= noise                                                                     # w' = w / (1 + w sigma^2)
    return sigma
