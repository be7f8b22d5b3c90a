"""npvae.data.arraykernels against NumPy's own byteswap and count_nonzero, jitted and plain."""
import numpy as np
import pytest

from npvae.data import arraykernels
from npvae.data.arraykernels import count_per_row, to_native


@pytest.mark.parametrize("dtype", [">f4", ">i4", ">u4", ">f8", ">i8", ">i2", "u1", "<f4", "=f8"])
def test_to_native_reads_the_values_numpy_reads(dtype):
    rng = np.random.default_rng(0)
    values = (rng.standard_normal((37, 11)) * 1e3).astype(dtype)             # odd sizes: no tail left out
    expected = values.astype(np.dtype(dtype).newbyteorder("="))
    raw = values.copy()
    out = to_native(raw)
    assert out.dtype.isnative and out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    assert np.shares_memory(out, raw)                                          # in place, no copy


def test_to_native_of_a_strided_or_read_only_array_still_swaps_correctly():
    values = np.arange(60, dtype=">f4").reshape(6, 10)
    strided = values.copy()[:, ::3]                                            # not contiguous: NumPy's path
    np.testing.assert_array_equal(to_native(strided), np.arange(60.0).reshape(6, 10)[:, ::3])
    frozen = values.copy()
    frozen.flags.writeable = False
    with pytest.raises(ValueError):                                            # as ndarray.byteswap(inplace=True)
        to_native(frozen)


def test_the_plain_python_swap_is_the_kernel_numba_compiles():
    words = np.random.default_rng(1).integers(0, 2**32, 257, dtype=np.uint64).astype(np.uint32)
    expected = words.byteswap()
    arraykernels._swap_words(words)                                            # the body, not jitted
    np.testing.assert_array_equal(words, expected)


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (1, 1), (300, 1000)])
def test_count_per_row_is_count_nonzero(shape):
    mask = np.random.default_rng(2).random(shape) < 0.3
    expected = np.count_nonzero(mask, axis=1)
    np.testing.assert_array_equal(count_per_row(mask), expected)
    np.testing.assert_array_equal(arraykernels._count_per_row(mask), expected)
    assert count_per_row(mask).dtype == expected.dtype


def test_count_per_row_of_a_non_contiguous_or_non_bool_array():
    mask = np.random.default_rng(3).random((20, 30)) < 0.5
    np.testing.assert_array_equal(count_per_row(mask[:, ::2]), np.count_nonzero(mask[:, ::2], axis=1))
    ints = mask.astype(np.uint8) * 7
    np.testing.assert_array_equal(count_per_row(ints), np.count_nonzero(ints, axis=1))
