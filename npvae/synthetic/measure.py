"""Pipeline-like emission-line measurements from the noisy observed spectra.

As the SDSS spZline step does, lines are fitted on the spectrum minus a continuum model (here
the noiseless stellar + AGN continuum, which stands for the pipeline's template fit), at the
catalogue redshift, with Gaussian profiles of the line width. Blended lines ([O II] 3726/3729,
[N II] + Halpha, [S II]) are fitted together. The areas are weighted linear least squares:

    A = (P^T W P)^{-1} P^T W r,   Cov(A) = (P^T W P)^{-1}

with P the pixel-integrated unit-area profiles, W = diag(ivar), r the residual.
docs/synthetic.md. Shapes: N spectra, P observed pixels, L lines of a group, K window pixels.
"""
import numpy as np

from ..data.record import LINE_DTYPE
from .nebular import LINES, MEASURED
from .observe import OBS_LOGLAM0
from .spectral import KMS_PER_PIXEL, pixel_gaussian

__all__ = ["GROUPS", "fit_lines", "line_tables"]

_NAMES = list(LINES["name"])
GROUPS = [[_NAMES.index(n) for n in g] for g in (
    ["[O_II] 3725", "[O_II] 3727"], ["[Ne_III] 3868"], ["H_delta"], ["H_gamma"], ["He_II 4685"],
    ["H_beta"], ["[O_III] 4959"], ["[O_III] 5007"], ["He_I 5876"], ["[O_I] 6300"],
    ["[N_II] 6548", "H_alpha", "[N_II] 6583"], ["[S_II] 6716", "[S_II] 6730"])]


def _fit_group(resid, ivar, centre, sigma_pix, halfwidth):
    """Joint least squares of one line group.  resid, ivar (N, P); centre (N, L) pixels;
    sigma_pix (N,) -> area, area_err (N, L) (err -1 where the line has no good pixel)."""
    n, p = resid.shape
    span = int(np.ceil((centre[:, -1] - centre[:, 0]).max()))
    start = np.floor(centre[:, 0]).astype(np.int64) - halfwidth               # (N,)
    pix = start[:, None] + np.arange(span + 2 * halfwidth + 2)                # (N, K)
    inside = (pix >= 0) & (pix < p)
    safe = np.clip(pix, 0, p - 1)
    rows = np.arange(n)[:, None]
    w = np.where(inside, ivar[rows, safe], 0.0)                               # (N, K)
    r = np.where(inside, resid[rows, safe], 0.0)                              # (N, K)
    dlam = 10 ** (OBS_LOGLAM0 + 1e-4 * pix) * (np.log(10) * 1e-4)             # (N, K)
    prof = np.stack([pixel_gaussian(pix, centre[:, l], sigma_pix) / dlam
                     for l in range(centre.shape[1])], axis=1)                # (N, L, K)
    gram = np.einsum("nlk,nk,nmk->nlm", prof, w, prof)                        # (N, L, L)
    rhs = np.einsum("nlk,nk->nl", prof, w * r)                                # (N, L)
    diag = np.einsum("nll->nl", gram)                                         # (N, L)
    ok = diag > 1e-6 * np.maximum(diag.max(axis=1, keepdims=True), 1e-300)
    gram = gram + np.eye(gram.shape[1]) * np.where(ok, 0.0, 1.0)[:, None, :]
    try:
        cov = np.linalg.inv(gram)                                             # (N, L, L)
    except np.linalg.LinAlgError:   # a blend seen on too few good pixels: lines not separable
        cov = np.linalg.pinv(gram, hermitian=True)                            # (N, L, L)
    area = np.einsum("nlm,nm->nl", cov, rhs)
    err = np.sqrt(np.maximum(np.einsum("nll->nl", cov), 0))
    return np.where(ok, area, 0.0), np.where(ok, err, -1.0)


def fit_lines(flux, ivar, continuum, z_cat, sigma_kms):
    """Areas (1e-17 erg/s/cm^2), errors, EWs (rest A) of every measured line.

    flux, ivar, continuum (N, P); z_cat (N,); sigma_kms (N,) total narrow-line width.
    Returns area, err, ew (N, L_all) with zeros / -1 for lines not measured.
    """
    n, p = flux.shape
    resid = flux.astype(np.float64) - continuum                               # (N, P)
    sigma_pix = np.maximum(sigma_kms / KMS_PER_PIXEL, 0.3)                    # (N,)
    halfwidth = int(np.ceil(4 * sigma_pix.max())) + 2
    area = np.zeros((n, len(LINES)))
    err = np.full((n, len(LINES)), -1.0)
    ew = np.zeros((n, len(LINES)))
    shift = np.log10(1 + z_cat)
    for group in GROUPS:
        centre = (np.log10(LINES["wave"][group])[None, :] + shift[:, None] - OBS_LOGLAM0) / 1e-4
        a, e = _fit_group(resid, ivar, centre, sigma_pix, halfwidth)          # (N, L)
        c_pix = np.clip(np.rint(centre).astype(int), 0, p - 1)                # (N, L)
        cont = continuum[np.arange(n)[:, None], c_pix]                        # (N, L)
        in_range = (centre > 2) & (centre < p - 3)
        area[:, group] = np.where(in_range, a, 0.0)
        err[:, group] = np.where(in_range, e, -1.0)
        ew[:, group] = np.where(in_range & (cont > 0), a / np.maximum(cont, 1e-30), 0.0) / (1 + z_cat[:, None])
    return area, err, ew


def line_tables(area, err, ew, sigma_kms):
    """One LINE_DTYPE table per spectrum, for the measured lines.  (N, L_all) -> list of (Lm,)."""
    tables = []
    for i in range(area.shape[0]):
        t = np.zeros(MEASURED.size, LINE_DTYPE)
        t["name"], t["wave"] = LINES["name"][MEASURED], LINES["wave"][MEASURED]
        t["area"], t["area_err"] = area[i, MEASURED], err[i, MEASURED]
        t["ew"], t["sigma"] = ew[i, MEASURED], sigma_kms[i]
        tables.append(t)
    return tables
