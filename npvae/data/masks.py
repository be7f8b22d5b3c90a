"""Bad-pixel masks on the observed grid, for many spectra at once.

A pixel is bad when any of these holds (docs/data.md lists them with the reasons):

- ivar <= 0 (no data), or flux == 0 exactly (no data written);
- one of the SDSS AND_MASK bits in :data:`BAD_AND_BITS` is set (sky lines, bad columns,
  rejected or missing data; the and_mask is set only when every exposure flagged the pixel);
- a noise spike: sigma >= 1.5 x the local noise, where the local noise is sigma smoothed by a
  Gaussian of 5 pixels computed over good pixels only (normalised convolution);
- padding beyond the spectrum's last pixel.

The bad mask is then dilated by ``dilate`` observed pixels on each side.
Shapes: N spectra, P observed pixels (padded).
"""
import numpy as np

__all__ = ["AND_MASK_BITS", "BAD_AND_BITS", "BAD_AND_MASK", "observed_bad_mask", "dilate_mask"]

# SDSS spectroscopic pixel mask bits (SPPIXMASK), the subset that means "do not use"
AND_MASK_BITS = {
    "BADTRACE": 1, "BADFLAT": 2, "BADARC": 3, "MANYBADCOLUMNS": 4, "MANYREJECTED": 5,
    "FULLREJECT": 18, "NOSKY": 22, "BRIGHTSKY": 23, "NODATA": 24, "COMBINEREJ": 25,
    "BADFLUXFACTOR": 26, "BADSKYCHI": 27,
}
BAD_AND_BITS = tuple(AND_MASK_BITS.values())
BAD_AND_MASK = int(sum(1 << b for b in BAD_AND_BITS))
SPIKE_FACTOR = 1.5          # sigma >= 1.5 x smoothed sigma is a noise spike
SPIKE_SMOOTH = 5.0          # Gaussian sigma of the smoothing, observed pixels


def dilate_mask(mask, n):
    """Grow True runs of ``mask`` (N, P) by ``n`` pixels on each side along the last axis."""
    out = mask.copy()
    for s in range(1, int(n) + 1):
        out[..., s:] |= mask[..., :-s]
        out[..., :-s] |= mask[..., s:]
    return out


def observed_bad_mask(flux, ivar, and_mask, valid, *, dilate=2, spike_factor=SPIKE_FACTOR,
                      smooth=SPIKE_SMOOTH):
    """Bad-pixel mask (N, P) bool on the observed grid.

    Parameters
    ----------
    flux, ivar : ndarray (N, P)
    and_mask : ndarray (N, P) integer
    valid : ndarray (N, P) bool
        False on padding.
    dilate : int
        Observed pixels added on each side of every bad pixel.

    Notes
    -----
    Noise spike: sigma_i >= spike_factor * S_i with S = G*(g sigma) / G*g, G a Gaussian of
    ``smooth`` pixels and g the pixels good before this test.
    """
    from scipy.ndimage import gaussian_filter1d  # on first use: the encode path never imports SciPy

    basic = (~valid) | (ivar <= 0) | (flux == 0) | ((and_mask & BAD_AND_MASK) != 0)   # (N, P)
    good = ~basic
    sigma = np.where(good, 1.0 / np.sqrt(np.where(good, ivar, 1.0)), 0.0).astype(np.float32)
    num = gaussian_filter1d(sigma, smooth, axis=1, mode="constant", truncate=3.0)   # (N, P)
    den = gaussian_filter1d(good.astype(np.float32), smooth, axis=1, mode="constant", truncate=3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        local = np.where(den > 1e-3, num / den, np.inf)                              # (N, P)
    spike = good & (sigma >= spike_factor * local)
    bad = basic | spike
    return dilate_mask(bad, dilate) | ~valid
