"""Writing large FITS tables and images fast: astropy makes each header, NumPy packs the data.

astropy's ``table_to_hdu`` + ``writeto`` converts every column to a FITS record array (str
columns item by item) before writing. Here astropy still makes the headers, from the columns'
first zero rows (so every card is exactly the one astropy would write), and the data are packed
by NumPy, ``ROWS`` rows at a time, into one big-endian structured array per block (memory bounded
by the block, not the table) and written straight to the file, padded to the 2880-byte FITS
block. The bytes are the ones astropy writes (tests/data/test_fitstable.py checks the whole file).

Columns: 1-D or 2-D (one vector per row) arrays of int16/32/64, float32/64 or uint8, and str
(``U``, ASCII only: FITS strings are ASCII) or bytes (``S``), as plain arrays (a column's unit
or description is not written), or objects that read like such an array: ``dtype``, ``shape``
and rows by a slice (a column kept in pieces, made a block at a time). Images: numeric arrays.

Shapes: N rows, L characters of a str column.
"""
import collections
import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..utils import NpvaeError, atomic_write

__all__ = ["FitsTable", "FitsImage", "write_fits", "BLOCK", "ROWS"]

BLOCK = 2880                    # bytes: every FITS header and data unit is padded to a multiple
ROWS = 65536                    # rows packed per write: a few MB at a time
PACKERS = 2                     # threads packing blocks ahead of the write
_KINDS = {"i": (2, 4, 8), "f": (4, 8), "u": (1,)}   # numeric dtype kind -> item sizes FITS stores as is


def _padding(nbytes):
    """Zero bytes that pad ``nbytes`` of data to a whole FITS block."""
    return b"\0" * (-nbytes % BLOCK)


def _stored_dtype(name, where, array):
    """The big-endian dtype FITS stores a column's items as (str -> bytes of the same length)."""
    dtype = array.dtype
    if dtype.kind == "U":
        return np.dtype(f"S{max(1, dtype.itemsize // 4)}")
    if dtype.kind == "S":
        return dtype
    if dtype.itemsize in _KINDS.get(dtype.kind, ()):
        return dtype.newbyteorder(">")
    raise NpvaeError(f"{where} column {name}: cannot write dtype {dtype} (use int16/32/64, float32/64, uint8 or str)")


def _as_stored(name, where, chunk, lo):
    """``chunk`` (B,) of a column as FITS stores it: a str column as bytes (ASCII), others as they are.

    The str -> bytes cast goes through the code points (one uint32 -> uint8 cast: several times
    faster than NumPy's str -> bytes cast); a non-ASCII character is an NpvaeError naming the row.
    """
    if chunk.dtype.kind != "U" or chunk.size == 0:
        return chunk
    codes = np.ascontiguousarray(chunk).view(np.uint32).reshape(len(chunk), -1)   # (B, L) code points
    if codes.max() >= 128:
        row = np.flatnonzero(codes.max(axis=1) >= 128)[0]
        raise NpvaeError(f"{where} column {name} row {lo + row}: {str(chunk[row])!r} is not ASCII "
                         "(FITS strings are ASCII)")
    return codes.astype(np.uint8).view(f"S{codes.shape[1]}").reshape(len(chunk))  # (B,) the same characters


def _array_like(column):
    """True for a column object that is not an ndarray but reads like one (``dtype``, ``shape``, slices)."""
    return not isinstance(column, np.ndarray) and all(hasattr(column, a) for a in ("dtype", "shape", "__getitem__"))


class FitsTable:
    """A binary table extension ``name`` of ``columns`` (dict name -> (N,) or (N, K) array or array-like)."""

    def __init__(self, name, columns):
        self.name = name
        self.columns = {k: v if _array_like(v) else np.asarray(v) for k, v in columns.items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise NpvaeError(f"{name}: columns of different lengths {sorted(lengths)}")
        self.n_rows = lengths.pop() if lengths else 0
        self.dtype = np.dtype([(k, _stored_dtype(k, name, v), v.shape[1:]) for k, v in self.columns.items()])
        self.header = self._header()

    def _header(self):
        """astropy's header of this table: the zero-row table's, NAXIS2 set to the rows."""
        empty = Table({k: np.zeros((0,) + v.shape[1:], self.dtype[k].base) for k, v in self.columns.items()})
        hdu = fits.table_to_hdu(empty)
        hdu.name = self.name
        if hdu.header["NAXIS1"] != self.dtype.itemsize:
            raise NpvaeError(f"{self.name}: astropy's row of {hdu.header['NAXIS1']} bytes is not "
                             f"the {self.dtype.itemsize} bytes packed here")
        hdu.header["NAXIS2"] = self.n_rows
        return hdu.header

    def write(self, fh, rows=ROWS):
        """Write the header, then the rows in blocks of ``rows``, then the padding.

        ``PACKERS`` threads pack the next blocks while this one writes the oldest packed, in
        order (NumPy's casts and the file writes release the GIL): at most ``PACKERS`` + 1 blocks
        in memory.
        """
        fh.write(self.header.tostring().encode("ascii"))
        starts = iter(range(0, self.n_rows, rows))
        with ThreadPoolExecutor(PACKERS) as pool:
            ahead = collections.deque(pool.submit(self._pack, lo, rows) for lo in itertools.islice(starts, PACKERS))
            while ahead:
                block = ahead.popleft().result()
                lo = next(starts, None)                                          # the next block, if any
                if lo is not None:
                    ahead.append(pool.submit(self._pack, lo, rows))
                fh.write(block.data)
        fh.write(_padding(self.n_rows * self.dtype.itemsize))

    def _pack(self, lo, rows):
        """Rows lo:lo + rows as FITS stores them -> (B,) big-endian structured array."""
        out = np.empty(min(rows, self.n_rows - lo), self.dtype)                 # (B,) packed rows
        for k, v in self.columns.items():
            out[k] = _as_stored(k, self.name, v[lo:lo + len(out)], lo)          # casts to big-endian
        return out


class FitsImage:
    """An image extension ``name`` of a numeric array (N, ...), with extra header ``cards`` (dict)."""

    def __init__(self, name, data, cards=None):
        self.data = np.asarray(data)
        if self.data.dtype.kind not in _KINDS:
            raise NpvaeError(f"image {name}: cannot write dtype {self.data.dtype}")
        self.dtype = _stored_dtype("(image)", name, self.data)
        hdu = fits.ImageHDU(self.data, name=name)                          # the header; no data copied
        for key, value in (cards or {}).items():
            hdu.header[key] = value
        self.header = hdu.header

    def write(self, fh, rows=ROWS):
        """Write the header, then the data in blocks of ``rows`` along the first axis, then the padding."""
        fh.write(self.header.tostring().encode("ascii"))
        for lo in range(0, len(self.data), rows):
            fh.write(np.ascontiguousarray(self.data[lo:lo + rows], self.dtype).data)
        fh.write(_padding(self.data.nbytes))


def write_fits(path, primary, extensions, rows=ROWS):
    """Write a FITS file atomically: the ``primary`` HDU (header only), then each extension.

    ``extensions`` are :class:`FitsTable` and :class:`FitsImage`; ``rows`` per block of data.
    """
    if primary.data is not None:
        raise NpvaeError("write_fits: the primary HDU must have no data")
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        fh.write(primary.header.tostring().encode("ascii"))
        for hdu in extensions:
            hdu.write(fh, rows)
    return path
