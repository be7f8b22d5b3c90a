"""Broad-line AGN: power-law continuum, broad Balmer and helium lines, optical Fe II.

The accretion disc is f_nu ~ nu^alpha with alpha ~ N(-0.44, 0.3) (Vanden Berk et al. 2001),
so f_lambda ~ lambda^-(2 + alpha). Broad lines are Gaussians with FWHM 1,500-8,000 km/s;
a blend of broad Fe II multiplet lines (37, 38, 42, 48, 49) fills 4400-4700 and 5150-5400 A.
Narrow lines come from :mod:`npvae.synthetic.nebular` (Seyfert ratios). docs/synthetic.md.
Shapes: N quasars, W rest pixels, B broad lines.
"""
import numpy as np

__all__ = ["BROAD_LINES", "FE2_LINES", "power_law", "draw_broad"]

# name, vacuum wavelength (A), flux relative to broad Hbeta
BROAD_LINES = [("H_alpha", 6564.61, 3.5), ("H_beta", 4862.68, 1.0), ("H_gamma", 4341.68, 0.42),
               ("H_delta", 4102.89, 0.24), ("H_epsilon", 3971.20, 0.12),
               ("He_I 5876", 5877.25, 0.12), ("He_II 4685", 4686.99, 0.06)]
# strongest optical Fe II lines (vacuum A) with rough relative strengths (Veron-Cetty+ 2004)
FE2_LINES = np.array([
    [4490.5, 0.4], [4516.0, 0.5], [4523.6, 0.5], [4550.8, 0.6], [4584.0, 0.8], [4621.0, 0.4],
    [4630.6, 0.6], [4667.3, 0.3], [4925.3, 1.0], [5019.8, 1.1], [5170.5, 1.1], [5198.3, 0.5],
    [5236.1, 0.6], [5277.4, 0.6], [5318.5, 0.4], [5363.8, 0.4], [5413.4, 0.2], [5535.9, 0.2]])


def power_law(wave, alpha_nu, norm_5100):
    """f_lambda = norm (lambda / 5100)^-(2 + alpha_nu).  wave (W,), alpha_nu, norm (N,) -> (N, W)."""
    return norm_5100[:, None] * (wave[None, :] / 5100.0) ** (-(2.0 + alpha_nu[:, None]))


def draw_broad(rng, n):
    """Draw the broad-line region: FWHM (km/s), Hbeta equivalent width on the power law (A),
    Halpha/Hbeta broad decrement, Fe II / Hbeta, continuum slope. Dict of (N,) arrays."""
    return {"fwhm": np.exp(rng.uniform(np.log(1500), np.log(8000), n)),
            "ew_hb": np.exp(rng.uniform(np.log(40), np.log(150), n)),
            "balmer": rng.uniform(2.8, 4.2, n) / 3.5,
            "fe2": rng.uniform(0.1, 1.0, n),
            "alpha_nu": rng.normal(-0.44, 0.3, n),
            "host_frac": rng.uniform(0.1, 0.7, n)}
