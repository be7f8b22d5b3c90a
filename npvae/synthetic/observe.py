"""Observing the synthetic survey: redshifts, the SDSS wavelength grid, sky, noise and masks.

Redshifts follow a main-sample-like dN/dz ~ z^2 exp(-(z/z_c)^1.5) peaking at 0.1, cut to
(0, 0.36]. Each spectrum gets a target median pixel S/N from a lognormal (median 14)
truncated to [5, 90]; the noise is object + sky photon noise, var = (f + sky) / g, with the
exposure factor g chosen to hit the target. Bright sky lines leave residuals and carry the
BRIGHTSKY bit; a few bad CCD columns carry FULLREJECT with ivar = 0. docs/synthetic.md.
Shapes: N spectra, P observed pixels.
"""
import numpy as np

__all__ = ["OBS_LOGLAM0", "N_OBS", "obs_loglam", "MASK_BITS", "draw_redshift", "draw_sn",
           "sky_spectrum", "observe"]

OBS_LOGLAM0 = 3.5800          # 3802 A
N_OBS = 3801                  # up to 3.9600, 9120 A
MASK_BITS = {"FULLREJECT": 18, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24}

# bright night-sky lines (vacuum A) and relative strengths: Hg, [O I], Na D, OH bands
SKY_LINES = np.array([
    [4359.3, 0.3], [5462.3, 0.3], [5578.9, 1.0], [5891.6, 0.25], [5897.6, 0.25], [6302.0, 0.6],
    [6365.5, 0.25], [6866.2, 0.2], [7278.4, 0.25], [7343.0, 0.25], [7571.7, 0.3], [7795.2, 0.3],
    [7823.9, 0.25], [7916.0, 0.3], [7995.6, 0.3], [8346.8, 0.35], [8401.6, 0.4], [8432.4, 0.35],
    [8467.5, 0.35], [8829.6, 0.45], [8888.4, 0.4], [8921.8, 0.4], [8945.2, 0.35], [9004.0, 0.35],
    [9040.1, 0.3], [9378.0, 0.3]])


def obs_loglam():
    """log10 observed vacuum wavelength, (P,)."""
    return OBS_LOGLAM0 + 1e-4 * np.arange(N_OBS)


def draw_redshift(rng, n, z_max=0.36, z_peak=0.1):
    """z from dN/dz ~ z^2 exp(-(z/z_c)^1.5), z_c = z_peak / (4/3)^(2/3), on (0.002, z_max]."""
    zc = z_peak / (4 / 3) ** (2 / 3)
    grid = np.linspace(0.002, z_max, 4000)
    pdf = grid ** 2 * np.exp(-(grid / zc) ** 1.5)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]))])
    return np.interp(rng.random(n) * cdf[-1], cdf, grid)


def draw_sn(rng, n, median=14.0, sigma_ln=0.5, lo=5.0, hi=90.0):
    """Target median pixel S/N: lognormal(ln median, sigma_ln) truncated to [lo, hi] (inverse CDF)."""
    from scipy.special import ndtr, ndtri  # on first use: the encode path never imports SciPy

    a, b = ndtr((np.log([lo, hi]) - np.log(median)) / sigma_ln)
    return np.exp(np.log(median) + sigma_ln * ndtri(rng.uniform(a, b, n)))


def sky_spectrum(loglam):
    """Sky flux density per fiber (1e-17 erg/s/cm^2/A): smooth continuum plus lines of 1.4 A sigma.
    Returns (continuum + lines (P,), lines only (P,))."""
    wave = 10 ** loglam
    cont = 1.2 + 2.0 * ((wave - 3800) / 5300) ** 2                            # (P,)
    lines = np.zeros_like(wave)
    for lam, amp in SKY_LINES:
        lines += 60 * amp * np.exp(-0.5 * ((wave - lam) / 1.4) ** 2)           # (P,)
    return cont + lines, lines


def observe(rng, model, sn_target, bad_column_rate=0.15):
    """Noisy observed spectra from noiseless models.

    .. math:: \\sigma_j^2 = (\\max(f_j, 0) + s_j) / g,\\quad
              g = \\mathrm{SN}^2 / \\mathrm{median}_j[f_j^2 / (\\max(f_j,0) + s_j)]

    flux = f + sigma eps + r, where r is a sky-subtraction residual: a unit normal per spectrum
    times 3 sigma_j times the sky-line profile (1 at the brightest line).
    model (N, P), sn_target (N,).
    Returns flux, ivar, and_mask (N, P) and the sky-line mask (P,).
    """
    n, p = model.shape
    loglam = obs_loglam()
    sky, sky_lines = sky_spectrum(loglam)                                     # (P,)
    model = model.astype(np.float32)
    photon = np.maximum(model, 0) + sky.astype(np.float32)                    # (N, P)
    ratio = np.median(model[:, ::3] ** 2 / photon[:, ::3], axis=1)            # (N,) every 3rd pixel
    g = (sn_target ** 2 / np.maximum(ratio, 1e-30)).astype(np.float32)       # (N,)
    var = photon / g[:, None]                                                 # (N, P)
    sigma = np.sqrt(var)
    profile = (3 * sky_lines / sky_lines.max()).astype(np.float32)           # (P,)
    resid = rng.standard_normal((n, 1), dtype=np.float32) * profile[None, :] * sigma
    flux = model + sigma * rng.standard_normal((n, p), dtype=np.float32) + resid   # (N, P)
    ivar = 1.0 / var
    bright = sky_lines > 3.0                                                  # (P,) 1e-17 units
    and_mask = np.where(bright, 1 << MASK_BITS["BRIGHTSKY"], 0).astype(np.int32)
    and_mask = np.broadcast_to(and_mask, (n, p)).copy()                       # (N, P)
    has_col = rng.random(n) < bad_column_rate
    col = rng.integers(0, p - 4, n)
    for i in np.flatnonzero(has_col):
        width = rng.integers(1, 4)
        ivar[i, col[i]:col[i] + width] = 0.0
        and_mask[i, col[i]:col[i] + width] |= 1 << MASK_BITS["FULLREJECT"]
    return flux.astype(np.float32), ivar.astype(np.float32), and_mask, bright
