"""Dust: Calzetti et al. (2000) for the stars, Cardelli, Clayton & Mathis (1989) for the lines.

Calzetti (2000)'s prescription for star-forming galaxies: the stellar continuum is attenuated
by her starburst curve (R_V = 4.05) with E(B-V)_star = 0.44 E(B-V)_gas (her eq. 3), while the
nebular lines see a Milky-Way-type curve with the full E(B-V)_gas (the reddening of the
ionised gas was measured from the Balmer decrement with such a curve). Here the lines get
CCM89 with R_V = 3.1, so the Balmer decrement grows with the dust as observed:

    H-alpha / H-beta = 2.86 x 10^(0.4 E(B-V)_gas (k(H-beta) - k(H-alpha))).

k(lambda) = A_lambda / E(B-V) throughout. docs/synthetic.md. Shapes: N spectra, W pixels.
"""
import numpy as np

__all__ = ["RV_CALZETTI", "RV_MILKY_WAY", "STAR_TO_GAS", "calzetti_k", "ccm89_k", "transmission",
           "line_transmission"]

RV_CALZETTI = 4.05            # A_V / E(B-V)_star, Calzetti et al. (2000)
RV_MILKY_WAY = 3.1            # A_V / E(B-V) of the diffuse Milky Way (Cardelli et al. 1989)
STAR_TO_GAS = 0.44            # E(B-V)_star / E(B-V)_gas, Calzetti (2000) eq. 3

# CCM89 eq. 3: optical/near-IR polynomials in y = x - 1.82, highest power first (for np.polyval)
_CCM_A = [0.32999, -0.77530, 0.01979, 0.72085, -0.02427, -0.50447, 0.17699, 1.0]
_CCM_B = [-2.09002, 5.30260, -0.62251, -5.38434, 1.07233, 2.28305, 1.41338, 0.0]


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


def ccm89_k(wave, rv=RV_MILKY_WAY):
    """Cardelli, Clayton & Mathis (1989) k(lambda) = A_lambda / E(B-V) = R_V a(x) + b(x).

    x = 1 / lambda in inverse micron, wave in Angstrom (any shape), valid for 0.3 <= x <= 8
    (1250 A to 3.3 micron):

    .. math::
        \\text{IR } (x < 1.1):\\; a = 0.574 x^{1.61}, \\; b = -0.527 x^{1.61}

        \\text{optical } (1.1 \\le x < 3.3):\\; a, b \\text{ of degree 7 in } y = x - 1.82 \\text{ (eq. 3)}

        \\text{UV } (x \\ge 3.3):\\;
        a = 1.752 - 0.316 x - \\frac{0.104}{(x - 4.67)^2 + 0.341} + F_a,\\;
        b = -3.090 + 1.825 x + \\frac{1.206}{(x - 4.62)^2 + 0.263} + F_b

    with F_a = -0.04473 (x - 5.9)^2 - 0.009779 (x - 5.9)^3 and F_b = 0.2130 (x - 5.9)^2 +
    0.1207 (x - 5.9)^3 above x = 5.9 (0 below).
    """
    x = 1e4 / np.asarray(wave, dtype=np.float64)                              # 1 / micron
    if np.any((x < 0.3) | (x > 8.0)):
        raise ValueError("ccm89_k: wavelengths must lie in 1250-33333 Angstrom")
    y = x - 1.82
    far = np.maximum(x - 5.9, 0.0)
    a = np.select([x < 1.1, x < 3.3],
                  [0.574 * x ** 1.61, np.polyval(_CCM_A, y)],
                  1.752 - 0.316 * x - 0.104 / ((x - 4.67) ** 2 + 0.341)
                  - 0.04473 * far ** 2 - 0.009779 * far ** 3)
    b = np.select([x < 1.1, x < 3.3],
                  [-0.527 * x ** 1.61, np.polyval(_CCM_B, y)],
                  -3.090 + 1.825 * x + 1.206 / ((x - 4.62) ** 2 + 0.263)
                  + 0.2130 * far ** 2 + 0.1207 * far ** 3)
    return rv * a + b


def transmission(wave, ebv):
    """Stellar light that gets through Calzetti dust: 10^(-0.4 k(lambda) E(B-V)_star).

    wave (W,) Angstrom, ebv (N,) -> (N, W) float32.
    """
    k = (-0.4 * np.log(10) * calzetti_k(wave)).astype(np.float32)             # (W,)
    return np.exp(np.asarray(ebv, dtype=np.float32)[:, None] * k[None, :])    # (N, W) float32


def line_transmission(wave, ebv_gas):
    """Line flux that gets through CCM89 dust: 10^(-0.4 k(lambda) E(B-V)_gas).

    wave (L,) Angstrom, ebv_gas (N,) -> (N, L) float64.
    """
    k = ccm89_k(wave)                                                         # (L,)
    return 10 ** (-0.4 * k[None, :] * np.asarray(ebv_gas, np.float64)[:, None])   # (N, L)
