"""From observed spectra to the paper's rest-frame training arrays.

Steps (each documented in docs/data.md):

1. checks: finite z with 1 + z > 0, matching array lengths, increasing loglam, finite flux and
   ivar, ivar >= 0; the observed range shifted to the rest frame must cover the
   normalisation window (else "z out of the grid's reach");
2. bad observed pixels (:mod:`npvae.data.masks`: ivar = 0, AND_MASK bits, noise spikes,
   dilation);
3. rest frame (loglam - log10(1 + z)) and flux-conserving rebinning onto
   ``REST_LOGLAM = 3.53 + 3.9e-4 i`` with inverse variance propagated
   (:mod:`npvae.data.rebin`); a rest pixel less than half covered by good data is bad;
4. spectra with fewer than ``min_coverage`` (60%) good rest pixels are skipped;
5. normalisation: divide by the mean flux over the good rest pixels in
   ``NORM_WINDOW = (4200, 6400)`` Angstrom (every 0 < z <= 0.36 legacy spectrum covers it);
   at least half of the window must be good and the mean positive;
6. weights w = 1 / (1/ivar + (1/sn_cap)^2) in normalised units, 0 on bad pixels;
7. labels (:mod:`npvae.data.labels`), infill of bad pixels (:mod:`npvae.data.infill`) and a
   seeded 75/25 train/valid split. The infill is the iterative PCA of the whole set, or, given a
   trained model's ``basis`` (mean, eigenvectors), that basis fitted to each spectrum alone. A set
   of no more spectra than eigenvectors cannot carry its own PCA: without a basis its masked
   pixels stay 0 and ``PreprocessResult.infill`` says "none".

Shapes: N spectra, P observed pixels (padded per chunk), M = 1000 rest pixels.
"""
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS, SN_CAP, rest_loglam
from ..utils import as_generator, default_threads, progress
from .infill import basis_infill, iterative_pca_infill
from .labels import classify, line_columns
from .masks import observed_bad_mask
from .rebin import rebin_rows

__all__ = ["REST_LOGLAM", "REST_WAVE", "REST_EDGES", "NORM_WINDOW", "PreprocessResult", "preprocess",
           "prepare_chunk", "normalise_rest", "window_reach", "finish", "check_record", "rows_to_table",
           "summarise", "observed_stage"]

REST_LOGLAM = rest_loglam()                                 # (M,) log10 Angstrom
REST_WAVE = 10.0 ** REST_LOGLAM                               # (M,) Angstrom
REST_EDGES = 3.53 + 3.9e-4 * (np.arange(1001) - 0.5)          # (M+1,)
NORM_WINDOW = (4200.0, 6400.0)                                # Angstrom, rest frame
_IN_WINDOW = (REST_WAVE >= NORM_WINDOW[0]) & (REST_WAVE <= NORM_WINDOW[1])
MIN_PIXEL_COVERAGE = 0.5      # a rest pixel needs >= half of its width covered by good data
MIN_COVERAGE = 0.6            # a spectrum needs >= 60% good rest pixels
TRAIN_FRACTION = 0.75


@dataclass
class PreprocessResult:
    """Arrays and catalogue of the kept spectra, and the skipped ones with reasons."""

    flux: np.ndarray                  # (N, M) float32, normalised, infilled
    weight: np.ndarray                # (N, M) float32, 0 on bad pixels
    mask: np.ndarray                  # (N, M) uint8, 1 = bad / infilled
    catalog: Table
    skipped: list = field(default_factory=list)     # [(source, reason)]
    infill: str = "none"      # "pca" (the set's own), "basis" (a model's), "none" (masked pixels 0)

    def summary(self):
        """One line per outcome: kept count and skipped counts by reason kind."""
        return summarise(len(self.flux), self.skipped)


def summarise(n_kept, skipped, verb="kept"):
    """``kept N spectra, skipped S`` and one line per kind of reason (the text before ':')."""
    kinds = {}
    for _, reason in skipped:
        kind = reason.split(":")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    lines = [f"{verb} {n_kept} spectra, skipped {len(skipped)}"]
    lines += [f"  skipped {n}: {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def check_record(rec):
    """Reason string why a record cannot be used, or None (cheap checks before rebinning)."""
    z = rec.z
    if not np.isfinite(z) or z <= -0.5:
        return f"bad redshift: z = {z}"
    n = len(rec.flux)
    if n < 3 or len(rec.loglam) != n or len(rec.ivar) != n or len(rec.and_mask) != n:
        return (f"bad arrays: lengths loglam {len(rec.loglam)}, flux {n}, ivar {len(rec.ivar)}, "
                f"and_mask {len(rec.and_mask)}")
    bad_flux = int(np.count_nonzero(~np.isfinite(rec.flux)))
    if bad_flux:
        return f"non-finite flux: {bad_flux} pixels are NaN or inf"
    if not np.all(np.isfinite(rec.ivar)):
        return "non-finite ivar: NaN or inf inverse variance"
    neg = int(np.count_nonzero(np.asarray(rec.ivar) < 0))
    if neg:
        return f"negative ivar: {neg} pixels"
    loglam = np.asarray(rec.loglam, np.float64)
    if not np.all(np.diff(loglam) > 0):
        return "bad wavelengths: loglam is not increasing"
    z_lo, z_hi = window_reach(loglam)
    if not z_lo <= z <= z_hi:
        shift = np.log10(1.0 + z)
        lo, hi = 10 ** (loglam[0] - shift), 10 ** (loglam[-1] - shift)
        return (f"z out of the grid's reach: z = {z:.4f} puts the observed range at "
                f"{lo:.0f}-{hi:.0f} A rest, which misses the normalisation window "
                f"{NORM_WINDOW[0]:.0f}-{NORM_WINDOW[1]:.0f} A")
    return None


def window_reach(loglam):
    """(z_lo, z_hi): the redshifts at which observed pixel centres ``loglam`` (P,) cover NORM_WINDOW."""
    return 10 ** loglam[0] / NORM_WINDOW[0] - 1.0, 10 ** loglam[-1] / NORM_WINDOW[1] - 1.0


def _pad(records):
    """Padded observed-frame arrays of a chunk of valid records."""
    n_pix = np.array([len(r.flux) for r in records])                         # (N,)
    p, n = n_pix.max(), len(records)
    flux, ivar = np.zeros((n, p), np.float32), np.zeros((n, p), np.float32)  # (N, P)
    and_mask = np.zeros((n, p), np.int32)
    loglam = np.zeros((n, p + 1))                                            # (N, P+1) rest, padded
    for i, r in enumerate(records):
        k = n_pix[i]
        flux[i, :k], ivar[i, :k], and_mask[i, :k] = r.flux, r.ivar, r.and_mask
        loglam[i, 1:k + 1] = r.loglam
        loglam[i, 1:k + 1] -= np.log10(1.0 + r.z)
        loglam[i, 0], loglam[i, k + 1:] = 2 * loglam[i, 1] - loglam[i, 2], 2 * loglam[i, k] - loglam[i, k - 1]
    edges = 0.5 * (loglam[:, 1:] + loglam[:, :-1])                          # (N, P) inner + first
    edges = np.concatenate([edges, edges[:, -1:]], axis=1)                   # (N, P+1)
    edges[:, 0] = 1.5 * loglam[:, 1] - 0.5 * loglam[:, 2]
    rows = np.arange(n)
    edges[rows, n_pix] = 1.5 * loglam[rows, n_pix] - 0.5 * loglam[rows, n_pix - 1]
    valid = np.arange(p)[None, :] < n_pix[:, None]                          # (N, P)
    return flux, ivar, and_mask, valid, edges, n_pix


def prepare_chunk(records, *, sn_cap=SN_CAP, min_coverage=MIN_COVERAGE, dilate=2):
    """Steps 1-6 and the line columns for one chunk of records (no infill, no split).

    Returns (flux (N, M) float32, weight (N, M) float32, mask (N, M) bool, rows, skipped),
    ``rows`` a list of catalogue dicts of the kept records.
    """
    skipped, ok = [], []
    for r in records:
        reason = check_record(r)
        (skipped.append((r.source or r.name, reason)) if reason else ok.append(r))
    m = REST_WAVE.size
    if not ok:
        return (np.zeros((0, m), np.float32), np.zeros((0, m), np.float32),
                np.zeros((0, m), bool), [], skipped)
    flux, ivar, good, edges, n_pix = observed_stage(ok, dilate)
    rflux, rivar, cover = rebin_rows(edges, flux, ivar, good, REST_EDGES, n_pix)  # (N, M) x3
    flux_n, ivar_n, weight, bad, problem, good_frac = normalise_rest(rflux, rivar, cover, sn_cap, min_coverage)
    for i, r in enumerate(ok):
        if problem[i]:
            skipped.append((r.source or r.name, _REST_PROBLEMS[problem[i]].format(
                good=good_frac[i], needs=min_coverage)))
    keep = problem == 0                                                      # (N,)
    kept = [r for r, k in zip(ok, keep) if k]
    flux_n, ivar_n, weight, bad = flux_n[keep], ivar_n[keep], weight[keep], bad[keep]
    sn = np.abs(flux_n) * np.sqrt(ivar_n)                                    # (N, M)
    sn_median = np.array([np.median(s[~b]) for s, b in zip(sn, bad)])
    rows = [_row(r, sn_median[i], good_frac[keep][i]) for i, r in enumerate(kept)]
    return flux_n.astype(np.float32), weight.astype(np.float32), bad, rows, skipped


def observed_stage(records, dilate=2):
    """Step 2 for valid records: padded observed arrays and their good pixels.

    Returns (flux, ivar (N, P) float32, good (N, P) bool, edges (N, P+1) log10 pixel edges
    shifted to each record's rest frame, n_pix (N,) real pixel counts).
    """
    flux, ivar, and_mask, valid, edges, n_pix = _pad(records)
    bad_obs = observed_bad_mask(flux, ivar, and_mask, valid, dilate=dilate)   # (N, P)
    return flux, ivar, ~bad_obs, edges, n_pix


_REST_PROBLEMS = {   # normalise_rest's problem codes -> skip reasons
    1: "too little good coverage: {good:.0%} of the rest grid is good (needs {needs:.0%})",
    2: "normalisation window mostly bad: fewer than half its pixels are good",
    3: "non-positive mean flux in the normalisation window"}


def normalise_rest(rflux, rivar, cover, sn_cap=SN_CAP, min_coverage=MIN_COVERAGE):
    """Steps 3 (bad rest pixels), 4, 5 and 6 for rows already rebinned onto the rest grid.

    rflux, rivar, cover (R, M) as :func:`npvae.data.rebin.rebin_rows` returns them. Returns
    (flux (R, M) normalised, ivar (R, M) normalised, weight (R, M), all float64,
    bad (R, M) bool, problem (R,) int, good_frac (R,)): ``problem`` is 0 for a usable row, else
    1 too little coverage, 2 normalisation window mostly bad, 3 non-positive window mean (the
    row's flux and weight are then meaningless).
    """
    bad = (cover < MIN_PIXEL_COVERAGE) | (rivar <= 0)                        # (R, M)
    good_frac = 1.0 - bad.mean(axis=1)                                       # (R,)
    win_good = (~bad[:, _IN_WINDOW]).sum(axis=1)                             # (R,)
    norm = (np.where(bad, 0, rflux)[:, _IN_WINDOW].sum(axis=1) / np.maximum(win_good, 1))
    problem = np.select([good_frac < min_coverage, win_good < 0.5 * _IN_WINDOW.sum(), ~(norm > 0)],
                        [1, 2, 3], 0)                                        # (R,)
    scale = np.where(problem == 0, norm, 1.0)[:, None]                       # (R, 1)
    flux_n = np.where(bad, 0.0, rflux / scale)                               # (R, M)
    ivar_n = np.where(bad, 0.0, rivar * scale ** 2)                          # (R, M)
    with np.errstate(divide="ignore"):
        cap = 0.0 if not sn_cap or not np.isfinite(sn_cap) else (1.0 / sn_cap) ** 2
        weight = np.where(ivar_n > 0, 1.0 / (1.0 / np.where(ivar_n > 0, ivar_n, 1.0) + cap), 0.0)
    return flux_n, ivar_n, weight, bad, problem, good_frac


def _row(rec, sn_median, good_frac):
    row = {"PLATE": int(rec.plate), "MJD": int(rec.mjd), "FIBERID": int(rec.fiber),
           "Z": float(rec.z), "CLASS": str(rec.cls).strip().upper(),
           "SN_MEDIAN": float(sn_median), "GOOD_FRAC": float(good_frac)}
    row.update(line_columns(rec.lines))
    row.update(rec.meta.get("columns", {}))
    return row


def rows_to_table(rows):
    """Catalogue Table from row dicts; a key missing from some rows gets NaN, -1 or ""."""
    if not rows:
        return Table(names=["PLATE", "MJD", "FIBERID", "Z", "CLASS", "SN_MEDIAN"],
                     dtype=[np.int64, np.int64, np.int64, np.float64, "U6", np.float64])
    keys = list(dict.fromkeys(k for row in rows for k in row))
    table = Table()
    for key in keys:
        sample = next(row[key] for row in rows if key in row)
        if isinstance(sample, (str, np.str_)):
            fill = ""
        elif isinstance(sample, (bool, np.bool_)):
            fill = False
        elif isinstance(sample, (int, np.integer)):
            fill = -1
        else:
            fill = np.nan
        table[key] = [row.get(key, fill) for row in rows]
    return table


def finish(flux, weight, mask, rows, skipped, *, infill=True, rng=None, verbose=True,
           n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS, basis=None):
    """Labels, infill and the seeded train/valid split of concatenated chunks.

    ``basis`` = (mean (M,), eigenvectors (M, K)) of a trained model fills each spectrum alone;
    without it the set's own iterative PCA does, which needs more than ``n_ev`` spectra (else
    masked pixels stay 0 and the result's ``infill`` is "none").
    """
    rng = as_generator(0 if rng is None else rng)
    catalog = rows_to_table(rows)
    n = len(flux)
    if n:
        label, x, y = classify(catalog["CLASS"], catalog["HA_AREA"], catalog["HA_AREA_ERR"],
                               catalog["HB_AREA"], catalog["HB_AREA_ERR"], catalog["NII_AREA"],
                               catalog["OIII_AREA"])
    else:
        label, x, y = np.zeros(0, "<U9"), np.zeros(0), np.zeros(0)
    catalog["LABEL"], catalog["LOG_NII_HA"], catalog["LOG_OIII_HB"] = label, x, y
    split = np.full(n, "valid", dtype="<U5")
    split[rng.permutation(n)[:int(round(TRAIN_FRACTION * n))]] = "train"
    catalog["SPLIT"] = split
    weight = np.where(mask, 0, weight).astype(np.float32)
    if infill and basis is not None:
        flux, how = basis_infill(flux, mask, *basis, weight=weight), "basis"
    elif infill and (n > n_ev or not mask.any()):
        flux, how = iterative_pca_infill(flux, mask, n_ev=n_ev, n_iter=n_iter, rng=rng, verbose=verbose), "pca"
    else:
        flux, how = np.where(mask, 0.0, flux).astype(np.float32), "none"
    return PreprocessResult(flux=flux, weight=weight, mask=mask.astype(np.uint8), catalog=catalog,
                            skipped=list(skipped), infill=how)


def preprocess(records, *, sn_cap=SN_CAP, infill=True, verbose=True, rng=None,
               min_coverage=MIN_COVERAGE, dilate=2, chunk=512, n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS,
               basis=None):
    """Preprocess :class:`Spectrum` records into the rest-frame training arrays.

    Parameters
    ----------
    records : iterable of Spectrum
    sn_cap : float
        Pixel S/N cap of the weights, w = 1 / (1/ivar + (1/sn_cap)^2); None = no cap.
    infill : bool
        Infill of bad pixels (else they are set to 0): iterative PCA of the set, or ``basis``.
    basis : (mean (M,), eigenvectors (M, K)) or None
        A trained model's infill basis, fitted to each spectrum alone (see :func:`finish`).
    rng : Generator, int or None
        Seeds the train/valid split and the infill's random start; None = seed 0.
    min_coverage : float
        Fraction of good rest pixels below which a spectrum is skipped.
    dilate : int
        Observed pixels added on each side of a bad pixel.

    Returns
    -------
    PreprocessResult
    """
    records = list(records)
    parts = []
    bar = progress(total=len(records), desc="preprocess", verbose=verbose, unit="spec")

    def one_chunk(start):
        return prepare_chunk(records[start:start + chunk], sn_cap=sn_cap, min_coverage=min_coverage,
                             dilate=dilate)

    # chunks in threads (NumPy and the Numba kernels drop the GIL); results kept in order
    with ThreadPoolExecutor(default_threads()) as pool:
        for start, part in zip(range(0, len(records), chunk), pool.map(one_chunk, range(0, len(records), chunk))):
            parts.append(part)
            bar.update(len(records[start:start + chunk]))
    bar.close()
    return finish(*concat_parts(parts), infill=infill, rng=rng, verbose=verbose,
                  n_ev=n_ev, n_iter=n_iter, basis=basis)


def concat_parts(parts):
    """Concatenate prepare_chunk outputs -> (flux, weight, mask, rows, skipped)."""
    m = REST_WAVE.size
    if not parts:
        return (np.zeros((0, m), np.float32), np.zeros((0, m), np.float32),
                np.zeros((0, m), bool), [], [])
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), [r for p in parts for r in p[3]],
            [s for p in parts for s in p[4]])
