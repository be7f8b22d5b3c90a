"""Stellar continua: star-formation histories on the E-MILES age grid, metallicity, kinematics, dust.

A galaxy forms stars with a delayed-tau history SFR(T) ~ T exp(-T / tau) (T time since the
start), optionally plus a burst, optionally truncated (post-starbursts). The mass formed in
each template age bin weights the SSPs; the spectrum is broadened by the stellar velocity
dispersion and attenuated by Calzetti dust. One solar mass is formed in total: the caller
scales to the observed flux. docs/synthetic.md. Shapes: N galaxies, A ages, M metallicities,
W rest pixels.
"""
import numpy as np

from . import dust
from .abundance import apply_responses
from .spectral import KMS_PER_PIXEL, gaussian_broaden
from .templates import load_templates

__all__ = ["age_bin_edges", "delayed_tau_mass", "sfh_weights", "metal_weights", "stellar_continuum",
           "recent_sfr"]


def age_bin_edges(ages):
    """Edges of the age bins around the template ages (Gyr): geometric midpoints, 0 first. (A+1,)."""
    mid = np.sqrt(ages[1:] * ages[:-1])                                       # (A-1,)
    return np.concatenate([[0.0], mid, [ages[-1] * np.sqrt(ages[-1] / ages[-2])]])


def _cumulative_delayed_tau(T, tau):
    """Mass formed by time T since the start: int_0^T t e^{-t/tau} dt = tau^2 [1 - (1 + T/tau) e^{-T/tau}]."""
    T = np.maximum(T, 0.0)
    return tau ** 2 * (1.0 - (1.0 + T / tau) * np.exp(-T / tau))


def delayed_tau_mass(edges, t_start, tau, t_quench):
    """Mass formed in each lookback-age bin by a delayed-tau history truncated at ``t_quench``.

    Lookback age a corresponds to T = t_start - a. Nothing forms at a < t_quench.
    edges (A+1,), t_start, tau, t_quench (N,) Gyr -> (N, A), unnormalised.
    """
    lo = np.maximum(edges[None, :-1], t_quench[:, None])                      # (N, A)
    hi = np.maximum(edges[None, 1:], lo)                                      # (N, A)
    T_lo, T_hi = t_start[:, None] - lo, t_start[:, None] - hi                 # (N, A)
    return _cumulative_delayed_tau(T_lo, tau[:, None]) - _cumulative_delayed_tau(T_hi, tau[:, None])


def sfh_weights(ages, t_start, tau, t_quench, burst_frac, burst_age):
    """Normalised mass fractions per template age (N, A): delayed tau + burst, summing to 1.

    The burst (fraction ``burst_frac`` of all mass) is split between the two template ages
    around ``burst_age``, linearly in log age.
    """
    mass = delayed_tau_mass(age_bin_edges(ages), t_start, tau, t_quench)     # (N, A)
    mass /= np.maximum(mass.sum(axis=1, keepdims=True), 1e-300)
    la = np.log(ages)
    pos = np.clip(np.interp(np.log(burst_age), la, np.arange(ages.size)), 0, ages.size - 1)
    i0 = np.minimum(np.floor(pos).astype(int), ages.size - 2)                 # (N,)
    f1 = pos - i0
    rows = np.arange(len(t_start))
    burst = np.zeros_like(mass)
    burst[rows, i0] = 1 - f1
    burst[rows, i0 + 1] += f1
    return (1 - burst_frac)[:, None] * mass + burst_frac[:, None] * burst     # (N, A)


def recent_sfr(t_start, tau, t_quench, burst_frac, burst_age, window=0.1):
    """Mean star-formation rate over the last ``window`` Gyr, in (mass formed) / Gyr, with the
    same normalisation as :func:`sfh_weights` (total mass 1). Bursts younger than ``window``
    count fully. -> (N,)."""
    edges = np.array([0.0, window, 50.0])
    mass = delayed_tau_mass(edges, t_start, tau, t_quench)                    # (N, 2)
    young = mass[:, 0] / np.maximum(mass.sum(axis=1), 1e-300)
    return ((1 - burst_frac) * young + burst_frac * (burst_age < window)) / window


def metal_weights(metals, mh):
    """Linear interpolation weights over the metallicity grid, (N,) -> (N, M)."""
    pos = np.interp(mh, metals, np.arange(metals.size))
    i0 = np.minimum(np.floor(pos).astype(int), metals.size - 2)
    f1 = pos - i0
    w = np.zeros((len(mh), metals.size))
    rows = np.arange(len(mh))
    w[rows, i0] = 1 - f1
    w[rows, i0 + 1] += f1
    return w                                                                   # (N, M)


def stellar_continuum(age_w, mh, sigma_star, ebv_star, alpha_fe=None, na_fe=None):
    """Rest-frame stellar spectra (N, W) in L_sun/A per solar mass formed.

    .. math:: f(\\lambda) = 10^{-0.4 k(\\lambda) E_*} \\,
              \\Big[\\sum_{a,m} w_a u_m S_{am}\\Big] \\ast G(\\sigma_*)

    age_w (N, A) from :func:`sfh_weights`, mh (N,) [M/H], sigma_star (N,) km/s (added to the
    templates' own ~65 km/s, close to SDSS's instrumental width), ebv_star (N,); alpha_fe,
    na_fe (N,) or None: abundance ratios applied as Lick-index responses before the broadening
    (:func:`npvae.synthetic.abundance.apply_responses`).
    Returns the spectra and the weights (N, A, M).
    """
    t = load_templates()
    weights = age_w[:, :, None] * metal_weights(t.metals, mh)[:, None, :]      # (N, A, M)
    flat = weights.reshape(len(mh), -1).astype(np.float32)                    # (N, A*M)
    spec = flat @ t.flux.reshape(-1, t.loglam.size)                           # (N, W)
    if alpha_fe is not None:
        apply_responses(spec, 10 ** t.loglam, alpha_fe, na_fe)                # (N, W) in place
    spec = gaussian_broaden(spec, sigma_star / KMS_PER_PIXEL)                 # (N, W)
    spec *= dust.transmission(10 ** t.loglam, ebv_star).astype(np.float32)    # (N, W)
    return spec, weights
