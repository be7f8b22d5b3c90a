"""Two whole-array passes that NumPy makes slow on the encode path: byte order and counts per row.

- :func:`to_native` turns an array read from a FITS file (big-endian) into native byte order
  in place. ``ndarray.byteswap(inplace=True)`` runs a generic strided loop; for 4-byte items
  (FLUX and WEIGHT are float32) the loop here is one that the compiler vectorises, several
  times faster (benchmarks/README.md). Other item sizes go through NumPy.
- :func:`count_per_row` counts the True values of each row of a boolean (N, D) array:
  ``np.count_nonzero(mask, axis=1)`` first casts every element to an 8-byte integer.

Both give exactly what NumPy gives (tests/data/test_arraykernels.py). Shapes: N rows, D columns.
"""
import numba
import numpy as np

__all__ = ["to_native", "count_per_row"]

_jit = numba.njit(cache=True, nogil=True)


def _swap_words(words):
    """Reverse the 4 bytes of each uint32 of ``words`` (W,) in place."""
    for i in range(words.shape[0]):
        v = words[i]
        words[i] = ((v >> 24) & 0xFF) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | ((v << 24) & 0xFF000000)


def _count_per_row(mask):
    """(N,) int64: the True values in each row of ``mask`` (N, D) bool."""
    counts = np.empty(mask.shape[0], np.int64)
    for n in range(mask.shape[0]):
        c = 0
        for d in range(mask.shape[1]):
            c += mask[n, d]
        counts[n] = c
    return counts


_swap_words_jit = _jit(_swap_words)
_count_per_row_jit = _jit(_count_per_row)


def to_native(values):
    """``values`` in native byte order: the same buffer, its bytes swapped in place if they were not.

    Parameters
    ----------
    values : ndarray, writeable; a C-contiguous one with 4-byte items takes the fast loop.

    Returns
    -------
    ndarray viewing the same memory with the native-order dtype (``values`` itself if already native).
    """
    if values.dtype.isnative:                                          # also every 1-byte dtype
        return values
    native = values.dtype.newbyteorder("=")
    if values.dtype.itemsize == 4 and values.flags.c_contiguous and values.flags.writeable:
        _swap_words_jit(values.reshape(-1).view(np.uint32))
        return values.view(native)
    return values.byteswap(inplace=True).view(native)


def count_per_row(mask):
    """(N,) int64: how many values of each row of ``mask`` (N, D) are True; ``np.count_nonzero(mask, axis=1)``."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.ndim != 2:
        return np.count_nonzero(mask, axis=1)
    return _count_per_row_jit(mask)
