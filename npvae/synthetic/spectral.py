"""Flux-conserving spectral operations on log10-wavelength grids: broadening, lines, redshift.

All grids here have a constant step in log10 wavelength (1e-4, about 69 km/s per pixel), so a
velocity is a shift or a width in pixels: ``v / (c ln10 * step)``. docs/synthetic.md explains
why each operation conserves flux. Shapes: N spectra, W rest pixels, P observed pixels,
K pixels of a line window.
"""
import numpy as np

__all__ = ["C_KMS", "KMS_PER_PIXEL", "gaussian_broaden", "gaussian_broaden_reference",
           "add_gaussian_lines", "add_line_set", "pixel_gaussian", "redshift_rebin"]

C_KMS = 299792.458
KMS_PER_PIXEL = C_KMS * np.log(10) * 1e-4       # 69.03 km/s per 1e-4 dex pixel


def gaussian_broaden(flux, sigma_pix, pad=64):
    """Convolve each row with a Gaussian of its own width, in Fourier space.

    .. math:: \\hat f'(k) = \\hat f(k) \\exp(-2\\pi^2\\sigma^2 k^2)

    The transfer function is 1 at k = 0, so the sum of every row is kept exactly (up to the
    edge padding, which repeats the end values). flux (N, W), sigma_pix (N,) >= 0 -> (N, W).
    """
    import scipy.fft  # on first use: the encode path never imports SciPy

    n, w = flux.shape
    n_fft = scipy.fft.next_fast_len(w + 2 * pad, real=True)
    right = n_fft - w - pad                                                   # >= pad
    padded = np.pad(flux, ((0, 0), (pad, right)), mode="edge")                # (N, n_fft)
    freq = np.fft.rfftfreq(n_fft).astype(flux.dtype)                          # (F,)
    sig = np.asarray(sigma_pix, dtype=flux.dtype)[:, None]
    transfer = np.exp(-2 * np.pi ** 2 * (sig * freq) ** 2)                    # (N, F)
    out = scipy.fft.irfft(scipy.fft.rfft(padded, axis=1) * transfer, n=n_fft, axis=1)  # (N, n_fft)
    return out[:, pad:pad + w].astype(flux.dtype, copy=False)                 # (N, W)


def gaussian_broaden_reference(flux, sigma_pix):
    """Slow direct convolution with a sampled, unit-sum Gaussian (for tests). (N, W) -> (N, W)."""
    out = np.empty_like(flux, dtype=np.float64)
    w = flux.shape[1]
    for i, (row, s) in enumerate(zip(flux, sigma_pix)):
        if s <= 0:
            out[i] = row
            continue
        half = int(np.ceil(6 * s)) + 1
        k = np.exp(-0.5 * (np.arange(-half, half + 1) / s) ** 2)
        k /= k.sum()
        padded = np.pad(row.astype(np.float64), half, mode="edge")
        out[i] = np.convolve(padded, k, mode="same")[half:half + w]
    return out


def pixel_gaussian(pix, centre, sigma):
    """Unit-area Gaussian integrated over each pixel.

    .. math:: p_j = \\tfrac12\\left[\\mathrm{erf}\\frac{j + 1/2 - c}{\\sqrt2\\sigma}
              - \\mathrm{erf}\\frac{j - 1/2 - c}{\\sqrt2\\sigma}\\right]

    pix (N, K) pixel indices, centre (N,), sigma (N,) pixels -> (N, K).
    """
    from scipy.special import erf  # on first use: the encode path never imports SciPy

    scale = 1.0 / (np.sqrt(2.0) * np.asarray(sigma, dtype=np.float64))[:, None]      # (N, 1)
    edges = np.concatenate([pix[:, :1] - 0.5, pix + 0.5], axis=1)                   # (N, K + 1)
    if np.all(np.diff(pix, axis=1) == 1):          # contiguous windows: one erf per edge
        cdf = erf((edges - np.asarray(centre, dtype=np.float64)[:, None]) * scale)  # (N, K + 1)
        return 0.5 * np.diff(cdf, axis=1)                                            # (N, K)
    d = pix - np.asarray(centre, dtype=np.float64)[:, None]                          # (N, K)
    return 0.5 * (erf((d + 0.5) * scale) - erf((d - 0.5) * scale))                   # (N, K)


def add_gaussian_lines(flux, loglam0, loglam_line, area, sigma_kms, halfwidth=None):
    """Add one emission line per row, in place, as pixel-integrated Gaussians.

    The line puts ``area`` (flux x Angstrom) in the pixels around log10 lambda_line:
    f_j += area p_j / dlambda_j, so sum_j f_j dlambda_j grows by area (to 1e-4 relative
    inside the window of +-6 sigma). flux (N, W) float; loglam_line, area, sigma_kms (N,) or
    scalars. Rows whose line falls outside the grid are left alone.
    """
    n, w = flux.shape
    loglam_line = np.broadcast_to(loglam_line, (n,))
    area = np.broadcast_to(area, (n,))
    sigma_pix = np.broadcast_to(np.asarray(sigma_kms) / KMS_PER_PIXEL, (n,))
    if halfwidth is not None:
        return _add_window(flux, np.arange(n), loglam0, loglam_line, area, sigma_pix, halfwidth)
    need = np.ceil(6 * sigma_pix).astype(np.int64) + 1                        # (N,)
    for lo, hi in ((0, 12), (12, 40), (40, np.inf)):                          # narrow rows, short windows
        rows = np.flatnonzero((need > lo) & (need <= hi))
        if rows.size:
            _add_window(flux, rows, loglam0, loglam_line[rows], area[rows], sigma_pix[rows],
                        int(need[rows].max()))
    return flux


def _add_window(flux, rows, loglam0, loglam_line, area, sigma_pix, halfwidth):
    """Add lines to ``flux[rows]`` over windows of +-halfwidth pixels (helper of add_gaussian_lines)."""
    w = flux.shape[1]
    centre = (loglam_line - loglam0) / 1e-4                                    # (R,)
    start = np.rint(centre).astype(np.int64) - halfwidth                      # (R,)
    pix = start[:, None] + np.arange(2 * halfwidth + 1)                        # (R, K)
    inside = (pix >= 0) & (pix < w)
    prof = pixel_gaussian(pix, centre, sigma_pix)                              # (R, K)
    dlam = 10 ** (loglam0 + 1e-4 * pix) * (np.log(10) * 1e-4)                 # (R, K) A/pixel
    rr = np.broadcast_to(rows[:, None], pix.shape)
    flux[rr[inside], pix[inside]] += (area[:, None] * prof / dlam)[inside]
    return flux


def add_line_set(flux, loglam0, loglam_lines, areas, sigma_kms):
    """Add L lines per row at once (same width within a row), in place; overlaps add up.

    Same profile as :func:`add_gaussian_lines`; the windows of all lines are summed with one
    ``np.bincount`` so overlapping lines ([N II] + Halpha) both count.
    flux (N, P); loglam_lines, areas (N, L); sigma_kms (N,).
    """
    n, p = flux.shape
    n_lines = loglam_lines.shape[1]
    sigma_pix = np.asarray(sigma_kms, dtype=np.float64) / KMS_PER_PIXEL       # (N,)
    need = np.ceil(6 * sigma_pix).astype(np.int64) + 1                        # (N,)
    total = np.zeros(n * p)
    for lo, hi in ((0, 12), (12, 40), (40, np.inf)):
        rows = np.flatnonzero((need > lo) & (need <= hi))
        if rows.size == 0:
            continue
        hw = int(need[rows].max())
        centre = ((loglam_lines[rows] - loglam0) / 1e-4).ravel()              # (R L,)
        start = np.rint(centre).astype(np.int64) - hw
        pix = start[:, None] + np.arange(2 * hw + 1)                           # (R L, K)
        prof = pixel_gaussian(pix, centre, np.repeat(sigma_pix[rows], n_lines))  # (R L, K)
        dlam = 10 ** (loglam0 + 1e-4 * pix) * (np.log(10) * 1e-4)
        vals = areas[rows].ravel()[:, None] * prof / dlam                      # (R L, K)
        inside = (pix >= 0) & (pix < p)
        flat = np.repeat(rows, n_lines)[:, None] * p + pix                     # (R L, K)
        total += np.bincount(flat[inside], vals[inside], minlength=n * p)
    flux += total.reshape(n, p).astype(flux.dtype, copy=False)
    return flux


def redshift_rebin(flux_rest, loglam0_rest, z, loglam0_obs, n_obs):
    """Move rest-frame spectra to the observed frame, conserving flux.

    With both grids at step 1e-4 in log10, observed pixel j spans rest edges at index
    e = j + (L_obs - L_rest) / 1e-4 - log10(1 + z) / 1e-4 (+ 0, + 1). The cumulative rest
    flux C_k = sum_{i<k} f_i dlambda_i is interpolated linearly at those edges, and
    f_obs_j = (C(e_{j+1}) - C(e_j)) / dlambda_obs_j, so each observed pixel receives exactly
    the rest-frame flux (erg/s/cm^2) that falls in it. (The (1+z) dimming of f_lambda
    follows from dlambda_obs = (1+z) dlambda_rest.)
    flux_rest (N, W), z (N,) -> (N, P).
    """
    n, w = flux_rest.shape
    loglam_rest = loglam0_rest + 1e-4 * np.arange(w)                          # (W,)
    dlam_rest = 10 ** loglam_rest * (np.log(10) * 1e-4)                      # (W,)
    cum = np.zeros((n, w + 1))                                                # (N, W + 1)
    np.cumsum(flux_rest * dlam_rest, axis=1, out=cum[:, 1:])
    shift = np.log10(1 + np.asarray(z, dtype=np.float64)) / 1e-4             # (N,)
    edge = np.rint((loglam0_obs - loglam0_rest) / 1e-4) - shift              # (N,) of obs edge 0
    first = np.floor(edge).astype(np.int64)                                   # (N,)
    frac = (edge - first)[:, None]                                            # (N, 1)
    idx = first[:, None] + np.arange(n_obs + 1)                               # (N, P + 1)
    if idx.min() < 0 or idx.max() + 1 > w:
        raise ValueError("redshift_rebin: observed range falls outside the rest grid")
    windows = np.lib.stride_tricks.sliding_window_view(cum, n_obs + 2, axis=1)      # (N, ., P + 2)
    block = windows[np.arange(n), first]                                      # (N, P + 2)
    c_edge = block[:, :-1] * (1 - frac) + block[:, 1:] * frac                 # (N, P + 1)
    loglam_obs = loglam0_obs + 1e-4 * np.arange(n_obs)                        # (P,)
    dlam_obs = 10 ** loglam_obs * (np.log(10) * 1e-4)                         # (P,)
    return np.diff(c_edge, axis=1) / dlam_obs                                 # (N, P)
