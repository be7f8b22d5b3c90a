"""Redshifts with a trained model: the trial redshift whose rest-frame spectrum it reconstructs best.

Portillo et al. (2020, Sec. 4): "many trial redshifts could be tested to see which one produces
a de-redshifted spectrum that is best reconstructed by the VAE". For each observed spectrum:

1. the observed-frame steps once (checks, bad pixels: :func:`npvae.data.preprocess.observed_stage`);
2. coarse scan over s = log10(1 + z) in steps of the rest grid's pixel, ``REST_DLOGLAM``. One
   step moves the rest grid by exactly one pixel, so ONE rebinning onto the rest grid extended by
   T - 1 pixels holds every trial's rebinned spectrum as a window of it; each window is then
   normalised and weighted as the model's recipe does (:func:`npvae.apply.ztrials.prepare_windows`,
   one pass per window, the twin of :func:`npvae.data.preprocess.normalise_rest`), infilled from
   the recipe's basis (:class:`npvae.apply.ztrials.BasisFill`) and scored by the model, all T rows
   as one batch;
3. fine scan: around each of the ``N_REFINE`` best distinct coarse minima, ``FINE`` trials per
   coarse step over +-1 step (:func:`npvae.data.rebin.rebin_shifted`);
4. Z is the vertex of a parabola fitted to the 5 fine points around the lowest; Z_ERR is where
   it has risen by delta chi^2 = 1; DCHI2 is the chi^2 of the best other distinct minimum minus
   the best; ZWARN flags (:data:`ZWARN_BITS`); the model's parameters (latents) at Z.

The chi^2 on a common footing. A trial z covers a different number of rest pixels n(z), so
the plain chi^2 favours the z that covers least. The scan compares the reduced chi^2,
RCHI2(z) = chi^2(z) / (n(z) - Z), the mean squared normalised residual, and puts it on a chi^2
scale with ONE pixel count, that of the best z: CHI2(z) = RCHI2(z) (n(Z) - Z). At Z it is the
fit's own chi^2, and DCHI2 and the curvature (hence Z_ERR) are measured in those units.
The scorers (VAE and PCA templates) are in :mod:`npvae.apply.zmodels`. Docs: docs/redshift.md.
Shapes: N spectra, T trial redshifts, M rest pixels, P observed pixels, Z model parameters.
"""
import dataclasses

import numpy as np

from ..data.preprocess import REST_EDGES, check_record, observed_stage, window_reach
from ..data.rebin import rebin_rows, rebin_shifted
from ..paper import N_PIXELS, REST_DLOGLAM
from .ztrials import prepare_windows

__all__ = ["ZWARN_BITS", "Z_RANGE", "FINE", "N_REFINE", "DISTINCT", "DCHI2_MIN", "BAD_RCHI2",
           "trial_grid", "observe", "rows_at", "coarse_curve", "scan"]

Z_RANGE = (0.0, 0.5)       # default trial range; each spectrum is cut to where its recipe applies
FINE = 4                   # fine trials per coarse step
N_REFINE = 3               # distinct coarse minima refined
DISTINCT = 4               # coarse steps (~1,000 km/s) between distinct minima
DCHI2_MIN = 9.0            # below this the second minimum is close to the best (3 sigma)
BAD_RCHI2 = 4.0            # reduced chi^2 at Z above which the fit is called bad
ZWARN_BITS = {             # bit -> meaning; ZWARN = sum of 2**bit
    "SMALL_DELTA_CHI2": 0,   # DCHI2 < DCHI2_MIN: another redshift fits almost as well
    "AT_EDGE": 1,            # the best minimum is the first or last usable trial redshift
    "LITTLE_COVERAGE": 2,    # fewer than half of the trial redshifts could be prepared
    "BAD_FIT": 3,            # RCHI2 at Z > BAD_RCHI2
    "NO_CURVATURE": 4,       # the chi^2 around the minimum is not convex: no Z_ERR
}


def trial_grid(z_range=Z_RANGE):
    """Coarse trial grid: s = log10(1 + z) (T,) in steps of REST_DLOGLAM from z_range[0], and z (T,)."""
    lo, hi = np.log10(1.0 + np.asarray(z_range, np.float64))
    s = lo + REST_DLOGLAM * np.arange(int(np.floor((hi - lo) / REST_DLOGLAM + 1e-9)) + 1)   # (T,)
    return s, 10 ** s - 1.0


@dataclasses.dataclass
class Observed:
    """One spectrum's observed-frame arrays, ready for any trial redshift."""

    record: object            # the Spectrum
    edges: np.ndarray         # (P+1,) log10 observed pixel edges
    flux: np.ndarray          # (P,)
    ivar: np.ndarray          # (P,)
    good: np.ndarray          # (P,) bool, the recipe's good observed pixels
    s_reach: tuple            # (lo, hi) log10(1 + z) where the observed range covers the window


def observe(records, recipe):
    """Records -> ([Observed], skipped [(source, reason)]): the recipe's checks and bad pixels."""
    ok, skipped = [], []
    for r in records:
        loglam = np.asarray(r.loglam, np.float64)
        reach = window_reach(loglam) if loglam.size >= 2 else (0.0, -1.0)        # (z_lo, z_hi)
        probe = dataclasses.replace(r, z=0.5 * (reach[0] + reach[1]) if reach[0] <= reach[1] else 0.0)
        reason = check_record(probe)
        if reason:
            skipped.append((r.source or r.name, reason))
        else:
            ok.append((r, np.log10(1.0 + np.asarray(reach))))
    if not ok:
        return [], skipped
    at_rest = [dataclasses.replace(r, z=0.0) for r, _ in ok]                          # observed frame
    flux, ivar, good, edges, n_pix = observed_stage(at_rest, recipe.dilate)
    spectra = [Observed(record=r, edges=edges[i, :n + 1], flux=flux[i, :n], ivar=ivar[i, :n],
                        good=good[i, :n], s_reach=tuple(reach))
               for i, ((r, reach), n) in enumerate(zip(ok, n_pix))]
    return spectra, skipped


def _rest_rows(obs, rebinned, row, offset, s, recipe):
    """Trials s (T,), windows of the rebinned rows (:func:`prepare_windows`) -> model rows, usable (T,)."""
    flux, weight, bad, problem = prepare_windows(rebinned, row, offset, recipe)      # (T, M) x3, (T,)
    usable = (problem == 0) & (s >= obs.s_reach[0]) & (s <= obs.s_reach[1])          # (T,)
    return dict(flux=flux, weight=weight, bad=bad, usable=usable, rebinned=rebinned, row=row, offset=offset)


def rows_at(obs, s, recipe):
    """The model rows of one spectrum at any trials s (R,) (each rebinned on its own)."""
    s = np.atleast_1d(np.asarray(s, np.float64))
    rebinned = rebin_shifted(obs.edges, obs.flux, obs.ivar, obs.good, REST_EDGES, s)   # (R, M) x3
    return _rest_rows(obs, rebinned, np.arange(len(s)), np.zeros(len(s), int), s, recipe)


def coarse_rows(obs, s_grid, recipe):
    """The model rows at every coarse trial s_grid (T,), REST_DLOGLAM apart: one rebinning, T windows."""
    edges = REST_EDGES[0] + s_grid[0] + REST_DLOGLAM * np.arange(N_PIXELS + len(s_grid))   # (M+T,)
    rebinned = rebin_rows(obs.edges[None], obs.flux[None], obs.ivar[None], obs.good[None], edges)  # (1, M+T-1) x3
    return _rest_rows(obs, rebinned, np.zeros(len(s_grid), int), np.arange(len(s_grid)), s_grid, recipe)


def _sn_median(rows, t=0):
    """Median S/N of the good pixels of trial row t, |flux| sqrt(ivar) (the normalisation cancels)."""
    rflux, rivar, _ = (a[rows["row"][t], rows["offset"][t]:rows["offset"][t] + N_PIXELS] for a in rows["rebinned"])
    good = ~rows["bad"][t]                                                           # (M,)
    return float(np.median(np.abs(rflux[good]) * np.sqrt(rivar[good])))


def _score(scorer, rows):
    """rchi2 (R,) (NaN where unusable), params (R, Z), good pixels (R,) of the usable rows."""
    use = np.flatnonzero(rows["usable"])
    rchi2 = np.full(len(rows["usable"]), np.nan)
    params = np.full((len(rchi2), scorer.n_params), np.nan, np.float32)
    pick = slice(None) if use.size == len(rchi2) else use                          # no copies when all are
    if use.size:
        rchi2[use], params[use] = scorer(rows["flux"][pick], rows["weight"][pick], rows["bad"][pick])
    return rchi2, params, np.count_nonzero(~rows["bad"], axis=1)


def coarse_curve(scorer, obs, s_grid, recipe):
    """RCHI2 (T,) of one spectrum over the coarse grid, NaN where the recipe does not apply."""
    inside = np.flatnonzero((s_grid >= obs.s_reach[0]) & (s_grid <= obs.s_reach[1]))
    curve = np.full(len(s_grid), np.nan)
    if inside.size:
        sub = s_grid[inside[0]:inside[-1] + 1]
        curve[inside[0]:inside[-1] + 1] = _score(scorer, coarse_rows(obs, sub, recipe))[0]
    return curve


def distinct_minima(curve, n=N_REFINE, distinct=DISTINCT):
    """Indices of up to n local minima of curve (T,), lowest first, each > distinct steps from the others."""
    c = np.where(np.isfinite(curve), curve, np.inf)                                 # (T,)
    padded = np.concatenate([[np.inf], c, [np.inf]])
    local = np.flatnonzero((c <= padded[:-2]) & (c <= padded[2:]) & np.isfinite(c))
    chosen = []
    for t in local[np.argsort(c[local], kind="stable")]:
        if all(abs(t - u) > distinct for u in chosen):
            chosen.append(int(t))
        if len(chosen) == n:
            break
    return chosen


def _parabola(u, y):
    """Vertex (u0, y0) and curvature a of y = a u^2 + b u + c through the 5 points around min(y); a NaN if not convex."""
    ok = np.flatnonzero(np.isfinite(y))
    k = ok[np.argmin(y[ok])]
    near = ok[np.abs(ok - k) <= 2]
    if near.size < 3:
        return u[k], y[k], np.nan
    a, b, c = np.polyfit(u[near], y[near], 2)
    u0 = -b / (2 * a) if a > 0 else np.inf
    if not u[near].min() <= u0 <= u[near].max():
        return u[k], y[k], np.nan
    return u0, c - b * b / (4 * a), a


def scan(scorer, obs, s_grid, recipe):
    """Redshift of one spectrum: dict of Z, Z_ERR, DCHI2, ZWARN, RCHI2, NPIX, PARAMS, CURVE, ...

    None when no trial redshift of s_grid (T,) can be prepared by the recipe.
    """
    curve = coarse_curve(scorer, obs, s_grid, recipe)                                # (T,)
    usable = np.flatnonzero(np.isfinite(curve))
    if usable.size == 0:
        return None
    minima = distinct_minima(curve)
    u = np.arange(-FINE, FINE + 1) / FINE                                            # (F,) coarse steps
    s_fine = (s_grid[minima][:, None] + REST_DLOGLAM * u[None, :]).ravel()            # (C*F,)
    fine = _score(scorer, rows_at(obs, s_fine, recipe))[0].reshape(len(minima), -1)  # (C, F)
    fits = [_parabola(u, row) if np.isfinite(row).any() else (0.0, curve[t], np.nan)
            for row, t in zip(fine, minima)]
    values = np.array([f[1] for f in fits])                                          # (C,) RCHI2 minima
    best = int(np.argmin(values))
    s_best = s_grid[minima[best]] + REST_DLOGLAM * fits[best][0]
    rows = rows_at(obs, [s_best], recipe)
    if not rows["usable"][0]:                                                        # vertex unusable
        s_best = s_grid[minima[best]]
        rows = rows_at(obs, [s_best], recipe)
    rchi2, params, npix = _score(scorer, rows)
    dof = npix[0] - scorer.n_params
    z = 10 ** s_best - 1.0
    curvature = fits[best][2] * dof / REST_DLOGLAM ** 2                              # d2 CHI2 / ds2 / 2
    z_err = np.log(10.0) * (1.0 + z) / np.sqrt(curvature) if curvature > 0 else np.nan
    others = np.delete(values, best)
    dchi2 = (others.min() - values[best]) * dof if others.size else np.inf
    warn = {"SMALL_DELTA_CHI2": dchi2 < DCHI2_MIN,
            "AT_EDGE": minima[best] in (usable[0], usable[-1]),
            "LITTLE_COVERAGE": usable.size < 0.5 * len(s_grid),
            "BAD_FIT": not rchi2[0] <= BAD_RCHI2,
            "NO_CURVATURE": not np.isfinite(z_err)}
    sn = _sn_median(rows)
    return dict(Z=z, Z_ERR=z_err, DCHI2=dchi2, ZWARN=sum(1 << ZWARN_BITS[k] for k, v in warn.items() if v),
                RCHI2=rchi2[0], NPIX=npix[0], N_TRIALS=usable.size, SN_MEDIAN=sn, PARAMS=params[0],
                CURVE=curve)
