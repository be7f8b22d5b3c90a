"""A preprocessed synthetic dataset in one call: generate, preprocess, write, load.

This is what ``npvae synth`` and the ``npvae reproduce`` pipeline use. docs/synthetic.md.
"""
import multiprocessing
import os
import tempfile
from pathlib import Path

from ..data.dataset import load_dataset, write_dataset
from ..data.preprocess import MIN_COVERAGE, concat_parts, finish, prepare_chunk, preprocess
from ..data.readers import write_spec_lite
from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS, SN_CAP
from ..utils import as_generator, progress, worker_pool
from .survey import batch_plan, build_records, generate

__all__ = ["make_dataset"]

PROCESS_MIN = 16000   # from this many spectra, build + preprocess in worker processes


def make_dataset(n, rng=None, path=None, fractions=None, raw_dir=None, verbose=False, n_jobs=None,
                 physics=None, **preprocess_options):
    """Generate ``n`` spectra, preprocess them and return the loaded Dataset.

    Parameters
    ----------
    n : int
        Number of spectra to generate (a few per thousand may be skipped by the cuts).
    rng : Generator, int or None
        One generator drives the survey and the preprocessing (train/valid split, infill).
    path : str or Path, optional
        Where to write the dataset FITS file; a temporary file is used (and deleted after
        loading into memory) when None.
    fractions : dict, optional
        Class fractions, see :func:`npvae.synthetic.generate`.
    raw_dir : str or Path, optional
        Also write every raw spectrum as a spec-lite FITS file there.
    n_jobs : int, optional
        Worker processes that each build a batch of spectra and preprocess it, so that only the
        compact rest-frame arrays travel back (default: one per core from ``PROCESS_MIN``
        spectra on, else none; 1 = none). The dataset does not depend on it.
    physics : iterable of str, optional
        Optional physics, see :func:`npvae.synthetic.generate` (None = all).
    **preprocess_options
        Passed to :func:`npvae.data.preprocess.preprocess` (e.g. ``sn_cap``, ``infill``).

    Returns
    -------
    npvae.data.dataset.Dataset
    """
    rng = as_generator(rng)
    if n_jobs is None:
        n_jobs = (os.cpu_count() or 1) if n >= PROCESS_MIN else 1
    if "fork" not in multiprocessing.get_all_start_methods():
        n_jobs = 1                     # workers are forked (see _in_worker_processes)
    if raw_dir is not None or n_jobs <= 1:
        res = _in_this_process(n, rng, fractions, raw_dir, verbose, preprocess_options, physics)
    else:
        res = _in_worker_processes(n, rng, fractions, verbose, n_jobs, physics=physics, **preprocess_options)
    meta = {"source": "npvae.synthetic", "n_generated": int(n), "n_skipped": len(res.skipped),
            "fractions": fractions or "default"}
    return _write_and_load(res, path, meta)


def _in_this_process(n, rng, fractions, raw_dir, verbose, preprocess_options, physics=None):
    """generate() then preprocess(), records in memory (threads inside both)."""
    records = generate(n, rng=rng, fractions=fractions, verbose=verbose, physics=physics)
    if raw_dir is not None:
        write_raw(records, raw_dir, verbose=verbose)
    return preprocess(records, rng=rng, verbose=verbose, **preprocess_options)


def _in_worker_processes(n, rng, fractions, verbose, n_jobs, sn_cap=SN_CAP, infill=True,
                         min_coverage=None, dilate=2, chunk=None, n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS,
                         physics=None):
    """The same survey and dataset as :func:`_in_this_process`, batches built and prepared in
    worker processes (``chunk`` is ignored: a batch is a chunk); labels, split and infill here."""
    starts, batches, batch_rngs = batch_plan(n, rng, fractions, physics=physics)
    options = {"sn_cap": sn_cap, "dilate": dilate,
               "min_coverage": MIN_COVERAGE if min_coverage is None else min_coverage}
    parts = []
    # fork: workers start at once and need no importable __main__ (a user's script without the
    # `if __name__ == "__main__"` guard works); they run only single-threaded NumPy/Numba code
    context = multiprocessing.get_context("fork")
    with worker_pool(n_jobs, mp_context=context) as pool:
        jobs = pool.map(_build_and_prepare, batches, starts, batch_rngs, [options] * len(starts))
        for part in progress(jobs, total=len(starts), desc="synth + preprocess", verbose=verbose,
                             unit="batch"):
            parts.append(part)
    return finish(*concat_parts(parts), infill=infill, rng=rng, verbose=verbose, n_ev=n_ev,
                  n_iter=n_iter)


def _build_and_prepare(batch, start, batch_rng, options):
    """Worker: one batch of spectra built and prepared (rest-frame arrays and catalogue rows)."""
    return prepare_chunk(build_records(start, batch, batch_rng), **options)


def _write_and_load(res, path, meta):
    """Write the dataset file (or a temporary one) and load it."""
    if path is not None:
        write_dataset(path, res.flux, res.weight, res.mask, res.catalog, meta=meta)
        return load_dataset(path)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp) / "synthetic.fits"
        write_dataset(tmp_path, res.flux, res.weight, res.mask, res.catalog, meta=meta)
        return load_dataset(tmp_path, memmap=False)


def write_raw(records, folder, verbose=False):
    """Write each record as ``folder/spec-PLATE-MJD-FIBER.fits`` (spec-lite format)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for rec in progress(records, desc="spec-lite", verbose=verbose, unit="file"):
        write_spec_lite(folder / f"{rec.name}.fits", rec)
    return folder
