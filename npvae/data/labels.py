"""Class labels from the pipeline class and the SPZLINE emission-line areas.

- CLASS "QSO" -> ``blagn`` (broad-line AGN);
- CLASS "GALAXY": if H-alpha or H-beta has area / area_err < 3 (or is not measured) ->
  ``quiescent``; otherwise the Kewley et al. (2001) [N II]/H-alpha diagnostic,

      log([O III] 5007 / H-beta) = 0.61 / (log([N II] 6583 / H-alpha) - 0.47) + 1.19,

  puts a galaxy above the curve (or right of its asymptote, log [N II]/H-alpha >= 0.47) in
  ``nlagn`` (narrow-line AGN) and below it in ``emission``;
- anything else (STAR, UNKNOWN, ...) -> ``other``.

A non-positive [N II] or [O III] area counts as a ratio of 0 (log = -inf: left of or below the
curve). The ratios are returned for the catalogue (NaN where undefined). Docs: docs/data.md.
"""
import numpy as np

from ..paper import CLASSES

__all__ = ["LABELS", "LINE_NAMES", "kewley2001_nii", "line_columns", "classify"]

LABELS = CLASSES + ("other",)
LINE_NAMES = {"HA": "H_alpha", "HB": "H_beta", "NII": "[N_II] 6583", "OIII": "[O_III] 5007"}
MIN_BALMER_SN = 3.0


def kewley2001_nii(log_nii_ha):
    """Kewley et al. 2001 maximum-starburst line: log([O III]/Hb) = 0.61/(x - 0.47) + 1.19."""
    return 0.61 / (np.asarray(log_nii_ha, np.float64) - 0.47) + 1.19


def line_columns(lines):
    """Area and error of the four diagnostic lines: dict like {"HA_AREA": a, "HA_AREA_ERR": e}.

    A missing line gives area 0 and error -1 (not measured).
    """
    out = {}
    names = np.char.strip(np.asarray(lines["name"], dtype=str)) if len(lines) else np.array([], str)
    for key, name in LINE_NAMES.items():
        hit = np.flatnonzero(names == name)
        area, err = ((float(lines["area"][hit[0]]), float(lines["area_err"][hit[0]])) if hit.size
                     else (0.0, -1.0))
        out[f"{key}_AREA"], out[f"{key}_AREA_ERR"] = area, err
    return out


def classify(cls, ha, ha_err, hb, hb_err, nii, oiii):
    """Label arrays from the pipeline class and line areas (all arrays (N,)).

    Returns
    -------
    label : ndarray (N,) str, one of :data:`LABELS`
    log_nii_ha, log_oiii_hb : ndarray (N,) float64, NaN where H-alpha/H-beta is not positive
    """
    cls = np.char.upper(np.char.strip(np.asarray(cls, dtype=str)))
    ha, ha_err, hb, hb_err, nii, oiii = (np.asarray(a, np.float64) for a in
                                         (ha, ha_err, hb, hb_err, nii, oiii))
    with np.errstate(divide="ignore", invalid="ignore"):
        ha_sn = np.where(ha_err > 0, ha / ha_err, 0.0)
        hb_sn = np.where(hb_err > 0, hb / hb_err, 0.0)
        x = np.where(ha > 0, np.log10(np.maximum(nii, 0) / ha), np.nan)     # -inf if nii <= 0
        y = np.where(hb > 0, np.log10(np.maximum(oiii, 0) / hb), np.nan)
        above = (x >= 0.47) | (y >= kewley2001_nii(np.where(x < 0.47, x, 0.0)))
    balmer = (ha_sn >= MIN_BALMER_SN) & (hb_sn >= MIN_BALMER_SN)
    label = np.full(cls.shape, "other", dtype="<U9")
    galaxy = cls == "GALAXY"
    label[galaxy] = "quiescent"
    label[galaxy & balmer & ~above] = "emission"
    label[galaxy & balmer & above] = "nlagn"
    label[cls == "QSO"] = "blagn"
    return label, np.where(np.isfinite(x), x, np.nan), np.where(np.isfinite(y), y, np.nan)
