"""A sharded dataset: a folder of dataset files (the shards) and a manifest, read as one dataset.

Layout of a sharded dataset folder DIR::

    DIR/manifest.json          what was asked (plan), shared metadata, one record per finished shard
    DIR/shard-00000.fits       each shard a dataset file (:mod:`npvae.data.dataset`)
    DIR/shard-00001.fits       of at most ``shard_size`` spectra
    DIR/...                    other files a writer keeps (e.g. an infill basis), also with checksums

``manifest.json`` holds ``format`` (``npvae-shards-1``), ``plan`` (the request that made the
data: the same plan resumes, another one is refused), ``meta`` (shared metadata: rest grid,
preprocessing options, seed), ``n_shards`` (planned), ``shards`` (one record per finished shard:
index, file, rows, bytes, sha256), ``files`` (other files, same records) and ``complete``.

Writing (:class:`ShardWriter`) goes shard by shard: each shard file is written atomically, then
the manifest is rewritten atomically, so the manifest never lists a half-written file. A rerun
after a kill checks the sizes and checksums of the listed shards, keeps the good ones and redoes
the rest. Reading (:class:`ShardedArray`) concatenates the shard arrays lazily and reads the
rows asked for from the files with ``os.pread`` (:class:`npvae.data.rowfiles.RowFiles`), so
that nothing of the shards stays mapped into the process; :func:`row_chunks` and
:func:`column_mean` pass over such rows a chunk at a time (streaming training).
Docs: docs/scale.md. Shapes: N spectra, M pixels, K shards, R rows asked for.
"""
import contextlib
import hashlib
import json
import mmap
from pathlib import Path

import numpy as np

from ..utils import NpvaeError, atomic_write

__all__ = ["SHARDS_FORMAT", "MANIFEST", "DEFAULT_SHARD_SIZE", "shard_name", "file_record", "check_file",
           "read_manifest", "write_manifest", "ShardWriter", "ShardedArray", "READ_ROWS", "row_chunks",
           "column_mean"]

SHARDS_FORMAT = "npvae-shards-1"
MANIFEST = "manifest.json"
DEFAULT_SHARD_SIZE = 50000      # spectra per shard: 450 MB of flux, weight and mask
READ_ROWS = 1024                # rows read at once by a pass over lazy rows (4 MB of float32 flux)
RELEASE_ROWS = 20000            # rows read between two releases of the mapped pages (ShardedArray.release)


def shard_name(index):
    """File name of shard ``index``: ``shard-00000.fits``."""
    return f"shard-{index:05d}.fits"


def _sha256(path):
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def file_record(folder, name, **fields):
    """{file, bytes, sha256, **fields} of the file ``folder/name`` as it is now."""
    path = Path(folder) / name
    return {**fields, "file": name, "bytes": path.stat().st_size, "sha256": _sha256(path)}


def check_file(folder, record, checksum=True):
    """Why ``folder/record["file"]`` does not match its record (missing, size, checksum), or None."""
    path = Path(folder) / record["file"]
    if not path.is_file():
        return f"{path}: missing"
    size = path.stat().st_size
    if size != record["bytes"]:
        return f"{path}: {size} bytes, the manifest says {record['bytes']}"
    if checksum and _sha256(path) != record["sha256"]:
        return f"{path}: sha256 differs from the manifest's"
    return None


def read_manifest(folder, complete=True):
    """The manifest of a sharded dataset folder; NpvaeError if missing, malformed or unfinished."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise NpvaeError(f"{folder}: a folder without {MANIFEST}, not a sharded dataset")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NpvaeError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(manifest, dict) or manifest.get("format") != SHARDS_FORMAT:
        raise NpvaeError(f"{path}: format is not {SHARDS_FORMAT}")
    for key in ("plan", "meta", "n_shards", "shards"):
        if key not in manifest:
            raise NpvaeError(f"{path}: no key {key!r}")
    if complete and not manifest.get("complete"):
        raise NpvaeError(f"{folder}: unfinished sharded dataset ({len(manifest['shards'])} of "
                         f"{manifest['n_shards']} shards); rerun the command that wrote it to finish")
    return manifest


def write_manifest(folder, manifest):
    """Rewrite ``folder/manifest.json`` atomically."""
    with atomic_write(Path(folder) / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")


def _as_json(value):
    """``value`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, default=str))


class ShardWriter:
    """Bookkeeping of a resumable sharded write: which shards are done, the manifest after each.

    Parameters
    ----------
    folder : str or Path
        The dataset folder; created if missing. A folder with a manifest of the same ``plan``
        is resumed; one with another plan, or with files but no manifest, is refused.
    plan : dict
        What is being made (JSON-serialisable); a rerun must ask for the same.
    n_shards : int
    meta : dict
        Shared metadata stored in the manifest (and by the caller in each shard).
    """

    def __init__(self, folder, plan, n_shards, meta=None):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise NpvaeError(f"{folder}: exists and is not a folder; a sharded dataset needs a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        plan = _as_json(plan)
        self.redone = []
        if (self.folder / MANIFEST).exists():
            self.manifest = read_manifest(self.folder, complete=False)
            self._check_same_plan(plan)
            self._keep_good_files()
        elif any(self.folder.iterdir()):
            raise NpvaeError(f"{folder}: folder is not empty and has no {MANIFEST}; choose an empty or "
                             "new folder")
        else:
            self.manifest = {"format": SHARDS_FORMAT, "plan": plan, "meta": _as_json(meta or {}),
                             "n_shards": int(n_shards), "shards": [], "files": {}, "complete": False}
        for stale in self.folder.glob(".*.tmp*"):      # temporaries of a killed write
            stale.unlink(missing_ok=True)
        self._save()

    def _check_same_plan(self, plan):
        old = self.manifest["plan"]
        if old != plan:
            diff = sorted(k for k in set(old) | set(plan) if old.get(k) != plan.get(k))
            raise NpvaeError(f"{self.folder}: holds a sharded dataset made with other settings "
                             f"({', '.join(f'{k} {old.get(k)!r} now {plan.get(k)!r}' for k in diff)}); "
                             "remove it or choose another folder")

    def _keep_good_files(self):
        """Drop the records whose file is missing or changed (they will be redone)."""
        good = []
        for record in self.manifest["shards"]:
            reason = check_file(self.folder, record)
            (self.redone.append(reason) if reason else good.append(record))
        self.manifest["shards"] = good
        files = self.manifest.get("files", {})
        self.manifest["files"] = {k: r for k, r in files.items() if check_file(self.folder, r) is None}
        self.manifest["complete"] = self._all_done()

    def _all_done(self):
        return len(self.manifest["shards"]) == self.manifest["n_shards"]

    def _save(self):
        write_manifest(self.folder, self.manifest)

    @property
    def todo(self):
        """Indices of the shards still to write, in order."""
        done = {r["index"] for r in self.manifest["shards"]}
        return [i for i in range(self.manifest["n_shards"]) if i not in done]

    def add(self, record):
        """Record a shard written by anyone (this process or a worker): verify, save the manifest.

        ``record`` is :func:`file_record` of the shard with ``index`` and ``rows``; the file must
        be visible here with that size and checksum (workers and this process share the folder).
        """
        reason = check_file(self.folder, record)
        if reason:
            raise NpvaeError(f"{reason} (a worker wrote it: is {self.folder} on a filesystem that "
                             "every worker and this process share?)")
        shards = [r for r in self.manifest["shards"] if r["index"] != record["index"]] + [record]
        self.manifest["shards"] = sorted(shards, key=lambda r: r["index"])
        self.manifest["complete"] = self._all_done()
        self._save()

    def add_file(self, key, name):
        """Record another file of the dataset (written atomically by the caller)."""
        self.manifest["files"][key] = file_record(self.folder, name)
        self._save()

    def file(self, key):
        """Path of a recorded other file, or None if it is not (or no longer) there."""
        record = self.manifest.get("files", {}).get(key)
        return None if record is None else self.folder / record["file"]


class ShardedArray:
    """Rows of several (n_k, M) arrays seen as one (N, M) array; nothing is read until indexed.

    Supports ``len``, ``shape``, ``dtype``, integer and slice rows, fancy rows (integer or
    boolean arrays), a column key after the rows (``a[rows, cols]``) and ``np.asarray``.
    Indexing returns an ordinary in-memory ndarray, in native byte order. :meth:`select`
    gives a lazy view of some of the rows (e.g. the training rows), itself a ShardedArray.

    Parameters
    ----------
    parts : list of array (n_k, M)
        The shards' arrays (memory maps), in order.
    rows : int array (N,), optional
        Which rows of the concatenated parts this array is, in order; None = all of them.
    files : :class:`npvae.data.rowfiles.RowFiles`, optional
        Where the parts' rows lie in their files: rows are then read with ``os.pread`` and
        nothing is mapped into the process. Without it, rows are copied out of the parts (memory
        maps), whose pages :meth:`release` unmaps every :data:`RELEASE_ROWS` rows.
    """

    def __init__(self, parts, rows=None, files=None):
        self.parts = list(parts)
        if not self.parts:
            raise NpvaeError("a sharded array needs at least one part")
        self.files = files
        self._maps = [_mmap_of(part) for part in self.parts]
        self._rows_since_release = 0
        self.offsets = np.concatenate([[0], np.cumsum([len(p) for p in self.parts])])   # (K+1,)
        self.rows = None if rows is None else np.asarray(rows, np.int64)                # (N,)
        n = int(self.offsets[-1]) if self.rows is None else len(self.rows)
        self.shape = (n,) + tuple(self.parts[0].shape[1:])
        self.dtype = self.parts[0].dtype.newbyteorder("=")                   # FITS is big-endian
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"ShardedArray(shape={self.shape}, dtype={self.dtype}, shards={len(self.parts)})"

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def __getitem__(self, key):
        rows, cols = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(rows, (int, np.integer)):
            n = len(self)
            i = int(rows) + n if rows < 0 else int(rows)
            if not 0 <= i < n:
                raise IndexError(f"row {rows} out of range for {n} rows")
            if self.files is not None:
                return self._take(np.array([i]))[(0,) + cols]
            i = i if self.rows is None else int(self.rows[i])
            k = int(np.searchsorted(self.offsets, i, side="right")) - 1
            return np.asarray(self.parts[k][(i - self.offsets[k],) + cols], self.dtype)
        return self._take(self._row_indices(rows))[(slice(None),) + cols]

    def select(self, rows):
        """A lazy view of the rows ``rows`` (slice, integer or boolean array); nothing is read."""
        idx = self._row_indices(rows)                                         # (R,)
        return ShardedArray(self.parts, idx if self.rows is None else self.rows[idx], self.files)

    def _row_indices(self, rows):
        """A slice, boolean or integer row key as checked non-negative indices (R,)."""
        n = len(self)
        if isinstance(rows, slice):
            return np.arange(*rows.indices(n))                                # (R,)
        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"boolean row index of shape {idx.shape} for {n} rows")
            return np.flatnonzero(idx)
        if idx.dtype.kind not in "iu":
            raise IndexError(f"rows must be integers, a slice or booleans, not {idx.dtype}")
        idx = np.where(idx < 0, idx + n, idx).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        return idx

    def _take(self, idx):
        """Rows ``idx`` (R,) of this array gathered shard by shard into one (R, M) array."""
        if self.rows is not None:
            idx = self.rows[idx]                                              # rows of the parts
        shard = np.searchsorted(self.offsets, idx, side="right") - 1          # (R,)
        if self.files is not None:
            return self.files.read(shard, idx - self.offsets[shard])
        out = np.empty((len(idx),) + self.shape[1:], self.dtype)              # (R, M)
        for k in np.unique(shard):
            sel = shard == k
            out[sel] = self.parts[k][idx[sel] - self.offsets[k]]
        self._rows_since_release += len(idx)
        if self._rows_since_release >= RELEASE_ROWS:
            self.release()
        return out

    def release(self):
        """Unmap from this process the pages of the shards read so far.

        Memory-mapped pages that have been read stay mapped and count in the process's resident
        memory: random minibatches over an epoch would map every shard, the size of the dataset.
        ``madvise(MADV_DONTNEED)`` drops them from the process; the kernel's page cache keeps the
        file data, and the next read maps it again. Called every :data:`RELEASE_ROWS` rows read.
        """
        self._rows_since_release = 0
        for mm in self._maps:
            if mm is not None and hasattr(mm, "madvise"):
                with contextlib.suppress(ValueError, OSError):       # closed, or not supported
                    mm.madvise(mmap.MADV_DONTNEED)


def _mmap_of(array):
    """The ``mmap.mmap`` under a memory-mapped array (found through ``.base``), or None."""
    obj = array
    while obj is not None:
        if isinstance(obj, mmap.mmap):
            return obj
        if isinstance(getattr(obj, "_mmap", None), mmap.mmap):
            return obj._mmap
        obj = getattr(obj, "base", None)
    return None


def row_chunks(A, chunk=None, dtype=None):
    """Consecutive pieces of the rows of A (N, M): yields (start, rows as an ndarray).

    An in-memory array comes in one piece unless ``chunk`` is given; a :class:`ShardedArray`
    is read ``chunk`` (default :data:`READ_ROWS`) rows at a time, so it is never in memory whole.
    """
    if chunk is None:
        if isinstance(A, np.ndarray):
            yield 0, np.asarray(A, dtype)
            return
        chunk = READ_ROWS
    for start in range(0, len(A), chunk):
        yield start, np.asarray(A[start:start + chunk], dtype)               # (<=C, M)


def column_mean(A, dtype=None, chunk=READ_ROWS):
    """Mean over the rows of A (N, M), accumulated in float64 chunk by chunk -> (M,) float64.

    Each chunk is added row after row onto the running sum (carried in as the chunk's first
    row), the order in which NumPy sums ``A.mean(axis=0, dtype=np.float64)`` for a C-ordered
    array; so the result is the same bit for bit, for any chunk size and for lazy rows.
    ``dtype`` casts each chunk first (the dtype the rows are used in).
    """
    n, width = len(A), A.shape[1]
    total = np.zeros(width)                                                  # (M,)
    stack = np.empty((min(chunk, max(n, 1)) + 1, width))                     # (C+1, M) float64
    for _, rows in row_chunks(A, chunk, dtype):
        part = stack[:len(rows) + 1]
        part[0] = total
        part[1:] = rows
        np.sum(part, axis=0, out=total)
    return total / n
