"""Who is in the synthetic survey: classes, oddities and the physical parameters of each object.

Every parameter is drawn for all N objects at once from class-dependent priors (see the
table in docs/synthetic.md): quiescent galaxies are old, fast-quenched delayed-tau histories
(a few post-starbursts), emission-line galaxies are extended histories with occasional recent
bursts, AGN live in intermediate hosts. Shapes: N objects.
"""
import numpy as np

from ..paper import CLASSES as PAPER_CLASSES
from ..utils import NpvaeError
from .abundance import draw_abundances
from .oddities import ODDITY_KINDS
from .observe import draw_redshift, draw_sn

__all__ = ["DEFAULT_FRACTIONS", "CLASSES", "PHYSICS", "check_physics", "draw_population"]

# nlagn: intended narrow-line AGN; with the weak LIER emission of quiescent galaxies
# ("quiescent_lines") about 3% more are *measured* as AGN, together the paper's 4%
DEFAULT_FRACTIONS = {"quiescent": 0.62, "emission": 0.32, "nlagn": 0.02, "blagn": 0.014,
                     "oddity": 0.005}
CLASSES = list(PAPER_CLASSES)
# optional physics, all on by default (docs/synthetic.md, "Realism"):
# abundances: [alpha/Fe] and [Na/Fe] of early types rising with sigma (abundance.py);
# quiescent_lines: weak LINER-like emission in most quiescent galaxies (nebular.lier_ratios);
# calibration: smooth spectrophotometric errors, one per camera (calibration.py)
PHYSICS = ("abundances", "quiescent_lines", "calibration")


def check_physics(physics):
    """The set of optional physics switched on: None -> all of :data:`PHYSICS`; raise on unknown names."""
    chosen = set(PHYSICS if physics is None else physics)
    unknown = chosen - set(PHYSICS)
    if unknown:
        raise NpvaeError(f"physics: unknown option {sorted(unknown)[0]!r} (known: {', '.join(PHYSICS)})")
    return chosen


def _check_fractions(fractions):
    """Merge user fractions into the defaults and normalise; raise NpvaeError on bad values."""
    merged = dict(DEFAULT_FRACTIONS)
    for key, value in (fractions or {}).items():
        if key not in merged:
            raise NpvaeError(f"fractions: unknown class {key!r} (known: {', '.join(merged)})")
        if not np.isfinite(value) or value < 0:
            raise NpvaeError(f"fractions[{key!r}] = {value} must be a finite number >= 0")
        merged[key] = float(value)
    total = sum(merged.values())
    if total <= 0:
        raise NpvaeError("fractions: at least one class needs a positive fraction")
    return {k: v / total for k, v in merged.items()}


def _loguniform(rng, lo, hi, n):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), n))


def _draw_classes(rng, n, fractions):
    """Intended class per object (galaxy classes; oddities get a host class too) and oddity kind."""
    names = CLASSES + ["oddity"]
    p = np.array([fractions[k] for k in names])
    pick = rng.choice(len(names), size=n, p=p)
    odd = pick == len(names) - 1
    kind = np.array(names, dtype="U10")[pick]
    host = rng.choice(2, size=n, p=[0.7, 0.3])                                 # quiescent / emission
    kind[odd] = np.array(CLASSES)[host[odd]]
    oddity = np.full(n, "", dtype="U12")
    oddity[odd] = np.array(ODDITY_KINDS)[rng.integers(0, len(ODDITY_KINDS), odd.sum())]
    return kind, oddity


def _draw_sfh(rng, kind):
    """Delayed-tau + burst + truncation parameters per class. Dict of (N,) arrays (Gyr)."""
    n = kind.size
    q, e, agn = kind == "quiescent", kind == "emission", np.isin(kind, ["nlagn", "blagn"])
    t_start = np.where(q, rng.uniform(8, 13, n), np.where(agn, rng.uniform(6, 13, n), rng.uniform(3, 13, n)))
    tau = np.where(q, _loguniform(rng, 0.3, 2.0, n), np.where(agn, _loguniform(rng, 0.8, 8, n),
                                                                   _loguniform(rng, 1.5, 30, n)))
    t_quench = np.zeros(n)
    burst_frac, burst_age = np.zeros(n), _loguniform(rng, 0.07, 3.0, n)
    # quiescent: 15% old bursts, 6% post-starbursts (burst then truncation)
    u = rng.random(n)
    old_burst = q & (u < 0.15)
    burst_frac[old_burst] = rng.uniform(0.03, 0.15, old_burst.sum())
    burst_age[old_burst] = rng.uniform(1.0, 3.0, old_burst.sum())
    psb = q & (u > 0.94)
    burst_age[psb] = _loguniform(rng, 0.15, 1.2, psb.sum())
    burst_frac[psb] = rng.uniform(0.05, 0.35, psb.sum())
    t_quench[q] = np.maximum(0.5, burst_age[q] * 0.8)
    # emission: 25% recent bursts; 4% extreme young starbursts
    burst = e & (u < 0.25)
    burst_frac[burst] = _loguniform(rng, 0.005, 0.1, burst.sum())
    burst_age[burst] = _loguniform(rng, 0.065, 0.5, burst.sum())
    extreme = e & (u > 0.96)
    t_start[extreme] = rng.uniform(0.3, 2.0, extreme.sum())
    tau[extreme] = _loguniform(rng, 5, 30, extreme.sum())
    return {"t_start": t_start, "tau": tau, "t_quench": t_quench,
            "burst_frac": burst_frac, "burst_age": burst_age, "extreme": extreme}


def draw_population(rng, n, fractions=None, physics=None):
    """All object parameters: class, oddity, redshift, S/N, SFH, metallicity, kinematics, dust.

    ``physics``: the optional physics to switch on (names of :data:`PHYSICS`; None = all).
    Returns a dict of (N,) arrays; emission-line ratios and AGN details are drawn later in
    :mod:`npvae.synthetic.survey` from these. The optional parameters are drawn last, so
    switching them off leaves every other parameter as it was.
    """
    physics = check_physics(physics)
    if int(n) != n or n < 1:
        raise NpvaeError(f"n = {n}: the number of spectra must be a positive integer")
    fractions = _check_fractions(fractions)
    kind, oddity = _draw_classes(rng, int(n), fractions)
    n = kind.size
    q, e = kind == "quiescent", kind == "emission"
    agn = ~(q | e)
    pop = {"kind": kind, "oddity": oddity, **_draw_sfh(rng, kind)}
    pop["z"] = np.where(kind == "blagn", draw_redshift(rng, n, z_peak=0.2), draw_redshift(rng, n))
    pop["z_cat"] = pop["z"] + rng.normal(0, 3e-5, n) * (1 + pop["z"])
    pop["sn"] = draw_sn(rng, n)
    pop["mh"] = np.clip(np.where(q, rng.normal(0.05, 0.15, n), np.where(agn, rng.normal(0.0, 0.2, n),
                                                                      rng.normal(-0.25, 0.3, n))),
                        -1.71, 0.22)
    pop["mh"][pop["extreme"]] = rng.uniform(-1.71, -0.7, pop["extreme"].sum())
    pop["sigma_star"] = np.clip(np.where(q, rng.lognormal(np.log(170), 0.3, n),
                                         np.where(agn, rng.lognormal(np.log(140), 0.3, n),
                                                  rng.lognormal(np.log(80), 0.3, n))), 50, 350)
    pop["ebv_gas"] = np.where(q, np.abs(rng.normal(0, 0.08, n)),
                              np.clip(0.3 + 0.4 * pop["mh"] + rng.normal(0, 0.15, n), 0, 1.0))
    pop["sigma_gas"] = np.where(agn, _loguniform(rng, 120, 400, n),
                                np.where(q, pop["sigma_star"], rng.uniform(25, 90, n)))
    # apparent brightness: S/N and flux density at 6000 A observed (1e-17 erg/s/cm^2/A)
    pop["flux_6000"] = 6.0 * (pop["sn"] / 14.0) ** 1.3 * rng.lognormal(0, 0.2, n)
    early = (q | (kind == "nlagn")) & ("abundances" in physics)
    pop["alpha_fe"], pop["na_fe"] = draw_abundances(rng, pop["sigma_star"], early)
    pop["quiescent_lines"] = np.full(n, "quiescent_lines" in physics)
    pop["calibration"] = np.full(n, "calibration" in physics)
    return pop
