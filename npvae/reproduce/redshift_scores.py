"""Scores of a redshift scan against the true redshifts of synthetic observed-frame spectra.

A scan (:func:`npvae.apply.redshift_spectra`) returns one row per spectrum it could prepare,
keyed by PLATE, MJD, FIBERID; the synthetic survey (:func:`npvae.synthetic.generate`) keeps the
truth of each record in ``meta["columns"]`` (TRUE_Z, TRUE_CLASS, TRUE_SN). The usual scores of a
redshift survey, on the normalised error dz / (1 + z) = (Z - z_true) / (1 + z_true):

- NMAD = 1.4826 median |x - median x|, the robust scatter (the standard deviation for a Gaussian);
- the catastrophic fraction, the share of spectra with |dz| / (1 + z) > :data:`CATASTROPHIC`.

Both are given for all spectra, per true class, and per bin of the true median S/N.
Shapes: N spectra.
"""
import numpy as np

from ..utils import NpvaeError

__all__ = ["CATASTROPHIC", "SN_BINS", "nmad", "catastrophic_fraction", "redshift_errors", "score_subsets"]

CATASTROPHIC = 0.01                              # |dz| / (1 + z) above this is a catastrophic failure
SN_BINS = ((0, 5), (5, 10), (10, 20), (20, np.inf))   # bins of the true median S/N, [lo, hi)


def nmad(x):
    """Normalised median absolute deviation, 1.4826 median |x - median x|; NaN when x is empty."""
    x = np.asarray(x, np.float64)                                       # (N,)
    return 1.4826 * float(np.median(np.abs(x - np.median(x)))) if x.size else float("nan")


def catastrophic_fraction(dz, limit=CATASTROPHIC):
    """Share of |dz| > limit (dz already divided by 1 + z); NaN when dz is empty."""
    dz = np.asarray(dz, np.float64)                                     # (N,)
    return float(np.mean(np.abs(dz) > limit)) if dz.size else float("nan")


def redshift_errors(table, records):
    """dz / (1 + z), true class and true S/N of each row of a scan table.

    Parameters
    ----------
    table : the scan's astropy Table (PLATE, MJD, FIBERID, Z)
    records : the synthetic Spectrum records that were scanned (truth in ``meta["columns"]``)

    Returns
    -------
    dz (N,), true class (N,) str, true S/N (N,): the scan's rows (skipped spectra are absent).
    """
    index = {(r.plate, r.mjd, r.fiber): i for i, r in enumerate(records)}
    keys = list(zip(table["PLATE"], table["MJD"], table["FIBERID"]))
    missing = [k for k in keys if k not in index]
    if missing:
        raise NpvaeError(f"redshift table row {'-'.join(map(str, missing[0]))} is not among the records")
    rows = np.array([index[k] for k in keys], dtype=int)               # (N,)
    truth = {name: np.array([records[i].meta["columns"][name] for i in rows])
             for name in ("TRUE_Z", "TRUE_CLASS", "TRUE_SN")}
    z_true = truth["TRUE_Z"].astype(np.float64)                         # (N,)
    dz = (np.asarray(table["Z"], np.float64) - z_true) / (1 + z_true)  # (N,)
    return dz, truth["TRUE_CLASS"].astype(str), truth["TRUE_SN"].astype(np.float64)


def score_subsets(dz, cls, sn, sn_bins=SN_BINS):
    """[{"subset", "n", "nmad", "catastrophic"}]: all, each class, each S/N bin [lo, hi)."""
    subsets = [("all", np.ones(len(dz), bool))]
    subsets += [(f"class {c}", cls == c) for c in np.unique(cls)]
    subsets += [(f"S/N {lo:g}-{hi:g}", (sn >= lo) & (sn < hi)) for lo, hi in sn_bins]
    return [{"subset": name, "n": int(keep.sum()), "nmad": nmad(dz[keep]),
             "catastrophic": catastrophic_fraction(dz[keep])} for name, keep in subsets]
