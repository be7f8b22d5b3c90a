"""The output columns of encoded spectra, kept in the chunks' pieces until someone reads them.

An encode gathers one dict of columns per task (a few thousand rows each). Joining them into
one Table means a fresh copy of every column, and the SOURCE column made into a str array of
N x (longest path) x 4 bytes (a few hundred MB for a million spectra), only for the LATENTS
writer to pack them again a block of rows at a time. Here each column stays in its pieces and
looks like a read-only array to its readers (the writer of :mod:`npvae.data.fitstable` and
:func:`npvae.analysis.outliers.top_outlier_table`): ``dtype``, ``shape``, ``len``, rows by a
slice or by an index array, and ``np.asarray`` for the whole column. The values are the ones
the joined Table holds (tests/apply/test_columns.py).

Shapes: N rows, P pieces, K names.
"""
import numpy as np
from astropy.table import Table

__all__ = ["PiecesColumn", "SourceStrings", "LatentColumns"]


class PiecesColumn:
    """A column (N, ...) given as consecutive pieces (arrays of the same trailing shape).

    Its dtype is the one ``np.concatenate`` of the pieces gives (str: the widest piece's).
    """

    def __init__(self, pieces):
        self.pieces = list(pieces)
        self.offsets = np.cumsum([0] + [len(p) for p in self.pieces])          # (P + 1,) first row of each
        self.dtype = np.result_type(*{p.dtype for p in self.pieces})            # str: the widest
        self.shape = (int(self.offsets[-1]),) + self.pieces[0].shape[1:]

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        return np.concatenate(self.pieces).astype(dtype or self.dtype, copy=False)   # (N, ...)

    def __getitem__(self, key):
        """Rows ``lo:hi`` (a slice, step 1) or the rows of an int index array, as one array."""
        if isinstance(key, slice):
            lo, hi, step = key.indices(len(self))
            if step != 1:
                raise IndexError("a PiecesColumn slice takes every row (step 1)")
            first, last = np.searchsorted(self.offsets, [lo, max(lo, hi - 1)], side="right") - 1
            parts = [self.pieces[p][max(lo - self.offsets[p], 0):hi - self.offsets[p]]
                     for p in range(first, last + 1)]
            return np.concatenate(parts).astype(self.dtype, copy=False) if hi > lo else self._empty(0)
        index = np.asarray(key)                                                  # (M,) rows wanted
        index = np.where(index < 0, index + len(self), index)
        piece = np.searchsorted(self.offsets, index, side="right") - 1          # (M,) the piece of each
        out = self._empty(len(index))
        for p in np.unique(piece):
            at = piece == p
            out[at] = self.pieces[p][index[at] - self.offsets[p]]
        return out

    def _empty(self, n):
        return np.empty((n,) + self.shape[1:], self.dtype)


class SourceStrings:
    """The SOURCE column, K distinct names and each row's code (N,), as a str array made a block at a time.

    ``column``: a :class:`npvae.apply.datarows.SourceColumn` (``names``, ``codes``).
    """

    def __init__(self, column):
        self.names = np.array(column.names, str)                                # (K,)
        self.codes = column.codes                                                # (N,)
        self.dtype = self.names.dtype
        self.shape = self.codes.shape

    def __len__(self):
        return self.shape[0]

    def __array__(self, dtype=None, copy=None):
        return self.names[self.codes].astype(dtype or self.dtype, copy=False)  # (N,)

    def __getitem__(self, key):
        return self.names[self.codes[key]]                                       # rows by slice or index


class LatentColumns:
    """The columns of an encode (dict name -> array-like of N rows) and its ``meta``, read like a Table.

    ``colnames``, ``[name]``, ``len`` and ``meta`` as an astropy Table has them; :meth:`table`
    gives the Table itself (every column joined).
    """

    def __init__(self, columns, meta=None):
        self.columns = dict(columns)
        self.meta = dict(meta or {})

    @property
    def colnames(self):
        return list(self.columns)

    def __getitem__(self, name):
        return self.columns[name]

    def __len__(self):
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def table(self):
        """The astropy Table of these columns (each joined once) with the same meta."""
        return Table({name: np.asarray(column) for name, column in self.columns.items()}, copy=False,
                     meta=self.meta)
