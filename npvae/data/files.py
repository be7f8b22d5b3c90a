"""Preprocess spectrum files from disk in parallel worker processes.

Each worker reads a chunk of files (:func:`npvae.data.readers.read_spectrum`) and runs steps 1-6
of :mod:`npvae.data.preprocess` on it; the parent concatenates the chunks and runs the labels,
infill and split (:func:`npvae.data.preprocess.finish`). A file that cannot be read is skipped
with its reason; the batch never stops. Docs: docs/data.md.
"""
import os
from operator import attrgetter
from pathlib import Path

from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS, SN_CAP
from ..utils import NpvaeError, progress, worker_pool
from .preprocess import MIN_COVERAGE, concat_parts, finish, prepare_chunk
from .readers import read_spectrum

__all__ = ["find_spectrum_files", "read_records", "read_and_prepare", "preprocess_files"]

SPECTRUM_SUFFIXES = (".fits", ".fit", ".fits.gz", ".fit.gz")


def find_spectrum_files(inputs, resolve=False):
    """Expand files and folders (searched recursively) into a sorted list of FITS paths.

    Hidden files (a name starting with '.') are left out; links to folders are not followed.
    With ``resolve``, each path is returned absolute with its symbolic links resolved (as
    ``Path.resolve``), in the same order. Folders are read with ``os.scandir``, whose entries
    carry their type: no system call per file, except for links.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    found = {}                                                    # path -> itself or resolved
    for item in inputs:
        item = Path(item)
        if item.is_dir():
            found.update(_spectrum_files_under(item, resolve))
        elif item.exists():
            found[item] = item.resolve() if resolve else item
        else:
            raise NpvaeError(f"{item}: no such file or folder")
    return [found[path] for path in sorted(found, key=attrgetter("parts"))]   # = sorted(paths), faster


def _spectrum_files_under(folder, resolve):
    """(path, path or its resolved path) of every spectrum file below ``folder``.

    A plain entry of a folder resolves to the folder's resolved path joined with its name, so
    only the folders and the links are resolved one by one.
    """
    folders = [folder]
    while folders:
        current = folders.pop()
        real = Path(os.path.realpath(current)) if resolve else None
        try:
            with os.scandir(current) as listing:
                entries = list(listing)
        except PermissionError:
            continue                                              # as Path.rglob: skipped
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                folders.append(current / entry.name)
            elif (entry.is_file() and not entry.name.startswith(".")
                  and entry.name.lower().endswith(SPECTRUM_SUFFIXES)):
                path = current / entry.name
                yield path, (path.resolve() if entry.is_symlink() else real / entry.name) if resolve else path


def read_records(paths):
    """Read spectrum files -> (records, skipped); a file that cannot be read is a named skip."""
    records, skipped = [], []
    for path in paths:
        try:
            records.append(read_spectrum(path))
        except (NpvaeError, OSError, ValueError, KeyError, IndexError) as err:
            msg = str(err).replace(f"{path}: ", "")
            skipped.append((str(path), f"unreadable file: {msg}"))
    return records, skipped


def read_and_prepare(paths, options):
    """Worker: read ``paths`` and run :func:`prepare_chunk`; unreadable files become skips."""
    records, skipped = read_records(paths)
    flux, weight, mask, rows, more = prepare_chunk(records, **options)
    return flux, weight, mask, rows, skipped + more


def preprocess_files(inputs, *, sn_cap=SN_CAP, infill=True, verbose=True, rng=None,
                     min_coverage=MIN_COVERAGE, dilate=2, n_jobs=2, chunk=256, n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS,
                     basis=None):
    """Preprocess spectrum files or folders; the same result as ``preprocess`` on their records.

    Parameters
    ----------
    inputs : path or list of paths (files or folders)
    n_jobs : int
        Worker processes (1 = in this process).
    chunk : int
        Files per task.
    Other parameters as :func:`npvae.data.preprocess.preprocess`.

    Returns
    -------
    PreprocessResult (no spectra and no skips when no file was found).
    """
    paths = find_spectrum_files(inputs)
    options = {"sn_cap": sn_cap, "min_coverage": min_coverage, "dilate": dilate}
    chunks = [paths[i:i + chunk] for i in range(0, len(paths), chunk)]
    parts = []
    bar = progress(total=len(paths), desc="preprocess", verbose=verbose, unit="file")
    if n_jobs <= 1 or len(chunks) <= 1:
        for c in chunks:
            parts.append(read_and_prepare(c, options))
            bar.update(len(c))
    else:
        with worker_pool(n_jobs) as pool:
            for c, part in zip(chunks, pool.map(read_and_prepare, chunks, [options] * len(chunks))):
                parts.append(part)
                bar.update(len(c))
    bar.close()
    return finish(*concat_parts(parts), infill=infill, rng=rng, verbose=verbose,
                  n_ev=n_ev, n_iter=n_iter, basis=basis)
