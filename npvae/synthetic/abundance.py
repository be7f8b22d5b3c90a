"""Non-solar abundance ratios of old populations: [alpha/Fe] and [Na/Fe] rising with velocity dispersion.

The E-MILES templates are "baseFe" (the Milky Way's abundance pattern), but massive early-type
galaxies are alpha-enhanced (deeper Mg b, shallower Fe lines at fixed total metallicity) and
Na-enhanced (deeper Na D). Both ratios grow with the velocity dispersion:

- [alpha/Fe] = -0.55 + 0.33 log10 sigma (Thomas et al. 2010, MNRAS 404, 1775, red-sequence
  early types), intrinsic scatter 0.05 dex (Thomas et al. 2005, ApJ 621, 673);
- [Na/Fe] = 0.1 + 0.7 log10(sigma / 100 km/s), scatter 0.07 dex: a straight-line reading of
  the stacked SDSS early types of Conroy, Graves & van Dokkum (2014, ApJ 780, 33), whose
  [Na/Fe] climbs from ~0.1 to ~0.4 over sigma 100-300 km/s.

Only early types (quiescent galaxies and AGN hosts) get them; star-forming galaxies keep the
base pattern. They act on the spectrum as *index responses*: the fractional change of a Lick
index per dex of the abundance ratio, at fixed total metallicity, for old (> 5 Gyr) solar
populations -- Mg b +0.215 dex per dex of [alpha/Fe] (16% for +0.3), Fe5270 and Fe5335 -0.20
dex per dex (-13%), read from the models of Thomas, Maraston & Bender (2003, MNRAS 339, 897;
built on the Tripicco & Bell 1995 responses, confirmed by Korn et al. 2005), and Na D +0.45
dex per dex of [Na/Fe] (+36% for +0.3; Conroy & van Dokkum 2012, ApJ 747, 69). Within each
index's central bandpass (Lick definitions of Trager et al. 1998, air, converted to vacuum)
the absorption depth below the pseudo-continuum -- the straight line through the means of the
blue and red side bands -- is multiplied by the response factor s:

    f'(lambda) = C(lambda) - s [C(lambda) - f(lambda)],

so the index EW = int (1 - f / C) dlambda becomes exactly s EW at the template resolution.
Applied before the velocity broadening. docs/synthetic.md. Shapes: N galaxies, W rest pixels.
"""
import numpy as np

from .build_templates import air_to_vacuum

__all__ = ["LICK_BANDS", "RESPONSE", "alpha_fe_of_sigma", "na_fe_of_sigma", "draw_abundances",
           "lick_index", "apply_responses"]

# Lick bandpasses, air A (Trager et al. 1998, Table 2): (blue side band, central band, red side band)
LICK_BANDS_AIR = {
    "Mgb": ((5142.625, 5161.375), (5160.125, 5192.625), (5191.375, 5206.375)),
    "Fe5270": ((5233.150, 5248.150), (5245.650, 5285.650), (5285.650, 5318.150)),
    "Fe5335": ((5304.625, 5315.875), (5312.125, 5352.125), (5353.375, 5363.375)),
    "NaD": ((5860.625, 5875.625), (5876.875, 5909.375), (5922.125, 5948.125)),
}
LICK_BANDS = {k: tuple(tuple(air_to_vacuum(np.array(b))) for b in v) for k, v in LICK_BANDS_AIR.items()}
# d log10(index) / d [X/Fe] and the ratio X it responds to
RESPONSE = {"Mgb": (0.215, "alpha"), "Fe5270": (-0.20, "alpha"), "Fe5335": (-0.20, "alpha"),
            "NaD": (0.45, "na")}
ALPHA_SCATTER = 0.05          # dex, Thomas et al. 2005
NA_SCATTER = 0.07             # dex


def alpha_fe_of_sigma(sigma):
    """Mean [alpha/Fe] of early types at velocity dispersion sigma (km/s): Thomas et al. 2010."""
    return -0.55 + 0.33 * np.log10(sigma)


def na_fe_of_sigma(sigma):
    """Mean [Na/Fe] of early types at sigma (km/s): linear in log sigma after Conroy et al. 2014."""
    return 0.1 + 0.7 * np.log10(np.asarray(sigma) / 100.0)


def draw_abundances(rng, sigma, early):
    """[alpha/Fe], [Na/Fe] (N,) for galaxies of dispersion sigma (N,); 0 where not ``early``."""
    n = len(sigma)
    alpha = np.clip(alpha_fe_of_sigma(sigma) + rng.normal(0, ALPHA_SCATTER, n), 0.0, 0.5)
    na = np.clip(na_fe_of_sigma(sigma) + rng.normal(0, NA_SCATTER, n), 0.0, 0.7)
    return np.where(early, alpha, 0.0), np.where(early, na, 0.0)


def _band_mean(flux, wave, band):
    """Mean flux in a wavelength band (pixels with centre inside), (N, W) -> (N,)."""
    inside = (wave >= band[0]) & (wave <= band[1])
    return flux[:, inside].mean(axis=1)


def _pseudo_continuum(flux, wave, name):
    """Central-band pixel mask (W,) and the straight-line pseudo-continuum there (N, K)."""
    blue, centre, red = LICK_BANDS[name]
    fb, fr = _band_mean(flux, wave, blue), _band_mean(flux, wave, red)         # (N,)
    lb, lr = np.mean(blue), np.mean(red)
    inside = (wave >= centre[0]) & (wave <= centre[1])                         # (W,)
    cont = fb[:, None] + (fr - fb)[:, None] * (wave[inside] - lb) / (lr - lb)  # (N, K)
    return inside, cont


def lick_index(flux, wave, name):
    """Lick equivalent width (A) of index ``name``: int_centre (1 - f / C) dlambda.  (N, W) -> (N,).

    Written from the bandpass definition alone (rectangle sum over the pixels whose centre
    is inside the band, dlambda = the local pixel width), independent of :func:`apply_responses`.
    """
    flux = np.atleast_2d(flux)
    inside, cont = _pseudo_continuum(flux, wave, name)
    dlam = np.gradient(wave)[inside]                                          # (K,)
    return ((1.0 - flux[:, inside] / cont) * dlam).sum(axis=1)


def response_factors(alpha_fe, na_fe):
    """Depth factor s (N,) of each index: 10^(R [X/Fe]). Dict name -> (N,)."""
    ratio = {"alpha": np.asarray(alpha_fe, float), "na": np.asarray(na_fe, float)}
    return {name: 10 ** (slope * ratio[x]) for name, (slope, x) in RESPONSE.items()}


def apply_responses(flux, wave, alpha_fe, na_fe):
    """Deepen (or weaken) the absorption in each index's central band, in place; returns flux.

    flux (N, W) rest frame at the template resolution, wave (W,) vacuum A, alpha_fe, na_fe (N,).
    """
    for name, s in response_factors(alpha_fe, na_fe).items():
        rows = np.flatnonzero(s != 1.0)
        if rows.size == 0:
            continue
        inside, cont = _pseudo_continuum(flux[rows], wave, name)              # (R, K)
        depth = cont - flux[rows][:, inside]                                  # (R, K)
        flux[np.ix_(rows, np.flatnonzero(inside))] = (cont - s[rows, None] * depth).astype(flux.dtype)
    return flux
