"""Rows of the (N_k, M) arrays of dataset files, read with ``os.pread``: nothing mapped into the process.

:class:`RowFiles` is how a sharded dataset's :class:`npvae.data.shards.ShardedArray` reads the
rows asked for (docs/scale.md, "Training memory at a million"). Shapes: R rows asked for,
M values per row, K parts (files).
"""
import contextlib
import os
import weakref
from collections import OrderedDict

import numpy as np

from ..utils import NpvaeError
from .arraykernels import to_native

__all__ = ["RowFiles", "GAP_ROWS", "OPEN_FILES"]

GAP_ROWS = 4                    # rows skipped inside one read rather than starting another
OPEN_FILES = 64                 # files a RowFiles keeps open at once


class RowFiles:
    """The rows of the shard files' (n_k, M) arrays, read with ``os.pread``: nothing stays mapped.

    A memory map copies rows out of pages that then stay mapped into the process (the kernel
    also maps the neighbouring pages of each one it faults in, 64 KB around it): random
    minibatches over an epoch map every shard, as much memory as the dataset. ``os.pread``
    copies the bytes asked for into this process's buffer; the data stay in the kernel's page
    cache, which is not the process's memory. Rows of one part that lie close together (at most
    :data:`GAP_ROWS` apart) are read in one call and the ones in between dropped.

    Parameters
    ----------
    paths : list of str or Path, one file per part
    offsets : list of int, byte offset of each part's first row in its file
    dtype : the arrays' dtype in the file (FITS: big-endian)
    row_shape : tuple, the shape of one row, (M,)
    """

    def __init__(self, paths, offsets, dtype, row_shape):
        self.paths, self.offsets = [str(p) for p in paths], [int(o) for o in offsets]
        self.dtype, self.row_shape = np.dtype(dtype), tuple(row_shape)
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.row_shape, dtype=np.int64))
        self._fds = OrderedDict()                                            # part -> file descriptor
        self._closer = weakref.finalize(self, _close_all, self._fds)

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_fds", "_closer")}

    def __setstate__(self, state):
        self.__init__(state["paths"], state["offsets"], state["dtype"], state["row_shape"])

    def read(self, part, local):
        """Rows ``local`` (R,) of parts ``part`` (R,) -> (R, M) in native byte order, in the order asked."""
        part, local = np.asarray(part, np.int64), np.asarray(local, np.int64)
        n = len(local)
        out = np.empty((n,) + self.row_shape, self.dtype.newbyteorder("="))  # (R, M)
        if n == 0:
            return out
        if part[0] == part[-1] and local[-1] - local[0] == n - 1 and np.all(np.diff(local) == 1):
            self._pread_into(int(part[0]), int(local[0]), out.view(self.dtype))   # consecutive rows of one
            return to_native(out.view(self.dtype))                           # part: read in place, swap bytes
        order = np.lexsort((local, part))                                    # (R,) by part, then row
        ordered, parts = local[order], part[order]                           # (R,) each
        raw = np.empty((n,) + self.row_shape, self.dtype)                    # (R, M) ordered rows, as stored
        cuts = np.flatnonzero((np.diff(ordered) > GAP_ROWS) | (np.diff(parts) != 0)) + 1
        starts, ends = np.concatenate([[0], cuts]).astype(int), np.concatenate([cuts, [n]]).astype(int)
        runs = zip(starts.tolist(), ends.tolist(), parts[starts].tolist(), ordered[starts].tolist(),
                   (ordered[ends - 1] + 1).tolist())
        for a, b, k, lo, hi in runs:
            if hi - lo == b - a:                                             # consecutive rows: read in place
                self._pread_into(k, lo, raw[a:b])
            else:                                                            # gaps or repeats: read the span
                block = np.empty((hi - lo,) + self.row_shape, self.dtype)    # (hi - lo, M)
                self._pread_into(k, lo, block)
                raw[a:b] = block[ordered[a:b] - lo]
        out[order] = raw                                                     # back to the order asked
        return out

    def _pread_into(self, part, lo, dest):
        """Read rows lo:lo+len(dest) of part ``part`` into ``dest`` (C-contiguous, the file's dtype)."""
        view = memoryview(dest).cast("B")
        start = self.offsets[part] + lo * self.row_bytes
        fd = self._fd(part)
        done = _read_at(fd, view, start)
        while done < len(view):                                              # a read may return less
            got = _read_at(fd, view[done:], start + done)
            if got == 0:
                raise NpvaeError(f"{self.paths[part]}: file ends before row {lo + len(dest)} of its array "
                                 "(truncated? write it again)")
            done += got

    def _fd(self, part):
        """An open descriptor of part's file (at most :data:`OPEN_FILES` kept open, the oldest closed first)."""
        fd = self._fds.get(part)
        if fd is None:
            try:
                fd = os.open(self.paths[part], os.O_RDONLY)
            except OSError as err:
                raise NpvaeError(f"{self.paths[part]}: cannot read the shard ({err.strerror})") from err
            while len(self._fds) >= OPEN_FILES:
                os.close(self._fds.popitem(last=False)[1])
            self._fds[part] = fd
        return fd

    def close(self):
        """Close the open files (they are opened again if rows are read afterwards)."""
        _close_all(self._fds)


def _read_at(fd, view, offset):
    """Read bytes at ``offset`` of file ``fd`` into ``view``; returns how many (pread where the OS has it)."""
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)                                        # e.g. older macOS
    return os.readv(fd, [view])


def _close_all(fds):
    while fds:
        with contextlib.suppress(OSError):
            os.close(fds.popitem()[1])
