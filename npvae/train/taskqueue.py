"""The helper thread's task queue: atomic counters, a cblas gemm called by address, running tasks.

The two threads of the training step (npvae.train.offload) meet here. The queue is a table of
task rows in a NumPy array (a GEMM on addresses, or an Adam update of a slice of the flat
parameter buffers, and the numbers of up to two tasks it waits for); the threads claim tasks in
order through counters in another array (posted, claimed, done), read and written with atomic
operations in Numba code. Handing over a task costs well under a microsecond; a Python queue or
event costs tens (benchmarks/README.md, "A second thread for the training step").

Shapes: A (M, K) and B (K, N) operands, C (M, N), P parameters in the flat buffers.
"""
import ctypes
import os
import threading

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic
from threadpoolctl import threadpool_info

from ..nn import kernels

CAPACITY = 256               # task rows in the queue (a step posts about 20; one is reused once done)
SPIN_LIMIT = 1 << 16         # empty polls before the helper sleeps (a few milliseconds)
PATIENCE = 1 << 20           # polls (about a millisecond) the main thread waits for an unclaimed task
DEPS = (12, 13)              # the task row's columns holding the tasks it waits for (-1: none)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112       # cblas enums
GEMM, ADAM = 1, 2                                # task kinds
POSTED, NEXT, DONE, STOP, SLEEPING, N_BAD = range(6)   # ``ctl``: posted, claimed, done, flags, bad count


# --- atomics: how the two threads see each other's counters -----------------------------------
def _item_pointer(context, builder, sig, args):
    ary = context.make_array(sig.args[0])(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])


@intrinsic
def _load(typingctx, arr, idx):
    """arr[idx] as an atomic load with acquire order (int64 array)."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_item_pointer(context, builder, sig, args), ordering="acquire", align=8)
    return types.int64(arr, idx), codegen


def _rmw_codegen(op):
    """Code for arr[idx] (op)= val as one sequentially consistent read-modify-write (a full barrier)."""
    def codegen(context, builder, sig, args):
        builder.atomic_rmw(op, _item_pointer(context, builder, sig, args), args[2], "seq_cst")
        return context.get_dummy_value()
    return codegen


@intrinsic
def _store(typingctx, arr, idx, val):
    """arr[idx] = val as an atomic exchange (a full barrier)."""
    return types.void(arr, idx, val), _rmw_codegen("xchg")


@intrinsic
def _gemm_at(typingctx, address, real, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc):
    """Call the cblas gemm at ``address`` (row-major, alpha 1, beta 0, 64-bit integers): sgemm or
    dgemm as ``real`` is a float32 or float64 scalar. Through an address, not a ctypes object,
    because Numba types a ctypes argument anew at every call (about 0.1 ms)."""
    def codegen(context, builder, sig, args):
        i32, i64, rty = ir.IntType(32), ir.IntType(64), context.get_value_type(sig.args[1])
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32] + [i64] * 3 + [rty] + [i64] * 4 + [rty] + [i64] * 2)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        enums = [ir.Constant(i32, ROW_MAJOR), builder.trunc(args[2], i32), builder.trunc(args[3], i32)]
        builder.call(fn, enums + list(args[4:7]) + [ir.Constant(rty, 1.0)] + list(args[7:11])
                     + [ir.Constant(rty, 0.0)] + list(args[11:13]))
        return context.get_dummy_value()
    ints = (types.int64,) * 11
    return types.void(address, real, *ints), codegen


@intrinsic
def _claim(typingctx, arr, idx, expected):
    """Atomically arr[idx] = expected + 1 if it still holds ``expected``; True if it did."""
    def codegen(context, builder, sig, args):
        one = context.get_constant(types.int64, 1)
        pair = builder.cmpxchg(_item_pointer(context, builder, sig, args), args[2], builder.add(args[2], one),
                               "seq_cst", "seq_cst")
        return builder.extract_value(pair, 1)
    return types.boolean(arr, idx, expected), codegen


@intrinsic
def _add(typingctx, arr, idx, val):
    """Atomically arr[idx] += val."""
    return types.void(arr, idx, val), _rmw_codegen("add")


# --- running tasks: the helper's loop, and the main thread helping while it waits -------------------
def _run_one(gemm, tasks, scalars, marks, ctl, p, g, m, v, hyper):
    """Claim the next posted task, wait for the tasks it depends on, run it; 1 if one ran, else 0.

    A GEMM row is a row-major cblas gemm (C = A B, alpha 1, beta 0) on addresses, the routine
    at address ``gemm`` (sgemm or dgemm, as the arrays are float32 or float64); an ADAM row is
    :func:`npvae.nn.kernels.adam_update` on the slice lo:hi of the flat p, g, m, v, with the
    step's lr_t and eps_t from ``scalars`` and beta1, 1 - beta1, beta2, 1 - beta2, tiny, huge
    from ``hyper`` (all in the arrays' dtype, as the kernel needs). ``marks[slot]`` becomes the
    task's number + 1 when it is done.
    """
    n = _load(ctl, NEXT)
    if n >= _load(ctl, POSTED) or not _claim(ctl, NEXT, n):
        return 0
    slot = n % CAPACITY
    row = tasks[slot]
    for col in range(12, 14):                             # DEPS
        dep = row[col]
        if dep >= 0:
            while _load(marks, dep % CAPACITY) <= dep:    # not done yet (a later occupant means done)
                pass
    if row[0] == GEMM:
        _gemm_at(gemm, hyper[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9],
                 row[10], row[11])
    else:
        lo, hi = row[1], row[2]
        n_bad = kernels._adam_update_jit(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], scalars[slot, 0], hyper[0],
                                         hyper[1], hyper[2], hyper[3], scalars[slot, 1], hyper[4], hyper[5])
        _add(ctl, N_BAD, n_bad)
    _store(marks, slot, n + 1)
    _add(ctl, DONE, 1)
    return 1


def _serve(gemm, tasks, scalars, marks, ctl, p, g, m, v, hyper):
    """The helper's loop: run tasks as they come; return after SPIN_LIMIT empty polls (having set
    SLEEPING) or when STOP is set."""
    idle = 0
    while True:
        if _run_one_jit(gemm, tasks, scalars, marks, ctl, p, g, m, v, hyper):
            idle = 0
            continue
        if _load(ctl, STOP):
            return
        idle += 1
        if idle < SPIN_LIMIT:
            continue
        _store(ctl, SLEEPING, 1)                     # then look once more: a post may have raced it
        if _load(ctl, NEXT) >= _load(ctl, POSTED):
            return
        _store(ctl, SLEEPING, 0)


def _await(task, patience, gemm, tasks, scalars, marks, ctl, p, g, m, v, hyper):
    """Wait until task number ``task`` is done (-1: every posted task).

    After ``patience`` polls this thread also runs the waiting tasks nobody has claimed yet (in
    queue order), so that a step ends even when the helper does not come. A task the helper has
    claimed is its to finish: running its neighbours' earlier would only move the helper's data
    to this thread's cache.
    """
    polls = 0
    while True:
        if task < 0:
            if _load(ctl, DONE) >= _load(ctl, POSTED):
                return
        elif _load(marks, task % CAPACITY) > task:
            return
        if polls < patience:
            polls += 1
        else:
            _run_one_jit(gemm, tasks, scalars, marks, ctl, p, g, m, v, hyper)


def _post(ctl, count):
    """Publish ``count`` posted tasks; returns 1 if the helper had gone to sleep (wake it)."""
    _store(ctl, POSTED, count)
    return _load(ctl, SLEEPING)


def _wait_slot(marks, task):
    """Spin until task number ``task`` is done (before its ring slot is written again)."""
    while _load(marks, task % CAPACITY) <= task:
        pass


_JIT = {"nogil": True, "cache": True, "error_model": "numpy"}
_post_jit = numba.njit(**_JIT)(_post)
_wait_slot_jit = numba.njit(**_JIT)(_wait_slot)
_run_one_jit = numba.njit(**_JIT)(_run_one)
_serve_jit = numba.njit(**_JIT)(_serve)
_await_jit = numba.njit(**_JIT)(_await)


# --- NumPy's OpenBLAS, called directly by the helper ---------------------------------------------
def _find_cblas():
    """(sgemm, dgemm) ctypes functions of NumPy's OpenBLAS, or None if they cannot be found.

    NumPy's wheels ship OpenBLAS with prefixed, suffixed names (``scipy_cblas_sgemm64_``) and
    64-bit integers; ``openblas_get_config`` says whether its integers are 64-bit (required).
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
    """The two gemm functions under one naming scheme, or None (not there, or 32-bit integers)."""
    try:
        funcs = [getattr(lib, f"{prefix}cblas_{t}gemm{suffix}") for t in "sd"]
        config = getattr(lib, f"{prefix}openblas_get_config{suffix}", None) or lib.openblas_get_config
    except AttributeError:
        return None
    config.restype = ctypes.c_char_p
    if b"USE64BITINT" not in config():       # the calls pass 64-bit integers (NumPy's own wheels' build)
        return None
    return tuple(funcs)


_cblas = []


def _cblas_once():
    """:func:`_find_cblas`, looked up once per process."""
    if not _cblas:
        _cblas.append(_find_cblas())
    return _cblas[0]


def offload_available():
    """True when ``fit`` can use the helper thread: NumPy's BLAS is an OpenBLAS with the cblas
    gemm symbols, this is the main thread, and the process may run on at least 2 CPUs."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return cpus >= 2 and threading.current_thread() is threading.main_thread() and _cblas_once() is not None


def _operand(x):
    """(trans, leading dimension) of a 2-D block for row-major cblas, or None.

    NO_TRANS for rows of unit-stride elements (a C-ordered array or a block of one), TRANS for
    a transposed one; the leading dimension is the other stride, in elements.
    """
    if any(st % x.itemsize for st in x.strides):
        return None
    s0, s1 = (st // x.itemsize for st in x.strides)
    if s1 == 1 and s0 >= max(x.shape[1], 1):
        return NO_TRANS, s0
    if s0 == 1 and s1 >= max(x.shape[0], 1):
        return TRANS, s1
    return None


def _store_one(ctl, idx, value):
    """ctl[idx] = value, atomically: the intrinsic, callable from Python."""
    _store(ctl, idx, value)


_store_jit = numba.njit(**_JIT)(_store_one)
