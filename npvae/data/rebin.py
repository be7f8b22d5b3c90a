"""Flux-conserving rebinning of many spectra at once, with inverse variance propagated.

Each observed pixel i is a box in wavelength, [lam_i, lam_{i+1}) (edges halfway between pixel
centres in log-lambda), holding a constant flux density f_i with variance v_i = 1/ivar_i and a
good flag g_i (0 for masked pixels). A new pixel j, [E_j, E_{j+1}), of width D_j overlaps old
pixel i by o_ij. Its value is the mean of the good data it covers, and its variance follows:

    L_j = sum_i g_i o_ij                      (good length covered)
    F_j = sum_i g_i o_ij f_i / L_j
    Var(F_j) = sum_i g_i o_ij^2 v_i / L_j^2   (independent pixels: in quadrature)
    c_j = L_j / D_j                           (good coverage fraction)

With every pixel good and the new grid inside the old range, sum_j F_j D_j = sum_i f_i o_i
(the integral of f dlambda is conserved). The sums are differences of cumulative sums at the
new edges plus the two partial end pixels, gathered for all spectra at once. Docs: docs/data.md.
Shapes: N spectra, P observed pixels (padded), M new pixels.
"""
import numba
import numpy as np

__all__ = ["loglam_edges", "rebin_batch", "rebin_rows", "rebin_shifted", "rebin_reference"]


def loglam_edges(loglam):
    """Pixel edges (P+1,) halfway between centres (P,), the two outer ones half a step out."""
    loglam = np.asarray(loglam, np.float64)
    mid = 0.5 * (loglam[1:] + loglam[:-1])                                  # (P-1,)
    return np.concatenate([[1.5 * loglam[0] - 0.5 * loglam[1]], mid,
                           [1.5 * loglam[-1] - 0.5 * loglam[-2]]])          # (P+1,)


def _locate(old_edges, new_edges):
    """Index k (N, M+1) of the old pixel holding each new edge (rows searched at once)."""
    n, p1 = old_edges.shape
    shift = (np.nanmax(np.abs(old_edges)) + np.abs(new_edges).max() + 1.0) * 2.0
    offsets = shift * np.arange(n)[:, None]                                  # (N, 1)
    flat_old = (old_edges + offsets).ravel()                                 # (N*(P+1),)
    flat_new = (new_edges[None, :] + offsets).ravel()                        # (N*(M+1),)
    idx = np.searchsorted(flat_old, flat_new, side="right").reshape(n, -1)  # (N, M+1)
    idx -= (np.arange(n) * p1)[:, None]
    return np.clip(idx - 1, 0, p1 - 2)                                       # (N, M+1)


def rebin_batch(old_loglam_edges, flux, ivar, good, new_loglam_edges):
    """Rebin N spectra onto one new grid (all in the same frame, log10 Angstrom edges).

    Parameters
    ----------
    old_loglam_edges : ndarray (N, P+1)
        Increasing edges; padded pixels have zero width (repeat the last edge).
    flux, ivar : ndarray (N, P)
    good : ndarray (N, P) bool
        False for masked or padded pixels (their flux and ivar are ignored).
    new_loglam_edges : ndarray (M+1,)

    Returns
    -------
    flux_new, ivar_new, coverage : ndarray (N, M) float64
        Rebinned flux (0 where nothing good is covered), its inverse variance (0 there too)
        and the good coverage fraction c_j in [0, 1].
    """
    lam_old = 10.0 ** np.asarray(old_loglam_edges, np.float64)               # (N, P+1)
    lam_new = 10.0 ** np.asarray(new_loglam_edges, np.float64)               # (M+1,)
    width = np.diff(lam_old, axis=1)                                         # (N, P)
    g = good & (width > 0)
    f = np.where(g, flux, 0.0)                                               # (N, P)
    with np.errstate(divide="ignore"):
        v = np.where(g, 1.0 / np.where(g, ivar, 1.0), 0.0)                   # (N, P)
    gw = g * width                                                           # (N, P)
    zero = np.zeros((len(f), 1))
    cum_len = np.hstack([zero, np.cumsum(gw, axis=1)])                       # (N, P+1)
    cum_flux = np.hstack([zero, np.cumsum(gw * f, axis=1)])                  # (N, P+1)
    cum_var = np.hstack([zero, np.cumsum(gw * gw * v, axis=1)])              # (N, P+1)

    k = _locate(np.asarray(old_loglam_edges, np.float64), np.asarray(new_loglam_edges, np.float64))
    rows = np.arange(len(f))[:, None]
    w_k = width[rows, k]                                                     # (N, M+1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((lam_new[None, :] - lam_old[rows, k]) / w_k, 0.0, 1.0)   # (N, M+1)
    t = np.where(w_k > 0, t, 1.0)
    part_len = t * gw[rows, k]                                               # (N, M+1)
    len_at = cum_len[rows, k] + part_len                                     # (N, M+1)
    flux_at = cum_flux[rows, k] + part_len * f[rows, k]                      # (N, M+1)
    length = np.diff(len_at, axis=1)                                         # (N, M)
    fsum = np.diff(flux_at, axis=1)                                          # (N, M)

    ka, kb = k[:, :-1], k[:, 1:]                                             # (N, M)
    ta, tb = t[:, :-1], t[:, 1:]
    gwv_a = (gw * gw * v)[rows, ka]                                          # (N, M) g w^2 v
    gwv_b = (gw * gw * v)[rows, kb]
    same = ka == kb
    full = np.where(same, 0.0, cum_var[rows, kb] - cum_var[rows, np.minimum(ka + 1, kb)])
    var_sum = np.where(same, (tb - ta) ** 2 * gwv_a,
                       (1 - ta) ** 2 * gwv_a + full + tb ** 2 * gwv_b)      # (N, M)

    ok = length > 0
    safe_len = np.where(ok, length, 1.0)
    flux_new = np.where(ok, fsum / safe_len, 0.0)
    with np.errstate(divide="ignore"):
        ivar_new = np.where(ok & (var_sum > 0), safe_len ** 2 / np.where(var_sum > 0, var_sum, 1.0), 0.0)
    coverage = np.clip(length / np.diff(lam_new)[None, :], 0.0, 1.0)
    return flux_new, ivar_new, coverage


def _rebin_rows(lam_old, flux, ivar, good, n_pix, lam_new, flux_new, ivar_new, coverage):
    """Two-pointer walk over old and new pixels of every row: the sums L_j, F_j, Var(F_j)."""
    m = lam_new.shape[0] - 1
    for r in range(lam_old.shape[0]):
        n = n_pix[r]
        i = 0
        for j in range(m):
            lo, hi = lam_new[j], lam_new[j + 1]
            while i < n and lam_old[r, i + 1] <= lo:
                i += 1
            length, fsum, var_sum = 0.0, 0.0, 0.0
            k = i
            while k < n and lam_old[r, k] < hi:
                overlap = min(hi, lam_old[r, k + 1]) - max(lo, lam_old[r, k])
                if overlap > 0 and good[r, k]:
                    length += overlap
                    fsum += overlap * flux[r, k]
                    var_sum += overlap * overlap / ivar[r, k]
                k += 1
            if length > 0 and var_sum > 0:
                flux_new[r, j] = fsum / length
                ivar_new[r, j] = length * length / var_sum
            else:
                flux_new[r, j] = 0.0
                ivar_new[r, j] = 0.0
            coverage[r, j] = min(length / (hi - lo), 1.0)


_rebin_rows_jit = numba.njit(cache=True, nogil=True)(_rebin_rows)


def rebin_rows(old_loglam_edges, flux, ivar, good, new_loglam_edges, n_pix=None):
    """The fast kernel: same inputs and outputs as :func:`rebin_batch` (Numba, one pass per row).

    ``n_pix`` (N,) gives each row's real pixel count (default: all P); pixels past it are ignored.
    """
    lam_old = 10.0 ** np.asarray(old_loglam_edges, np.float64)                # (N, P+1)
    lam_new = 10.0 ** np.asarray(new_loglam_edges, np.float64)                # (M+1,)
    n, p = np.shape(flux)
    n_pix = np.full(n, p, np.int64) if n_pix is None else np.asarray(n_pix, np.int64)
    m = len(lam_new) - 1
    out = [np.empty((n, m)) for _ in range(3)]
    good = np.asarray(good, bool) & (np.asarray(ivar) > 0)
    flux, ivar = np.ascontiguousarray(flux), np.ascontiguousarray(ivar)     # float32 or float64
    _rebin_rows_jit(lam_old, flux, ivar, good, n_pix, lam_new, *out)
    return tuple(out)


def rebin_shifted(old_loglam_edges, flux, ivar, good, new_loglam_edges, shifts, n_pix=None):
    """ONE spectrum rebinned at many shifts: row t is :func:`rebin_rows` of ``old - shifts[t]``.

    old_loglam_edges (P+1,), flux/ivar/good (P,), shifts (T,) in log10 -> three (T, M) arrays.
    Only the shifted edges (T, P+1) are made; the spectrum's arrays are shared by every row.
    """
    lam = 10.0 ** np.asarray(old_loglam_edges, np.float64)                   # (P+1,)
    lam_old = lam[None, :] / 10.0 ** np.asarray(shifts, np.float64)[:, None]  # (T, P+1)
    lam_new = 10.0 ** np.asarray(new_loglam_edges, np.float64)               # (M+1,)
    t, p = len(lam_old), len(flux)
    good = np.asarray(good, bool) & (np.asarray(ivar) > 0)
    rows = [np.broadcast_to(np.ascontiguousarray(a), (t, p)) for a in (flux, ivar, good)]   # (T, P) views
    n_pix = np.full(t, p if n_pix is None else n_pix, np.int64)
    out = [np.empty((t, len(lam_new) - 1)) for _ in range(3)]
    _rebin_rows_jit(lam_old, *rows, n_pix, lam_new, *out)
    return tuple(out)


def rebin_reference(old_loglam_edges, flux, ivar, good, new_loglam_edges):
    """Plain double loop over new and old pixels of ONE spectrum; the twin of :func:`rebin_batch`.

    old_loglam_edges (P+1,), flux/ivar/good (P,), new_loglam_edges (M+1,) -> three (M,) arrays.
    """
    lam_old = 10.0 ** np.asarray(old_loglam_edges, np.float64)
    lam_new = 10.0 ** np.asarray(new_loglam_edges, np.float64)
    m = len(lam_new) - 1
    flux_new, ivar_new, coverage = np.zeros(m), np.zeros(m), np.zeros(m)
    for j in range(m):
        length = fsum = var_sum = 0.0
        for i in range(len(flux)):
            overlap = min(lam_new[j + 1], lam_old[i + 1]) - max(lam_new[j], lam_old[i])
            if overlap <= 0 or not good[i]:
                continue
            length += overlap
            fsum += overlap * flux[i]
            var_sum += overlap ** 2 / ivar[i]
        if length > 0:
            flux_new[j] = fsum / length
            ivar_new[j] = length ** 2 / var_sum
        coverage[j] = min(length / (lam_new[j + 1] - lam_new[j]), 1.0)
    return flux_new, ivar_new, coverage
