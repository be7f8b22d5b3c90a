"""Redshift catalogue of observed spectra: the Python API behind ``npvae redshift``.

:func:`redshift_spectra` reads spectra (Spectrum records, spec-lite / spSpec files, folders of
them) chunk by chunk, takes each through the model's preprocessing recipe at every trial
redshift and scans it (:func:`npvae.apply.redshift.scan`) with the VAE or with PCA templates
(:mod:`npvae.apply.zmodels`), and returns one Table row per spectrum. Docs: docs/redshift.md.
Shapes: N spectra, T coarse trial redshifts, Z model parameters, D pixels, K eigenvectors.
"""
import os
from contextlib import nullcontext
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.table import Table
from threadpoolctl import threadpool_limits

from ..data.dataset import is_dataset_file
from ..data.files import find_spectrum_files, read_records
from ..data.record import Spectrum
from ..utils import NpvaeError, default_threads, progress
from .redshift import Z_RANGE, observe, scan, trial_grid
from .spectra import NO_RECIPE
from .zmodels import PcaScorer, VaeScorer

__all__ = ["redshift_spectra", "make_scorer", "COLUMNS", "CHUNK", "METHODS"]

CHUNK = 256                      # spectra read and observed together
COLUMNS = ("PLATE", "MJD", "FIBERID", "CLASS", "Z_CAT", "Z", "Z_ERR", "DCHI2", "ZWARN", "RCHI2",
           "NPIX", "N_TRIALS", "SN_MEDIAN")
METHODS = ("vae", "pca")


def make_scorer(model, method="vae", *, infill="pca", templates=None, n_vectors=None):
    """The scan's model: the VAE, or PCA templates (``templates`` = (mean, vectors), else the recipe's basis)."""
    if model.preprocessing is None:
        raise NpvaeError(NO_RECIPE)
    if method == "vae":
        return VaeScorer(model, infill)
    if method == "pca":
        if templates is not None:
            return PcaScorer(*templates)
        return PcaScorer.from_recipe(model.preprocessing, n_vectors)
    raise NpvaeError(f"method must be one of {METHODS}, not {method!r}")


def redshift_spectra(model, inputs, *, method="vae", z_range=Z_RANGE, infill="pca", templates=None,
                     n_vectors=None, curves=False, chunk=CHUNK, threads=None, verbose=False):
    """Redshifts of observed spectra by the trial redshift the model reconstructs best.

    Parameters
    ----------
    model : InfoVAE or Autoencoder with a preprocessing recipe (as :func:`npvae.load` gives it)
    inputs : Spectrum, path, or a list of them
        Raw spectrum files and folders of them (searched recursively); not dataset files,
        whose spectra are already in the rest frame.
    method : "vae" or "pca"
        Score each trial by the VAE's reconstruction or by the PCA-template fit.
    z_range : (z_min, z_max)
        Trial redshifts; each spectrum's scan stops where its recipe no longer applies.
    infill : "pca" or "vae"
        The VAE's infill of masked pixels at every trial (the recipe's basis: fast).
    templates : (mean (D,), vectors (D, K)) or None
        PCA templates; None = the recipe's basis (its first ``n_vectors`` eigenvectors).
    curves : bool
        Add column RCHI2_SCAN (N, T), the coarse reduced-chi^2 curve.
    threads : int or None
        Spectra scanned at once, one per thread, each with single-threaded BLAS (None: the
        cores, at most 4; 1: in this thread). The results do not depend on it.

    Returns
    -------
    astropy Table: :data:`COLUMNS` and MU (N, Z) (the latent means at Z; for PCA the template
    amplitudes, mean first); ``meta`` holds METHOD, Z_GRID (T,) and ``skipped`` (source, reason).
    """
    scorer = make_scorer(model, method, infill=infill, templates=templates, n_vectors=n_vectors)
    z_lo, z_hi = (float(v) for v in z_range)
    if not (np.isfinite(z_lo) and np.isfinite(z_hi) and -0.5 < z_lo < z_hi):
        raise NpvaeError(f"z_range must be finite with -0.5 < z_min < z_max, got {z_range}")
    s_grid, z_grid = trial_grid((z_lo, z_hi))
    n_threads = default_threads() if threads is None else int(threads)
    if n_threads < 1:
        raise NpvaeError(f"threads must be at least 1, got {threads}")
    items = _items(inputs)
    bar = progress(total=len(items), desc=f"redshift ({method})", verbose=verbose, unit="spec")
    rows, skipped = [], []
    # one spectrum per thread (the kernels, NumPy and BLAS drop the GIL), each on one BLAS thread:
    # no core waits on the other, and a spectrum's numbers never depend on the thread count
    pool = ThreadPoolExecutor(n_threads) if n_threads > 1 else None
    in_order = pool.map if pool else map                                   # results in input order

    def scan_one(obs):
        return scan(scorer, obs, s_grid, model.preprocessing)

    with pool or nullcontext(), threadpool_limits(1, "blas"):
        for start in range(0, len(items), int(chunk)):
            piece = items[start:start + int(chunk)]
            records, unread = _read(piece)
            spectra, rejected = observe(records, model.preprocessing)
            skipped += unread + rejected
            bar.update(len(unread) + len(rejected))
            for obs, result in zip(spectra, in_order(scan_one, spectra)):
                _collect(obs, result, rows, skipped, (z_lo, z_hi))
                bar.update(1)
    bar.close()
    table = _table(rows, scorer.n_params, len(z_grid), curves)
    table.meta.update(METHOD=method, Z_GRID=z_grid, skipped=skipped)
    return table


def _collect(obs, result, rows, skipped, z_range):
    """Append a scan's output row, or the reason it has none."""
    if result is None:
        skipped.append((obs.record.source or obs.record.name,
                        "no trial redshift in range: the recipe cannot prepare the spectrum "
                        f"at any z in [{z_range[0]}, {z_range[1]}]"))
    else:
        rows.append(_row(obs.record, result))


def _items(inputs):
    """A flat list of Spectrum records and spectrum file paths."""
    if isinstance(inputs, (Spectrum, str, os.PathLike)):
        inputs = [inputs]
    items = []
    for item in inputs:
        if isinstance(item, Spectrum):
            items.append(item)
        elif isinstance(item, (str, os.PathLike)):
            if Path(item).is_file() and is_dataset_file(item):
                raise NpvaeError(f"{item}: a dataset file holds rest-frame spectra; redshifts need "
                                 "the observed spectra (spec-lite or spSpec files)")
            items += find_spectrum_files([item])
        else:
            raise NpvaeError(f"cannot take the redshift of a {type(item).__name__}: give Spectrum "
                             "records or paths of spectrum files")
    return items


def _read(piece):
    """Records of a piece of items, in order (files read), and the unreadable files' skips."""
    records, unread = [], []
    for item in piece:
        got, bad = ([item], []) if isinstance(item, Spectrum) else read_records([item])
        records += got
        unread += bad
    return records, unread


def _row(record, result):
    """One output row (dict) of a scanned record."""
    row = {"PLATE": int(record.plate), "MJD": int(record.mjd), "FIBERID": int(record.fiber),
           "CLASS": str(record.cls).strip().upper(), "Z_CAT": float(record.z)}
    row.update({k: result[k] for k in COLUMNS if k in result})
    row["MU"], row["RCHI2_SCAN"] = result["PARAMS"], result["CURVE"]
    return row


def _table(rows, n_params, n_trials, curves):
    """The output Table of row dicts (typed empty columns when there is none)."""
    names = COLUMNS + ("MU",) + (("RCHI2_SCAN",) if curves else ())
    kinds = {"PLATE": np.int64, "MJD": np.int64, "FIBERID": np.int64, "CLASS": "U6", "ZWARN": np.int32,
             "NPIX": np.int32, "N_TRIALS": np.int32, "MU": np.float32, "RCHI2_SCAN": np.float32}
    shapes = {"MU": (n_params,), "RCHI2_SCAN": (n_trials,)}
    return Table({n: np.array([r[n] for r in rows], kinds.get(n, np.float64)).reshape((len(rows),) + shapes.get(n, ()))
                  for n in names})
