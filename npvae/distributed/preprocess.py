"""Raw spectrum files -> a sharded dataset folder, one Dask task per batch of files.

The sorted file list is cut into shards of ``shard_size`` files; shard k is made by
:func:`write_preprocessed_shard`: read and prepare its files (:func:`npvae.data.files.read_and_prepare`)
``READ_BLOCK`` at a time (a worker holds the raw records of one block and the prepared rows of its
shard, about 9 KB a spectrum, never the raw records of a whole shard), label them, split them with a generator of its own (``SeedSequence(seed, spawn_key=(1, k))``)
and fill their bad pixels with one fixed basis, spectrum by spectrum
(:func:`npvae.data.preprocess.finish` with ``basis``). The basis is a trained model's, or is
fitted once (one task) by iterative PCA on a seeded sample of at most ``INFILL_SAMPLE`` files
and saved in the folder, as the sharded synth does. So a shard depends on its files, the seed
and the basis only: the same bytes on any engine and worker count. The workers write the
shards into the folder themselves (:class:`npvae.data.shards.ShardWriter`: atomic per shard,
resumable), so the folder must be shared. docs/scale.md. Shapes: M rest pixels, K eigenvectors.
"""
import hashlib
import os
import socket
from pathlib import Path

import numpy as np

from ..data.dataset import write_shard
from ..data.files import read_and_prepare
from ..data.infill import iterative_pca_infill
from ..data.preprocess import concat_parts, finish
from ..data.shards import ShardWriter
from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS
from ..synthetic.shards import INFILL_SAMPLE
from ..utils import progress
from .synth import saved_basis

__all__ = ["preprocess_plan", "open_preprocess_folder", "preprocess_shards", "write_preprocessed_shard",
           "fit_files_basis", "READ_BLOCK"]

READ_BLOCK = 1000                   # raw files read and prepared at once in a shard task (~0.15 MB each)

_BASIS_KEY, _SHARDS_KEY = 0, 1      # SeedSequence spawn keys: (0,) the basis sample, (1, k) shard k


def preprocess_plan(paths, shard_size, seed, options, infill, model=None):
    """The plan (a JSON dict) of a sharded preprocess: what a rerun must ask for again to resume."""
    listing = hashlib.sha256("\n".join(str(p) for p in paths).encode()).hexdigest()
    return {"source": "npvae preprocess", "n_files": len(paths), "files_sha256": listing,
            "shard_size": int(shard_size), "seed": int(seed), **options, "infill": bool(infill),
            "model": None if model is None else str(model)}


def _batches(paths, shard_size):
    return [paths[i:i + shard_size] for i in range(0, len(paths), shard_size)]


def fit_files_basis(paths, options, seed):
    """Infill basis (mu (M,), V (M, K)) of a seeded sample of at most INFILL_SAMPLE files; None if too few."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_BASIS_KEY,)))
    sample = np.sort(rng.choice(len(paths), min(len(paths), INFILL_SAMPLE), replace=False))   # (S,)
    flux, _, mask, _, _ = read_and_prepare([paths[i] for i in sample], options)
    if len(flux) <= INFILL_EIGENVECTORS:
        return None
    _, mu, V = iterative_pca_infill(flux, mask, n_ev=INFILL_EIGENVECTORS, n_iter=INFILL_ITERATIONS, rng=rng,
                                    return_basis=True)
    return mu, V


def write_preprocessed_shard(index, folder, paths, options, seed, basis, meta):
    """Task: preprocess the files of shard ``index`` and write it into ``folder``; returns its record.

    The record also holds the skipped files with reasons, the label and split counts and which
    process wrote the file (host:pid).
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SHARDS_KEY, int(index))))
    parts = [read_and_prepare(paths[i:i + READ_BLOCK], options) for i in range(0, len(paths), READ_BLOCK)]
    res = finish(*concat_parts(parts), infill=basis is not None, rng=rng, verbose=False, basis=basis)
    record = write_shard(folder, index, res.flux, res.weight, res.mask, res.catalog,
                         meta={**meta, "shard": int(index), "n_files": len(paths), "n_skipped": len(res.skipped)})
    return {**record, "skipped": [list(s) for s in res.skipped], "labels": _counts(res.catalog, "LABEL"),
            "splits": _counts(res.catalog, "SPLIT"), "written_by": f"{socket.gethostname()}:{os.getpid()}"}


def _counts(catalog, column):
    """{value: rows} of a string column of the catalogue."""
    values, counts = np.unique(np.asarray(catalog[column], str), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))


def open_preprocess_folder(folder, plan, meta):
    """The checked ShardWriter of ``folder`` for ``plan`` (new or resumed); before any engine starts."""
    n_shards = -(-plan["n_files"] // plan["shard_size"])
    return ShardWriter(Path(folder).resolve(), plan, n_shards, meta=meta)


def preprocess_shards(writer, paths, plan, engine, basis=None, verbose=False):
    """Write (or finish) the shards of ``plan`` with ``engine``; returns the manifest.

    ``basis``: a trained model's (mean, eigenvectors), or None to fit one on a sample of the
    files (saved in the folder) when ``plan["infill"]``.
    """
    options = {k: plan[k] for k in ("sn_cap", "min_coverage", "dilate")}
    todo = writer.todo
    if todo:
        if basis is None and plan["infill"]:
            basis = saved_basis(writer, engine, fit_files_basis, [str(p) for p in paths], options, plan["seed"])
        basis = None if basis is None else engine.share(basis)
        batches = _batches([str(p) for p in paths], plan["shard_size"])
        bar = progress(total=len(todo), desc=f"preprocess shards ({engine.name})", verbose=verbose, unit="shard")
        items = [(index, batches[index]) for index in todo]
        for record in engine.map(_shard_task, items, str(writer.folder), options, plan["seed"], basis,
                                 writer.manifest["meta"]):
            writer.add(record)
            bar.update(1)
        bar.close()
    return writer.manifest


def _shard_task(item, folder, options, seed, basis, meta):
    """(index, its files) -> :func:`write_preprocessed_shard`."""
    return write_preprocessed_shard(item[0], folder, item[1], options, seed, basis, meta)
