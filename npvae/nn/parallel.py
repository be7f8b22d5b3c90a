"""One thread pool for the training step: matrix products and the Adam pass split into parts.

A training step of the paper's model is 20 matrix products with single-threaded passes between
them, the Adam pass over the 1.5 million parameters above all. Left to BLAS, each product is
threaded inside the BLAS call while everything else runs on one core, and BLAS's idle workers
spin between products (benchmarks/README.md). Here, while :func:`training_threads` is active,

- a large product is split into P parts along the longer side of its output, each part one
  single-threaded BLAS call (cblas ``gemm`` of NumPy's own OpenBLAS), run by Numba's thread pool;
- the Adam pass is split into P slices of the flat buffers the same way;
- BLAS itself runs single-threaded, so one pool of P threads serves the whole step.

Each output element is still computed by one single-threaded BLAS call over the whole inner
dimension, and Adam is elementwise, so no sum is reordered across parts (tests/nn/test_parallel.py
compares the split product with NumPy's to rounding). Outside the context, and wherever it
cannot apply (no OpenBLAS with the cblas symbols, Numba without a fast thread pool, a thread
other than the main one, one thread), :func:`matmul` is ``np.matmul`` and :func:`adam_update`
is :func:`npvae.nn.kernels.adam_update`, unchanged.

Shapes: A (M, K) and B (K, N) operands, C (M, N) output, P parts, and the flat Adam buffers (P,).
"""
import contextlib
import ctypes
import threading

import numba
import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import kernels

__all__ = ["matmul", "adam_update", "training_threads", "pool_size", "SPLIT_MIN_MACS"]

SPLIT_MIN_MACS = 1 << 18     # products with fewer multiply-adds (M N K) stay in one BLAS call
ALIGN = 16                   # part boundaries at multiples of 16 elements: 64-byte lines in float32
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112      # the cblas enums
_PARALLEL_JIT = {"cache": True, "nogil": True, "parallel": True, "error_model": "numpy"}
_state = {"active": False, "parts": 1}


# --- the single-threaded BLAS calls, found in NumPy's OpenBLAS -------------------------------------
def _find_cblas():
    """(sgemm, dgemm) ctypes functions of NumPy's OpenBLAS, or None if they cannot be found.

    NumPy's wheels ship OpenBLAS with prefixed, suffixed names (``scipy_cblas_sgemm64_``) and
    64-bit integers; ``openblas_get_config`` says whether its integers are 64-bit.
    """
    for info in threadpool_info():
        if info.get("internal_api") != "openblas":
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
        except OSError:
            continue
        for prefix in ("scipy_", ""):
            for suffix in ("64_", "_64", ""):
                found = _bind(lib, prefix, suffix)
                if found is not None:
                    return found
    return None


def _bind(lib, prefix, suffix):
    """The two gemm functions under one naming scheme, with their argument types, or None."""
    try:
        names = [f"{prefix}cblas_{t}gemm{suffix}" for t in "sd"]
        funcs = [getattr(lib, name) for name in names]
        config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None) or lib.openblas_get_config
    except AttributeError:
        return None
    config.restype = ctypes.c_char_p
    blas_int = ctypes.c_int64 if b"USE64BITINT" in config() else ctypes.c_int32
    # Pointers are passed as 64-bit integers (the same registers in every 64-bit calling
    # convention), so that the Numba kernels can offset them.
    ptr = ctypes.c_int64
    for func, real in zip(funcs, (ctypes.c_float, ctypes.c_double)):
        func.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, blas_int, blas_int, blas_int, real,
                         ptr, blas_int, ptr, blas_int, real, ptr, blas_int]
        func.restype = None
    return tuple(funcs)


# --- the split kernels ---------------------------------------------------------------------------
def _split_gemm(gemm, parts, step, by_rows, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc, itemsize):
    """C = A B in ``parts`` pieces of ``step`` rows (``by_rows``) or columns of C, one per thread.

    Row-major cblas ``gemm`` with A (M, K) read transposed when ``trans_a`` is TRANS (and B
    likewise); a, b, c are the arrays' addresses, lda, ldb, ldc their row strides in elements.
    Rows lo:hi of C need rows lo:hi of A; columns lo:hi of C need columns lo:hi of B.
    """
    for t in numba.prange(parts):
        lo = t * step
        hi = min(lo + step, m if by_rows else n)
        if lo < hi:
            if by_rows:
                a_off = lo * (lda if trans_a == NO_TRANS else 1) * itemsize
                gemm(ROW_MAJOR, trans_a, trans_b, hi - lo, n, k, 1.0, a + a_off, lda, b, ldb,
                     0.0, c + lo * ldc * itemsize, ldc)
            else:
                b_off = lo * (1 if trans_b == NO_TRANS else ldb) * itemsize
                gemm(ROW_MAJOR, trans_a, trans_b, m, hi - lo, k, 1.0, a, lda, b + b_off, ldb,
                     0.0, c + lo * itemsize, ldc)


def _split_adam(parts, step, p, g, m, v, lr_t, beta1, c1, beta2, c2, eps_t, tiny, huge):
    """The Adam pass of :func:`npvae.nn.kernels.adam_update` over ``parts`` slices of ``step``
    entries, one per thread; returns the summed count of non-finite second moments."""
    n_bad = 0
    for t in numba.prange(parts):
        lo = t * step
        hi = min(lo + step, p.shape[0])
        n_bad += kernels._adam_update_jit(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], lr_t, beta1, c1,
                                          beta2, c2, eps_t, tiny, huge)
    return n_bad


# One dispatcher per real type: Numba's dispatcher takes the float32 and the float64 gemm pointers
# for one type and would call whichever it compiled first.
_split_gemm_jit = {np.dtype(np.float32): numba.njit(**_PARALLEL_JIT)(_split_gemm),
                   np.dtype(np.float64): numba.njit(**_PARALLEL_JIT)(_split_gemm)}
_split_adam_jit = numba.njit(**_PARALLEL_JIT)(_split_adam)


def _part_step(size, parts):
    """Entries per part: size / parts rounded up to a multiple of ALIGN."""
    per_part = -(-size // parts)
    return -(-per_part // ALIGN) * ALIGN


# --- the public functions ---------------------------------------------------------------------------
def matmul(a, b, out=None):
    """``np.matmul(a, b, out=out)`` for 2-D a (M, K), b (K, N); split over the pool while
    :func:`training_threads` is active and the product is large enough.

    Split when a and b are float32 or float64 of one dtype, each C- or F-contiguous (a transposed
    view is read as such), ``out`` is a C-contiguous (M, N) array of that dtype (or None), and
    M N K >= SPLIT_MIN_MACS. Paper eqs. 1 and 3-7 do all their products through this.
    """
    parts = _state["parts"]
    if parts < 2 or not _splittable(a, b, out):
        return np.matmul(a, b, out=out)
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), a.dtype)                                 # (M, N)
    trans_a, lda = _blas_operand(a)
    trans_b, ldb = _blas_operand(b)
    by_rows = m > n
    step = _part_step(m if by_rows else n, parts)
    gemm = _state["gemm"][a.dtype.itemsize == 8]
    _split_gemm_jit[a.dtype](gemm, parts, step, by_rows, trans_a, trans_b, m, n, k, a.ctypes.data, lda,
                    b.ctypes.data, ldb, out.ctypes.data, n, a.dtype.itemsize)
    return out


def _splittable(a, b, out):
    """True when the product of a and b into out can go to the split kernel (see :func:`matmul`)."""
    dtype = a.dtype
    if dtype not in (np.float32, np.float64) or b.dtype != dtype or a.ndim != 2 or b.ndim != 2:
        return False
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or m * n * k < SPLIT_MIN_MACS:
        return False
    if out is not None and (out.dtype != dtype or out.shape != (m, n) or not out.flags.c_contiguous):
        return False
    return _blas_operand(a) is not None and _blas_operand(b) is not None


def _blas_operand(x):
    """(trans, leading dimension) of a 2-D operand for row-major cblas, or None if neither x nor
    x.T is C-contiguous."""
    if x.flags.c_contiguous:
        return NO_TRANS, max(x.shape[1], 1)
    if x.T.flags.c_contiguous:
        return TRANS, max(x.shape[0], 1)
    return None


def adam_update(p, g, m, v, lr_t, beta1, beta2, eps_t):
    """:func:`npvae.nn.kernels.adam_update` over flat p, g, m, v (P,), split over the pool while
    :func:`training_threads` is active. Returns the count of non-finite second moments."""
    parts = _state["parts"]
    if parts < 2 or p.shape[0] < parts * ALIGN:
        return kernels.adam_update(p, g, m, v, lr_t, beta1, beta2, eps_t)
    info = np.finfo(p.dtype)
    lr_t, b1, b2, eps_t, tiny, huge = kernels._cast_scalars(p, lr_t, beta1, beta2, eps_t, info.tiny, info.max)
    step = _part_step(p.shape[0], parts)
    return int(_split_adam_jit(parts, step, p, g, m, v, lr_t, b1, 1 - b1, b2, 1 - b2, eps_t, tiny, huge))


def pool_size():
    """Threads the pool would use: Numba's thread count, when its threading layer is a fast one
    (OpenMP or TBB) and NumPy's OpenBLAS has the cblas symbols; else 1 (nothing is split)."""
    if _find_cblas_once() is None:
        return 1
    _split_adam_jit(1, ALIGN, *(np.zeros(ALIGN, np.float32) for _ in range(4)),
                    *(np.float32(x) for x in (0, 0.9, 0.1, 0.999, 0.001, 1e-8, 1e-38, 1e38)))   # starts the pool
    if numba.threading_layer() not in ("omp", "tbb"):    # the workqueue layer wakes threads too slowly
        return 1
    return numba.get_num_threads()


_found = []


def _find_cblas_once():
    """:func:`_find_cblas`, looked up once per process."""
    if not _found:
        _found.append(_find_cblas())
    return _found[0]


@contextlib.contextmanager
def training_threads(threads=None):
    """Within this context, products and the Adam pass are split over the pool (see the module).

    ``threads``: how many parts (default :func:`pool_size`). BLAS runs single-threaded inside the
    context (``threadpoolctl``), for the whole process. Nothing changes, and it yields 1, outside
    the main thread, with fewer than 2 threads, or when the pool cannot be used; otherwise it
    yields the number of parts. Not re-entrant: an inner context leaves the outer one as it is.
    """
    parts = pool_size() if threads is None else int(threads)
    if (_state["active"] or parts < 2 or threading.current_thread() is not threading.main_thread()
            or _find_cblas_once() is None):
        yield 1
        return
    with threadpool_limits(limits=1, user_api="blas"):
        _state.update(active=True, parts=parts, gemm=_find_cblas_once())
        try:
            yield parts
        finally:
            _state.update(active=False, parts=1)
