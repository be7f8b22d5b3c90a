"""Encode spectra from any source with a trained model: the Python API behind ``npvae encode``.

Inputs can be :class:`npvae.data.record.Spectrum` records, a :class:`npvae.data.dataset.Dataset`,
or paths: raw spectrum files (spec-lite, DR7 spSpec) and folders of them, and dataset files
(named directly). Raw spectra go through the model's preprocessing recipe
(:class:`npvae.data.recipe.Preprocessing`); a dataset's masked pixels are infilled again from
the recipe's basis, so that every spectrum's latents depend on it and the model alone. Spectra
are handled in chunks (bounded memory: only the per-spectrum results are kept), each through
:func:`npvae.apply.encode.encode_chunk`. Docs: docs/encode.md.

Shapes: N spectra, B chunk, D pixels, Z latent.
"""
import multiprocessing
import os
import weakref
from collections import Counter, deque
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from ..analysis.outliers import fit_lof_reference, lof_novelty_scores
from ..data.arraykernels import count_per_row
from ..data.dataset import Dataset, is_dataset_file
from ..data.files import find_spectrum_files, read_records
from ..data.labels import classify
from ..data.record import Spectrum
from ..data.shards import MANIFEST
from ..paper import LOF_K
from ..utils import NpvaeError, progress
from .columns import LatentColumns, PiecesColumn, SourceStrings
from .datarows import SourceColumn, dataset_chunk, dataset_files, file_chunk
from .encode import encode_chunk, vae_infill

__all__ = ["encode_spectra", "encode_columns", "encode_task", "outlier_reference", "CHUNK", "COLUMNS", "NO_RECIPE"]

CHUNK = 1024                     # spectra per chunk
TASK_CHUNKS = 16                 # chunks per engine task: fewer round trips, the same chunks
TAIL_CHUNKS = 64                 # the last chunks, in tasks of TAIL_TASK_CHUNKS: the workers finish together
TAIL_TASK_CHUNKS = 4
COLUMNS = ("PLATE", "MJD", "FIBERID", "Z", "CLASS", "LABEL", "MU", "LOGVAR", "RCHI2", "SN_MEDIAN",
           "GOOD_FRAC", "INFILL_FRAC", "OUTLIER", "SOURCE", "ROW")
_LOF_CACHE = weakref.WeakKeyDictionary()   # model -> (its training latents, fitted LOF)
NO_RECIPE = ("the model file carries no preprocessing recipe (it was saved before npvae stored one): "
             "train it again with `npvae train`, or encode a preprocessed dataset file instead")


def encode_spectra(model, inputs, *, infill=None, chunk=CHUNK, reconstructions=False, rchi2=True, n_jobs=1,
                   engine=None, verbose=False):
    """Latent means, log-variances, fit quality and outlier scores of spectra.

    Parameters
    ----------
    model : InfoVAE or Autoencoder, as :func:`npvae.load` returns it
    inputs : Spectrum, Dataset, path, or a list of them
        Paths: raw spectrum files, folders of them (searched recursively) and dataset files.
    infill : "pca", "vae" or None
        How masked pixels are filled: the training set's basis, or the model itself iterated
        to convergence (an autoencoder's code serves as its latent mean); None = the recipe's default.
    chunk : int
        Spectra per chunk; the result does not depend on it.
    reconstructions : bool
        Add columns FLUX (the model input), WEIGHT and RECON (decode of MU), each (N, D).
    rchi2 : bool
        False: no RCHI2 column (the decoder is not run for it: about half the arithmetic of
        encoding); every other column is the same as with it.
    n_jobs : int
        Worker processes reading and preparing raw files (1 = in this process; without ``engine``).
    engine : an engine of :func:`npvae.distributed.open_engine`, or None
        Run every ``TASK_CHUNKS`` consecutive chunks (each read, prepared, infilled, encoded and
        scored alone: :func:`encode_task`) as one task of the engine (the last ``TAIL_CHUNKS``
        in tasks of ``TAIL_TASK_CHUNKS``), the model and its LOF
        reference sent to the workers once; results gathered in input order and the same on
        any engine. Dataset files are read by the workers themselves, so they must
        see the same paths. None: the chunks are encoded in this process.

    Returns
    -------
    astropy Table with :data:`COLUMNS` (without RCHI2 when ``rchi2`` is False; one row per kept
    spectrum, in input order);
    ``table.meta["skipped"]`` lists (source, reason) of the spectra that could not be used.
    """
    return encode_columns(model, inputs, infill=infill, chunk=chunk, reconstructions=reconstructions, rchi2=rchi2,
                          n_jobs=n_jobs, engine=engine, verbose=verbose).table()


def encode_columns(model, inputs, *, infill=None, chunk=CHUNK, reconstructions=False, rchi2=True, n_jobs=1,
                   engine=None, verbose=False):
    """The result of :func:`encode_spectra` before its columns are joined into one Table.

    The same arguments; returns :class:`npvae.apply.columns.LatentColumns`, each column kept in
    the chunks' pieces (``.table()`` is :func:`encode_spectra`'s Table), which ``npvae encode``
    writes a block of rows at a time without a joined copy.
    """
    sources = _sources(inputs)
    recipe = model.preprocessing
    if recipe is None and any(kind in ("records", "files") for kind, _, _ in sources):
        raise NpvaeError(NO_RECIPE)
    method = infill or (recipe.infill if recipe is not None else "pca")
    if method not in ("pca", "vae"):
        raise NpvaeError(f"infill must be 'pca' or 'vae', not {method!r}")
    total = sum(_count(kind, items) for kind, items, _ in sources)
    bar = progress(total=total, desc="encode", verbose=verbose and total > chunk, unit="spec")
    if engine is None:
        lof = outlier_reference(model)
        results = (_encode_prepared(model, prepared, method, lof, reconstructions, rchi2)
                   for prepared in _prepared_chunks(sources, recipe, int(chunk), n_jobs))
    else:
        results = engine.map_in_order(encode_task, _tasks(sources, recipe, int(chunk)), engine.share(model),
                                      method, reconstructions, engine.share(outlier_reference(model)), rchi2)
    parts, skipped = [], []
    for part, skips, n_done in results:
        skipped += skips
        if part is not None:
            parts.append(part)
        bar.update(n_done)
    bar.close()
    return LatentColumns(_columns_of(parts, model, reconstructions, rchi2), dict(INFILL=method, skipped=skipped))


def outlier_reference(model):
    """The LOF (k = LOF_K) fitted on the model's training latents, once per model; None without them."""
    ref = getattr(model, "train_latents_", None)
    if ref is None or len(ref) <= LOF_K:
        return None
    cached = _LOF_CACHE.get(model)
    if cached is None or cached[0] is not ref:
        cached = _LOF_CACHE[model] = (ref, fit_lof_reference(ref))
    return cached[1]


def _sources(inputs):
    """[(kind, items, path)]: "records" (Spectrum list), "files" (raw paths), "dataset" (one Dataset
    in memory, path None) or "rows" ([(file, rows)] of a dataset file or sharded folder at ``path``).

    A dataset named by its path is not opened here: its chunks are read file by file
    (:func:`npvae.apply.datarows.file_chunk`), so a million-row catalogue is never loaded whole.
    """
    if isinstance(inputs, (Spectrum, Dataset, str, os.PathLike)):
        inputs = [inputs]
    sources = []

    def add(kind, item, path=None):
        if kind in ("records", "files") and sources and sources[-1][0] == kind:
            sources[-1][1].extend(item)
        else:
            sources.append((kind, item if kind in ("dataset", "rows") else list(item), path))

    for item in inputs:
        if isinstance(item, Spectrum):
            add("records", [item])
        elif isinstance(item, Dataset):
            add("dataset", item)
        elif isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if (path.is_file() and is_dataset_file(path)) or (path / MANIFEST).is_file():
                add("rows", dataset_files(path.resolve()), path)
            else:
                add("files", find_spectrum_files([path]))
        else:
            raise NpvaeError(f"cannot encode a {type(item).__name__}: give Spectrum records, a Dataset "
                             "or paths of spectrum / dataset files")
    return sources


def _count(kind, items):
    """Spectra of one source of :func:`_sources`."""
    return sum(rows for _, rows in items) if kind == "rows" else len(items)


def _row_ranges(files, chunk):
    """("rows", file, lo, hi) work items of [(file, rows)]: chunks within each file."""
    for file, rows in files:
        for lo in range(0, rows, chunk):
            yield "rows", str(file), lo, min(lo + chunk, rows)


def prepare_raw(items, recipe):
    """Records or file paths -> (flux, weight, mask, columns, skipped), masked pixels basis-filled."""
    skipped = []
    if items and not isinstance(items[0], Spectrum):
        items, skipped = read_records(items)
    flux, weight, mask, rows, more = recipe.prepare(items)
    cols = _columns(rows)
    cols["SOURCE"] = SourceColumn.of([str(s) for s in _kept_sources(items, more)][:len(rows)])   # (B,)
    cols["ROW"] = np.zeros(len(rows), np.int64)                        # a raw file is one spectrum
    return flux, weight, mask, cols, skipped + more


def _kept_sources(records, skipped):
    """Source of each record that ``recipe.prepare`` kept (the skipped ones' sources removed, in order)."""
    left = Counter(source for source, _ in skipped)
    kept = []
    for r in records:
        source = r.source or r.name
        if left[source]:
            left[source] -= 1
        else:
            kept.append(source)
    return kept


def _columns(rows):
    """Catalogue columns (dict of (B,) arrays) of prepare_chunk rows, with the LABEL."""
    get = lambda key, dtype: np.array([r[key] for r in rows], dtype)
    cols = {"PLATE": get("PLATE", np.int64), "MJD": get("MJD", np.int64), "FIBERID": get("FIBERID", np.int64),
            "Z": get("Z", np.float64), "CLASS": get("CLASS", "U6")}
    lines = [get(k, np.float64) for k in ("HA_AREA", "HA_AREA_ERR", "HB_AREA", "HB_AREA_ERR",
                                          "NII_AREA", "OIII_AREA")]
    cols["LABEL"] = classify(cols["CLASS"], *lines)[0] if rows else np.zeros(0, "U9")
    cols["SN_MEDIAN"], cols["GOOD_FRAC"] = get("SN_MEDIAN", np.float64), get("GOOD_FRAC", np.float64)
    return cols


def _prepared_chunks(sources, recipe, chunk, n_jobs):
    """Yield prepared chunks in input order; raw files prepared in ``n_jobs`` processes."""
    for kind, items, path in sources:
        if kind == "rows":
            for item in _row_ranges(items, chunk):
                yield file_chunk(*item[1:], recipe)
            continue
        if kind == "dataset":
            for lo in range(0, len(items), chunk):
                yield dataset_chunk(items, lo, lo + chunk, recipe)
            continue
        pieces = [items[i:i + chunk] for i in range(0, len(items), chunk)]
        if kind == "records" or n_jobs <= 1 or len(pieces) <= 1:
            for piece in pieces:
                yield prepare_raw(piece, recipe)
        else:
            yield from _ordered_pool_map(pieces, recipe, n_jobs)


def _ordered_pool_map(pieces, recipe, n_jobs):
    """prepare_raw over pieces in worker processes, results in order, at most 2 per worker in flight."""
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods()
                                          else None)
    with ProcessPoolExecutor(n_jobs, mp_context=context, initializer=_one_blas_thread) as pool:
        pending = deque()
        for piece in pieces:
            pending.append(pool.submit(prepare_raw, piece, recipe))
            if len(pending) >= 2 * n_jobs:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _one_blas_thread():
    """Worker initializer: one BLAS thread per worker (the workers already use every core)."""
    threadpool_limits(1, "blas")


def _tasks(sources, recipe, chunk, per_task=TASK_CHUNKS, tail=TAIL_CHUNKS, per_tail_task=TAIL_TASK_CHUNKS):
    """The engine's tasks in input order, each a list of work items (one per chunk).

    Tasks of ``per_task`` items (few tasks: the client's and the workers' cost per task is paid
    less often), and where fewer than ``tail`` items would be left after a whole task, tasks of
    ``per_tail_task`` (short tasks at the end: no worker idles long while the last runs).
    Work items: ("records", [Spectrum]), ("files", [path]), ("rows", dataset file, lo, hi) for a
    dataset named by its path (a sharded one: chunks within each shard file), and ("prepared",
    chunk) for a Dataset given in memory (prepared here, only encoded by the task). Grouping
    changes no chunk, so no number (see :func:`encode_task`).
    """
    left = sum(_n_chunks(kind, items, chunk) for kind, items, _ in sources)   # items not yet in a task
    task, size = [], 0
    for item in _work_items(sources, recipe, chunk):
        if not task:
            size = per_task if left - per_task >= tail else per_tail_task
        task.append(item)
        left -= 1
        if len(task) == size:
            yield task
            task = []
    if task:
        yield task


def _n_chunks(kind, items, chunk):
    """Work items (chunks) of one source of :func:`_sources`."""
    if kind == "rows":
        return sum(-(-rows // chunk) for _, rows in items)
    return -(-len(items) // chunk)


def _work_items(sources, recipe, chunk):
    """The work items of :func:`_tasks`, one per chunk, in input order."""
    for kind, items, path in sources:
        if kind == "rows":
            yield from _row_ranges(items, chunk)
        elif kind == "dataset":
            for lo in range(0, len(items), chunk):
                yield "prepared", dataset_chunk(items, lo, lo + chunk, recipe)
        else:
            for i in range(0, len(items), chunk):
                yield kind, [it if kind == "records" else str(it) for it in items[i:i + chunk]]


def _prepare_item(item, recipe):
    """One work item of :func:`_tasks` -> a prepared chunk (flux, weight, mask, columns, skipped)."""
    kind = item[0]
    if kind == "prepared":
        return item[1]
    if kind != "rows":
        return prepare_raw(item[1], recipe)
    return file_chunk(item[1], item[2], item[3], recipe)


def encode_task(items, model, method, reconstructions, lof=None, rchi2=True):
    """Task: read and prepare each work item, infill, encode, score -> (columns or None, skipped, n).

    The one function the engines run, in a loop or on Dask workers; ``items`` are consecutive
    work items of :func:`_tasks`, each a chunk handled alone, their columns joined in order.
    ``lof`` is the model's LOF reference (:func:`outlier_reference`), fitted once by the client
    and sent with the model; None: fitted here, once per model in each process. ``rchi2``
    False: no RCHI2 column (no decoder pass).
    """
    lof = outlier_reference(model) if lof is None else lof
    parts, skipped, n_done = [], [], 0
    for item in items:
        part, skips, n = _encode_prepared(model, _prepare_item(item, model.preprocessing), method, lof,
                                          reconstructions, rchi2)
        skipped += skips
        n_done += n
        if part is not None:
            parts.append(part)
    return (_joined(parts) if parts else None), skipped, n_done


def _joined(parts):
    """Columns of consecutive chunks (dicts of arrays, the same keys; SOURCE a SourceColumn) joined into one dict."""
    return {name: (SourceColumn.concatenate if name == "SOURCE" else np.concatenate)([p[name] for p in parts])
            for name in parts[0]}


def _encode_prepared(model, prepared, method, lof, reconstructions, rchi2=True):
    """A prepared chunk -> (dict of output columns or None when empty, skipped, spectra handled)."""
    flux, weight, mask, columns, skips = prepared
    if not len(flux):
        return None, skips, len(skips)
    if method == "vae":
        flux = vae_infill(model, flux, mask, weight=weight)[0]
    return _encode_part(model, flux, weight, mask, columns, lof, reconstructions, rchi2), skips, len(flux) + len(skips)


def _encode_part(model, flux, weight, mask, columns, lof, reconstructions, rchi2=True):
    """Encode one prepared chunk -> dict of output columns (RCHI2 only when ``rchi2``)."""
    mu, logvar, chi2 = encode_chunk(model, flux, weight, rchi2=rchi2)
    part = dict(columns, MU=mu, LOGVAR=logvar, **({"RCHI2": chi2} if rchi2 else {}),
                INFILL_FRAC=count_per_row(mask) / mask.shape[1],              # (B,) = mask.mean(axis=1), exactly
                OUTLIER=lof_novelty_scores(lof, mu) if lof is not None else np.full(len(mu), np.nan))
    if reconstructions:
        part.update(FLUX=flux, WEIGHT=weight, RECON=model.decode(mu))
    return part


def _columns_of(parts, model, reconstructions, rchi2=True):
    """The output columns (dict name -> array-like) of the chunks' parts, unjoined (empty arrays when no part)."""
    names = tuple(n for n in COLUMNS if rchi2 or n != "RCHI2") + (("FLUX", "WEIGHT", "RECON") if reconstructions else ())
    if not parts:
        z, d = model.n_latent, model.n_features
        shapes = {"MU": (0, z), "LOGVAR": (0, z), "FLUX": (0, d), "WEIGHT": (0, d), "RECON": (0, d)}
        kinds = {"PLATE": np.int64, "MJD": np.int64, "FIBERID": np.int64, "CLASS": "U6", "LABEL": "U9",
                 "SOURCE": "U1", "ROW": np.int64}
        return {n: np.zeros(shapes.get(n, (0,)), kinds.get(n, np.float32 if n in shapes else np.float64))
                for n in names}
    return {n: SourceStrings(SourceColumn.concatenate([p[n] for p in parts])) if n == "SOURCE"
            else PiecesColumn([p[n] for p in parts]) for n in names}
