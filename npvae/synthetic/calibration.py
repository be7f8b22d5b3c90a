"""Spectrophotometric calibration errors: smooth multiplicative distortions, one per camera.

An SDSS spectrum is the blue camera's (3800-6150 A) and the red camera's (5800-9200 A) spectra
spliced at the dichroic near 6000 A, each flux-calibrated on its own; what is left are smooth
multiplicative errors of a few per cent, different in the two cameras -- ~4% rms against the
photometry in SDSS DR6 (Adelman-McCarthy et al. 2008, ApJS 175, 297, Sec. 3), a few per cent
in BOSS (Dawson et al. 2013, AJ 145, 10). The preprocessing divides out the overall level, so
what matters is the shape. Each spectrum here gets, in each camera, a Legendre series of
degrees 1-3 over that camera's range (x in [-1, 1]),

    d_cam(x) = 1 + a_0 + sum_{k=1..3} a_k P_k(x),   a_k ~ N(0, s),  a_0 ~ N(0, OFFSET_RMS),

with s chosen so that the expected rms of the k >= 1 part over the camera is SHAPE_RMS
(var = s^2 sum_k 1 / (2k + 1) for x uniform); the two are blended with a logistic weight of
width 100 A around 6000 A (the dichroic crossover). Seeded per spectrum through the batch
generator. docs/synthetic.md. Shapes: N spectra, P observed pixels.
"""
import numpy as np
from numpy.polynomial import legendre

__all__ = ["SHAPE_RMS", "OFFSET_RMS", "CAMERAS", "calibration_distortion"]

SHAPE_RMS = 0.02              # rms of the smooth shape error within one camera
OFFSET_RMS = 0.01             # rms of the blue/red level offset
DEGREE = 3
CAMERAS = {"blue": (3800.0, 6150.0), "red": (5800.0, 9200.0)}   # A, observed
SPLIT, SPLIT_WIDTH = 6000.0, 100.0                               # A, dichroic crossover


def _coefficient_sigma():
    """s such that E[rms^2] of sum_{k=1..DEGREE} a_k P_k over x in [-1, 1] is SHAPE_RMS^2."""
    return SHAPE_RMS / np.sqrt(sum(1.0 / (2 * k + 1) for k in range(1, DEGREE + 1)))


def camera_curves(rng, wave, n):
    """Distortion of each camera on its own, over all of ``wave`` (extrapolated flat beyond its range).

    Returns {camera: (N, P)} multiplicative factors.
    """
    s = _coefficient_sigma()
    out = {}
    for cam, (lo, hi) in CAMERAS.items():
        x = np.clip(2 * (wave - lo) / (hi - lo) - 1, -1, 1)                  # (P,)
        coef = rng.normal(0, s, (n, DEGREE + 1))                              # (N, K)
        coef[:, 0] = rng.normal(0, OFFSET_RMS, n)
        out[cam] = 1.0 + legendre.legval(x, coef.T)                           # (N, P)
    return out


def calibration_distortion(rng, wave, n):
    """Smooth multiplicative calibration error per spectrum, (N, P), for observed ``wave`` (P,) A."""
    curves = camera_curves(rng, wave, n)
    w_red = 1.0 / (1.0 + np.exp(-(wave - SPLIT) / SPLIT_WIDTH))              # (P,) 0 blue, 1 red
    return (1 - w_red) * curves["blue"] + w_red * curves["red"]               # (N, P)
