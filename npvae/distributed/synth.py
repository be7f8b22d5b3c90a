"""The sharded synthetic survey on an engine: basis first, then every missing shard.

``synth_shards(folder, plan, engine)`` opens (or resumes) the dataset folder with
:class:`npvae.data.shards.ShardWriter`, fits the infill basis as one task (or reuses the one a
killed run saved), then maps :func:`write_one_shard` over the shards still to do. Each task
makes its shard with :func:`npvae.synthetic.shards.make_shard` and writes it into the folder
itself (atomically), returning only the file's record: the shards never travel through this
process, so the folder must be shared by all workers (a network filesystem on a cluster). This
process then checks each file's size and checksum and rewrites the manifest. docs/scale.md.
Shapes: M rest pixels, K infill eigenvectors.
"""
import os
import socket
from pathlib import Path

import numpy as np

from ..data.dataset import write_shard
from ..data.preprocess import REST_WAVE
from ..data.shards import ShardWriter
from ..paper import REST_DLOGLAM, REST_LOGLAM0
from ..synthetic.shards import ShardPlan, fit_shard_basis, make_shard
from ..utils import atomic_write, progress

__all__ = ["synth_shards", "open_synth_folder", "write_one_shard", "BASIS_FILE"]

BASIS_FILE = "infill_basis.npz"


def shared_meta(plan):
    """The metadata every shard and the manifest carry: rest grid, preprocessing, seed, plan."""
    return {"source": "npvae.synthetic", "seed": plan.seed, "n_generated": plan.n,
            "shard_size": plan.shard_size, "fractions": plan.fractions or "default",
            "rest_grid": {"loglam0": REST_LOGLAM0, "dloglam": REST_DLOGLAM, "n_pix": int(REST_WAVE.size)},
            "preprocessing": plan.preprocessing()}


def write_one_shard(index, folder, plan, basis):
    """Task: make shard ``index`` and write it into ``folder``; returns its manifest record.

    The record also holds the label counts and which process wrote the file (host:pid).
    """
    res = make_shard(index, plan, basis)
    meta = {**shared_meta(plan), "shard": int(index), "n_skipped": len(res.skipped)}
    record = write_shard(folder, index, res.flux, res.weight, res.mask, res.catalog, meta=meta)
    labels, counts = np.unique(np.asarray(res.catalog["LABEL"], dtype=str), return_counts=True)
    return {**record, "skipped": len(res.skipped), "labels": dict(zip(labels.tolist(), counts.tolist())),
            "written_by": f"{socket.gethostname()}:{os.getpid()}"}


def saved_basis(writer, engine, fit, *args):
    """The infill basis (mu, V): the one a previous run saved in the folder, else ``fit(*args)``
    run as one task and saved (None when ``fit`` returns None)."""
    saved = writer.file("basis")
    if saved is not None:
        with np.load(saved) as data:
            return data["mu"], data["V"]
    basis = engine.submit(fit, *args)
    if basis is not None:
        with atomic_write(writer.folder / BASIS_FILE) as tmp:
            np.savez(tmp, mu=basis[0], V=basis[1])                  # (M,), (M, K)
        writer.add_file("basis", BASIS_FILE)
    return basis


def open_synth_folder(folder, plan):
    """The checked ShardWriter of ``folder`` for ``plan``: new, or resumed (NpvaeError if foreign).

    Call it before starting an engine to find a bad folder before a cluster starts.
    """
    if not isinstance(plan, ShardPlan):
        raise TypeError("plan must be a ShardPlan")
    folder = Path(folder).resolve()                                   # workers may start elsewhere
    return ShardWriter(folder, plan.as_dict(), plan.n_shards, meta=shared_meta(plan))


def synth_shards(folder, plan, engine, verbose=False):
    """Write (or finish) the sharded synthetic dataset of ``plan`` in ``folder``; returns the manifest.

    Parameters
    ----------
    folder : str, Path or ShardWriter
        Dataset folder, on a filesystem that every worker shares, or the writer
        :func:`open_synth_folder` returned for it.
    plan : npvae.synthetic.shards.ShardPlan
    engine : an engine of :func:`npvae.distributed.open_engine`
    """
    writer = folder if isinstance(folder, ShardWriter) else open_synth_folder(folder, plan)
    folder = writer.folder
    todo = writer.todo
    if todo:
        basis = saved_basis(writer, engine, fit_shard_basis, plan) if plan.infill else None
        basis = None if basis is None else engine.share(basis)
        bar = progress(total=len(todo), desc=f"synth shards ({engine.name})", verbose=verbose, unit="shard")
        for record in engine.map(write_one_shard, todo, str(folder), plan, basis):
            writer.add(record)
            bar.update(1)
        bar.close()
    return writer.manifest
