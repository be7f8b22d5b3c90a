"""The rare oddities the paper's outlier search found: stars, camera jumps, gaps, noise, star light.

Stars (hot A-type and cool M-type) are analytic: a black body with Balmer or TiO/CaH/Na/Ca II
absorption. They sit at z ~ 0 but carry a (wrong) galaxy catalogue redshift, as the
misclassified stars of the paper did. The other kinds damage a normal galaxy spectrum.
docs/synthetic.md. Shapes: N spectra, W rest pixels, P observed pixels.
"""
import numpy as np

from .observe import MASK_BITS, obs_loglam
from .templates import load_templates

__all__ = ["ODDITY_KINDS", "planck", "a_star", "m_star", "camera_jump", "drop_stretch",
           "drop_many", "bright_star_light"]

ODDITY_KINDS = ["star_A", "star_M", "camera_jump", "missing_data", "low_sn", "bright_star"]
BALMER_SERIES = [6564.61, 4862.68, 4341.68, 4102.89, 3971.20, 3890.17, 3836.47, 3798.98,
                 3771.70, 3751.22]
TIO_HEADS = [4762., 4956., 5168., 5449., 5599., 5848., 6160., 6653., 7056., 7591., 8434., 8862.]


def planck(wave, temp):
    """Black-body B_lambda shape, normalised to 1 at 5500 A.  wave (W,), temp (N,) K -> (N, W)."""
    x = 1.4388e8 / (wave[None, :] * temp[:, None])                            # hc / lambda k T
    x0 = 1.4388e8 / (5500.0 * temp[:, None])
    return (5500.0 / wave[None, :]) ** 5 * np.expm1(x0) / np.expm1(x)


def _absorb(wave, centre, depth, width):
    """Lorentzian absorption transmission 1 - d / (1 + ((lambda - c)/w)^2), (N, W)."""
    return 1 - depth[:, None] / (1 + ((wave[None, :] - centre) / width[:, None]) ** 2)


def a_star(rng, wave, n):
    """Hot A-type star: T 8000-10500 K, broad Balmer absorption, Balmer jump, weak Ca II K. (N, W)."""
    temp = rng.uniform(8000, 10500, n)
    spec = planck(wave, temp)
    for lam in BALMER_SERIES:
        spec *= _absorb(wave, lam, rng.uniform(0.55, 0.7, n), rng.uniform(5, 9, n) * lam / 4862)
    spec *= np.where(wave < 3646, rng.uniform(0.35, 0.55, n)[:, None], 1.0)
    spec *= _absorb(wave, 3934.8, rng.uniform(0.1, 0.3, n), np.full(n, 1.5))
    return spec


def m_star(rng, wave, n):
    """Cool M-type star: T 2900-3700 K, saw-tooth TiO bands, CaH, Na D, K I, Ca II triplet. (N, W)."""
    temp = rng.uniform(2900, 3700, n)
    strength = (3800 - temp) / 900                                            # (N,) 0.1-1
    spec = planck(wave, temp)
    for head in TIO_HEADS:
        d = np.clip(strength * rng.uniform(0.4, 0.8, n), 0, 0.85)[:, None]
        tail = np.exp(-np.clip(wave[None, :] - head, 0, None) / 150.0)
        spec *= np.where(wave[None, :] >= head, 1 - d * tail, 1.0)
    for lam, d, w in [(6385., 0.3, 15.), (5891.6, 0.5, 2.5), (5897.6, 0.5, 2.5), (7667.0, 0.4, 3.),
                      (7701.1, 0.35, 3.), (8500.4, 0.3, 2.), (8544.4, 0.35, 2.), (8664.5, 0.3, 2.)]:
        spec *= _absorb(wave, lam, np.full(n, d), np.full(n, w))
    return spec


def camera_jump(rng, model, split_range=(5850.0, 6150.0)):
    """Mis-scaled red camera: multiply pixels redward of the dichroic split by 0.6-0.8 or 1.25-1.6.
    model (N, P), in place; returns the factors (N,)."""
    n = len(model)
    factor = np.where(rng.random(n) < 0.5, rng.uniform(0.6, 0.8, n), rng.uniform(1.25, 1.6, n))
    split = rng.uniform(*split_range, n)
    red = 10 ** obs_loglam()[None, :] > split[:, None]                         # (N, P)
    model *= np.where(red, factor[:, None], 1.0)
    return factor


def drop_stretch(rng, flux, ivar, and_mask, lengths=(400, 1500)):
    """A large stretch of missing data: ivar = 0, flux = 0, NODATA bit. In place; -> (N,) lengths."""
    n, p = flux.shape
    length = rng.integers(*lengths, n)
    start = rng.integers(0, p - length)
    for i in range(n):
        sl = slice(start[i], start[i] + length[i])
        flux[i, sl], ivar[i, sl] = 0.0, 0.0
        and_mask[i, sl] |= 1 << MASK_BITS["NODATA"]
    return length


def drop_many(rng, ivar, and_mask, fraction=(0.4, 0.75), chunk=40):
    """Very poor data: most pixels rejected in chunks of ``chunk`` pixels (ivar = 0, FULLREJECT)."""
    n, p = ivar.shape
    n_chunks = -(-p // chunk)
    frac = rng.uniform(*fraction, n)
    bad = rng.random((n, n_chunks)) < frac[:, None]                           # (N, chunks)
    bad = np.repeat(bad, chunk, axis=1)[:, :p]                                # (N, P)
    ivar[bad] = 0.0
    and_mask[bad] |= 1 << MASK_BITS["FULLREJECT"]
    return bad.mean(axis=1)


def bright_star_light(rng, n):
    """Rest-frame (z = 0) spectra of a bright F/G star: a 2.5 Gyr solar-metallicity SSP,
    normalised to mean 1 over the grid. -> (N, W) and the template wave (W,)."""
    t = load_templates()
    a = int(np.argmin(np.abs(t.ages - 2.5)))
    m = int(np.argmin(np.abs(t.metals - 0.0)))
    star = t.flux[a, m] / t.flux[a, m].mean()
    return np.broadcast_to(star, (n, star.size)).astype(np.float64), 10 ** t.loglam
