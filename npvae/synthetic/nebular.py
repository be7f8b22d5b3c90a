"""Nebular emission lines: which lines, their ratios for star formation and for AGN, their fluxes.

Star-forming galaxies sit on the observed BPT sequence below the Kauffmann et al. (2003) line;
Seyferts and LINERs lie above the Kewley et al. (2001) maximum-starburst line. Hydrogen lines
follow case B (Halpha/Hbeta = 2.86, T = 10^4 K) before dust. Every ratio is drawn in log
space with scatter; docs/synthetic.md lists the sources. Shapes: N galaxies, L lines.
"""
import numpy as np

from ..data.labels import kewley2001_nii

__all__ = ["LINES", "LINE_NAMES", "MEASURED", "kauffmann_nii", "sf_ratios",
           "agn_ratios", "liner_ratios", "lier_ratios", "line_fluxes", "bpt_of_fluxes", "mix_ratios"]

# name (SDSS SPZLINE spelling where SDSS measures the line), vacuum wavelength A, measured?
LINES = np.array([
    ("[O_II] 3725", 3727.092, True), ("[O_II] 3727", 3729.875, True),
    ("[Ne_III] 3868", 3869.857, True), ("H8", 3890.166, False),
    ("[Ne_III] 3967", 3968.59, False), ("H_epsilon", 3971.198, False),
    ("H_delta", 4102.892, True), ("H_gamma", 4341.684, True),
    ("He_II 4685", 4686.991, True), ("H_beta", 4862.683, True),
    ("[O_III] 4959", 4960.295, True), ("[O_III] 5007", 5008.240, True),
    ("He_I 5876", 5877.25, True), ("[O_I] 6300", 6302.046, True),
    ("[O_I] 6363", 6365.535, False), ("[N_II] 6548", 6549.859, True),
    ("H_alpha", 6564.614, True), ("[N_II] 6583", 6585.268, True),
    ("[S_II] 6716", 6718.294, True), ("[S_II] 6730", 6732.678, True),
], dtype=[("name", "U16"), ("wave", "f8"), ("measured", "?")])
LINE_NAMES = list(LINES["name"])
MEASURED = np.flatnonzero(LINES["measured"])
_I = {name: i for i, name in enumerate(LINE_NAMES)}

BALMER_CASE_B = {"H_alpha": 2.86, "H_beta": 1.0, "H_gamma": 0.468, "H_delta": 0.259,
                 "H_epsilon": 0.159, "H8": 0.105}          # relative to Hbeta, 10^4 K, case B


def kauffmann_nii(x):
    """Kauffmann et al. (2003) star-forming boundary: y = 0.61 / (x - 0.05) + 1.3 (x < 0.05)."""
    return 0.61 / (np.asarray(x) - 0.05) + 1.3


def sf_ratios(rng, mh):
    """Log line ratios of H II regions on the star-forming sequence; mh (N,) sets the abundance.

    x = log [N II]6583/Ha rises with metallicity; y = log [O III]5007/Hb lies 0.05-0.35 dex
    below the Kauffmann line (and so below Kewley), capped at 0.8 for the most metal-poor.
    Returns a dict of (N,) arrays.
    """
    n = len(mh)
    x = np.clip(-0.5 + 0.45 * mh + rng.normal(0, 0.15, n), -1.7, -0.25)
    y = kauffmann_nii(x) - rng.uniform(0.05, 0.35, n)
    y = np.minimum(y, 0.8 - rng.uniform(0, 0.1, n))
    return {"nii": x, "oiii": y,
            "sii": -0.42 + 0.22 * (x + 0.5) + rng.normal(0, 0.07, n),
            "oi": -1.65 + 0.5 * (x + 0.5) + rng.normal(0, 0.1, n),
            "oii": np.clip(0.35 - 0.45 * (x + 0.5), -0.2, 0.75) + rng.normal(0, 0.08, n),
            "neiii": -1.1 + rng.normal(0, 0.1, n), "heii": np.full(n, -3.0)}


def _above_kewley(x, y, rng, margin):
    """Push points at least ``margin`` (+ 0 to 0.1) dex above the Kewley line where it applies."""
    floor = np.where(x < 0.42, kewley2001_nii(np.minimum(x, 0.42)), -np.inf)
    return np.maximum(y, floor + margin + rng.uniform(0, 0.1, len(x)))


def agn_ratios(rng, n):
    """Seyfert-branch ratios: high [O III]/Hb, above Kewley. Dict of (N,) arrays."""
    x = rng.uniform(-0.35, 0.25, n)
    y = _above_kewley(x, rng.uniform(0.45, 1.05, n), rng, 0.15)
    return {"nii": x, "oiii": y, "sii": rng.uniform(-0.4, 0.05, n), "oi": rng.uniform(-1.25, -0.8, n),
            "oii": rng.uniform(0.2, 0.6, n), "neiii": -0.95 + rng.normal(0, 0.1, n),
            "heii": rng.uniform(-1.0, -0.6, n)}


def liner_ratios(rng, n):
    """LINER-branch ratios: strong [N II], [S II], [O I], modest [O III]/Hb. Dict of (N,) arrays."""
    x = rng.uniform(-0.15, 0.35, n)
    y = _above_kewley(x, rng.uniform(-0.35, 0.35, n), rng, 0.15)
    return {"nii": x, "oiii": y, "sii": rng.uniform(-0.25, 0.15, n), "oi": rng.uniform(-1.0, -0.5, n),
            "oii": rng.uniform(0.4, 0.9, n), "neiii": -1.0 + rng.normal(0, 0.1, n),
            "heii": rng.uniform(-1.5, -1.0, n)}


def lier_ratios(rng, n):
    """Ratios of the weak LINER-like (LIER) emission of quiescent galaxies: [N II] > H-alpha.

    Yan et al. (2006, ApJ 648, 281) and Belfiore et al. (2016, MNRAS 461, 3111): the emission
    of red, old galaxies sits on the LINER branch with log [N II]/Ha of 0 to 0.35 (0.0-0.35
    here) and modest [O III]/Hb, above the Kewley line. Dict of (N,) arrays.
    """
    ratios = liner_ratios(rng, n)
    ratios["nii"] = rng.uniform(0.0, 0.35, n)
    ratios["oiii"] = _above_kewley(ratios["nii"], ratios["oiii"], rng, 0.15)
    return ratios


def line_fluxes(ratios, rng):
    """Intrinsic line fluxes relative to Halpha = 1, (N, L), from a ratio dict.

    Doublets: [O III] 5007/4959 = 2.98, [N II] 6583/6548 = 3.05, [O I] 6300/6363 = 3.1,
    [Ne III] 3869/3968 = 3.3; density-sensitive [S II] 6716/6731 in 1.1-1.45 and
    [O II] 3729/3726 in 1.2-1.5 (low density).
    """
    n = len(ratios["nii"])
    out = np.zeros((n, len(LINES)))                                            # (N, L)
    hb = 1.0 / BALMER_CASE_B["H_alpha"]
    for name, r in BALMER_CASE_B.items():
        out[:, _I[name]] = r * hb
    o3 = hb * 10 ** ratios["oiii"]
    out[:, _I["[O_III] 5007"]], out[:, _I["[O_III] 4959"]] = o3, o3 / 2.98
    n2 = 10 ** ratios["nii"]
    out[:, _I["[N_II] 6583"]], out[:, _I["[N_II] 6548"]] = n2, n2 / 3.05
    o1 = 10 ** ratios["oi"]
    out[:, _I["[O_I] 6300"]], out[:, _I["[O_I] 6363"]] = o1, o1 / 3.1
    s2, rs = 10 ** ratios["sii"], rng.uniform(1.1, 1.45, n)
    out[:, _I["[S_II] 6716"]], out[:, _I["[S_II] 6730"]] = s2 * rs / (1 + rs), s2 / (1 + rs)
    o2, ro = hb * 10 ** ratios["oii"], rng.uniform(1.2, 1.5, n)
    out[:, _I["[O_II] 3727"]], out[:, _I["[O_II] 3725"]] = o2 * ro / (1 + ro), o2 / (1 + ro)
    ne = o3 * 10 ** ratios["neiii"]
    out[:, _I["[Ne_III] 3868"]], out[:, _I["[Ne_III] 3967"]] = ne, ne / 3.3
    out[:, _I["He_I 5876"]] = 0.11 * hb
    out[:, _I["He_II 4685"]] = hb * 10 ** ratios["heii"]
    return out


def mix_ratios(sf, agn, f_agn):
    """Flux mix of two line sets with Halpha = 1 each: (1 - f) sf + f agn.  (N, L) x2, (N,) -> (N, L)."""
    return (1 - f_agn)[:, None] * sf + f_agn[:, None] * agn


def bpt_of_fluxes(fluxes):
    """(log [N II]6583/Ha, log [O III]5007/Hb) of flux rows (N, L) -> two (N,) arrays."""
    x = np.log10(fluxes[:, _I["[N_II] 6583"]] / fluxes[:, _I["H_alpha"]])
    y = np.log10(fluxes[:, _I["[O_III] 5007"]] / fluxes[:, _I["H_beta"]])
    return x, y
