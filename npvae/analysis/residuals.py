"""A residual atlas: where, in rest wavelength, a model misses a set of spectra.

The normalised residual of pixel d of spectrum n is r_nd = (x_nd - xhat_nd) sqrt(w_nd), the
data minus the reconstruction in units of the noise (w = 1 / sigma^2); masked pixels (w = 0)
are NaN. A model that fits to the noise gives r ~ N(0, 1) everywhere, so a feature that
stands out of the stack -- a dip at Mg b, a bump at H-alpha, a slope in the red -- is physics
the model (and the spectra it learned from) lacks. The model grid is already the rest frame,
so stacking is per pixel. ``realism_ratio`` is the measure of docs/synthetic.md: the median
reduced chi^2 of genuine spectra over that of high-S/N synthetic spectra.
Shapes: N spectra, D pixels.
"""
import numpy as np

from ..utils import NpvaeError

__all__ = ["normalised_residuals", "stack_residuals", "realism_ratio"]


def normalised_residuals(flux, recon, weight):
    """(x - xhat) sqrt(w), NaN where w = 0.  flux, recon, weight (N, D) -> (N, D) float64."""
    flux, recon, weight = (np.atleast_2d(np.asarray(a, dtype=np.float64)) for a in (flux, recon, weight))
    if not (flux.shape == recon.shape == weight.shape):
        raise NpvaeError(f"normalised_residuals: shapes differ: flux {flux.shape}, recon {recon.shape}, "
                         f"weight {weight.shape}")
    if np.any(weight < 0):
        raise NpvaeError("normalised_residuals: weights (inverse variances) must be >= 0")
    r = (flux - recon) * np.sqrt(weight)                                      # (N, D)
    r[weight == 0] = np.nan
    return r


def stack_residuals(resid, quantiles=(0.16, 0.5, 0.84)):
    """Per-pixel quantiles and rms of normalised residuals over spectra, ignoring NaN.

    Returns a dict: ``quantiles`` (Q, D), ``rms`` (D,) = sqrt(mean r^2), ``count`` (D,) spectra
    with data at each pixel. Pixels without data get NaN.
    """
    resid = np.atleast_2d(np.asarray(resid, dtype=np.float64))               # (N, D)
    count = np.isfinite(resid).sum(axis=0)                                    # (D,)
    q = np.full((len(quantiles), resid.shape[1]), np.nan)                     # (Q, D)
    rms = np.full(resid.shape[1], np.nan)                                     # (D,)
    some = count > 0
    if some.any():
        q[:, some] = np.nanquantile(resid[:, some], quantiles, axis=0)
        rms[some] = np.sqrt(np.nanmean(resid[:, some] ** 2, axis=0))
    return {"quantiles": q, "rms": rms, "count": count}


def realism_ratio(rchi2_genuine, rchi2_synthetic, sn_synthetic, high_sn=30.0):
    """median RCHI2 of the genuine spectra / median RCHI2 of synthetic spectra with S/N >= high_sn."""
    high = np.asarray(sn_synthetic) >= high_sn
    if not high.any():
        raise NpvaeError(f"realism_ratio: no synthetic spectrum with S/N >= {high_sn}")
    return float(np.nanmedian(rchi2_genuine) / np.nanmedian(np.asarray(rchi2_synthetic)[high]))
