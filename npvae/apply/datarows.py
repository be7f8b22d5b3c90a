"""Rows of preprocessed datasets as chunks to encode, each row with the file and row it came from.

A chunk is the tuple every encoding path works on: (flux (B, D) float32 with masked pixels
refilled from the model's recipe, weight (B, D) float32, mask (B, D) bool, catalogue columns
(dict of (B,) arrays, with SOURCE and ROW), skipped []). :func:`file_chunk` is what every path
reads of a dataset named by its path (a Dask task, or the loop in the client): only its rows of
one dataset file or shard, never the whole catalogue.

Shapes: B chunk, D pixels, K files.
"""
import numpy as np
from astropy.io import fits

from ..data.arraykernels import count_per_row
from ..data.fitsfast import read_rows
from ..data.shards import read_manifest

__all__ = ["dataset_chunk", "file_chunk", "dataset_files", "SourceColumn", "CATALOG"]

CATALOG = ("PLATE", "MJD", "FIBERID", "Z", "CLASS", "LABEL", "SN_MEDIAN")   # read from a dataset's catalogue


class SourceColumn:
    """The SOURCE column of B rows, kept compact until the output table is made.

    ``names`` are the distinct sources, ``codes`` (B,) int32 each row's index into them. A file
    chunk's rows all come from one file: as a str array that name is 4 bytes per character in
    every row (a few hundred bytes a row, which a Dask worker pickles and the client receives and
    joins); here it is one name and 4 bytes a row. :meth:`strings` gives the str array.
    """

    def __init__(self, names, codes):
        self.names = list(names)
        self.codes = np.asarray(codes, np.int32)                       # (B,)

    @classmethod
    def repeat(cls, name, n):
        """n rows from one source."""
        return cls([name], np.zeros(n, np.int32))

    @classmethod
    def of(cls, sources):
        """One row per entry of ``sources`` (a sequence of str)."""
        return cls(sources, np.arange(len(sources)))

    @classmethod
    def concatenate(cls, columns):
        """The rows of several columns, in order (each distinct name kept once)."""
        index, codes = {}, []
        for col in columns:
            recode = np.array([index.setdefault(name, len(index)) for name in col.names], np.int32)   # (K,)
            codes.append(recode[col.codes] if len(col.codes) else col.codes)
        return cls(index, np.concatenate(codes) if codes else np.zeros(0, np.int32))

    def __len__(self):
        return len(self.codes)

    def strings(self):
        """(B,) str array, as wide as the longest name."""
        return np.array(self.names, str)[self.codes]


def dataset_chunk(ds, lo, hi, recipe):
    """Rows lo:hi of a Dataset in memory as (flux, weight, mask, columns, []) (SOURCE "", ROW -1);
    refilled from the recipe's basis."""
    hi = min(hi, len(ds))
    cat = ds.catalog[lo:hi]
    cols = {k: np.asarray(cat[k]) for k in CATALOG}
    where = (SourceColumn.repeat("", hi - lo), np.full(hi - lo, -1, np.int64))
    return _prepared(ds.flux[lo:hi], ds.weight[lo:hi], ds.mask[lo:hi], cols, where, recipe)


def file_chunk(path, lo, hi, recipe):
    """Rows lo:hi of one dataset file (or shard), reading only those rows of its arrays and catalogue."""
    arrays, cols = read_rows(path, lo, hi, ("FLUX", "WEIGHT", "MASK"), "CATALOG", CATALOG)
    n = len(arrays["FLUX"])
    where = (SourceColumn.repeat(str(path), n), np.arange(lo, lo + n))
    return _prepared(arrays["FLUX"], arrays["WEIGHT"], arrays["MASK"], cols, where, recipe, own=True)


def _prepared(flux, weight, mask, cols, where, recipe, own=False):
    """Arrays (B, D) and catalogue columns of B dataset rows -> a prepared chunk (native copies).

    ``own``: ``flux`` was read for this chunk alone, so the infill may fill it in place.
    """
    flux = np.asarray(flux, np.float32)                                # (B, D) native float32
    weight = np.asarray(weight, np.float32)
    mask = np.asarray(mask) != 0
    if recipe is not None:
        flux = recipe.fill(flux, weight, mask, overwrite=own)
    cols["GOOD_FRAC"] = 1.0 - count_per_row(mask) / mask.shape[1]      # (B,) 1 - mask.mean(axis=1), exactly
    cols["SOURCE"], cols["ROW"] = where
    return flux, weight, mask, cols, []


def dataset_files(path):
    """[(file, rows)] of a dataset file or of the shards of a sharded dataset folder (a Path)."""
    if path.is_dir():
        return [(path / r["file"], r["rows"]) for r in read_manifest(path)["shards"]]
    with fits.open(path) as hdul:
        return [(path, hdul["FLUX"].header["NAXIS2"])]
