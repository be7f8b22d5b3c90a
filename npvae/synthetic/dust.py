"""Dust attenuation: the Calzetti et al. (2000) starburst curve.

Stars see E(B-V)_star = 0.44 E(B-V)_gas, the nebular lines the full E(B-V)_gas (Calzetti
2000, eq. 3), so the Balmer decrement grows with the dust as observed. docs/synthetic.md.
Shapes: N spectra, W pixels.
"""
import numpy as np

__all__ = ["RV_CALZETTI", "STAR_TO_GAS", "calzetti_k", "transmission"]

RV_CALZETTI = 4.05            # A_V / E(B-V)_star
STAR_TO_GAS = 0.44            # E(B-V)_star / E(B-V)_gas


def calzetti_k(wave):
    """Calzetti (2000) k(lambda) = A_lambda / E(B-V), wave in Angstrom (any shape).

    .. math::
        k = 2.659(-2.156 + 1.509/x - 0.198/x^2 + 0.011/x^3) + R_V,\\; 0.12 \\le x < 0.63\\,\\mu m

        k = 2.659(-1.857 + 1.040/x) + R_V,\\; 0.63 \\le x \\le 2.2\\,\\mu m
    """
    x = np.asarray(wave, dtype=np.float64) / 1e4                              # micron
    blue = 2.659 * (-2.156 + 1.509 / x - 0.198 / x ** 2 + 0.011 / x ** 3) + RV_CALZETTI
    red = 2.659 * (-1.857 + 1.040 / x) + RV_CALZETTI
    return np.where(x < 0.63, blue, red)


def transmission(wave, ebv):
    """Fraction of light that gets through: 10^(-0.4 k(lambda) E(B-V)).  wave (W,), ebv (N,) -> (N, W)."""
    k = (-0.4 * np.log(10) * calzetti_k(wave)).astype(np.float32)             # (W,)
    return np.exp(np.asarray(ebv, dtype=np.float32)[:, None] * k[None, :])    # (N, W) float32
