"""A second thread for the training step: each thread owns half of every large layer.

The step's data are of two kinds: the parameters, their gradients and Adam's moments (about 24 MB
for the paper's model), read and rewritten every step, and the activations and their gradients
(a few hundred kB). On a machine whose two CPUs share no cache (on these EPYC hosts, two cores on
different CCDs), a cache line that one thread has read and the other then rewrites costs a trip
across the chip, and rewriting the 2.8 MB output layer that way costs milliseconds
(benchmarks/README.md, "The slow mode explained"). So the training loop (``fit(offload=True)``)
splits the work by ownership: in every large layer (a weight matrix of at least OWN_MIN_WEIGHTS
entries) the helper thread owns the rows of W from a split point on (the layer's inputs s:)
and the bias, the main thread the first rows. Each thread alone reads, differentiates and updates
what it owns; only activations and gradients of activations pass between the threads:

- forward, ``y = x W``: each thread forms the partial product of its rows,
  ``x[:, :s] W[:s]`` and ``x[:, s:] W[s:]``, and the main thread adds the two;
- backward: each thread forms its columns of ``dx = dy W^T`` (the main thread waits for the
  helper's, the layer below needs them all), then its rows of ``dW = x^T dy``, then the Adam
  update of what it owns; the helper's update of a layer runs after its own dx and dW of that layer;
- small layers, the loss and everything else stay on the main thread; BLAS runs single-threaded,
  and the step ends when the helper's queue is empty.

The numbers are the one-thread step's up to rounding: the forward sum is split in two and
added, so float32 weights differ from the one-thread step's in the last bits, and Adam carries
such differences on (tests/train/test_offload.py compares at 1e-5 (float32) and 1e-12
(float64) relative, where a race would show at the scale of a learning-rate step).

The queue is a table of task rows in a NumPy array; the threads claim tasks in order through
counters in another (posted, claimed, done), read and written with atomic operations in Numba
code; a task waits for up to two earlier ones. The helper polls while it waits and sleeps on a
``threading.Event`` after a few milliseconds with nothing to do (validation, checkpoints). A
main thread that has waited PATIENCE cycles for a task nobody has claimed runs waiting tasks
itself, so a helper that the host does not run slows the step down but never stalls it. Handing
over a task costs well under a microsecond; a Python queue or event costs tens
(benchmarks/README.md, "A second thread for the training step").

Shapes: A (M, K) and B (K, N) operands, C (M, N), P parameters in the flat buffers; a layer's
W is (K, N) with K inputs and N outputs, B the batch.
"""
import ctypes
import os
import threading

import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.extending import intrinsic
from threadpoolctl import threadpool_info, threadpool_limits

from ..nn import kernels
from ..nn.adam import flat_base

__all__ = ["Offload", "offload_available", "OWN_MIN_WEIGHTS"]

OWN_MIN_WEIGHTS = 1 << 12    # layers with fewer weights (K N) stay whole on the main thread
ALIGN = 16                   # split points at multiples of 16 rows
CAPACITY = 256               # task rows in the queue (a step posts about 20; one is reused once done)
SPIN_LIMIT = 1 << 16         # empty polls before the helper sleeps (a few milliseconds)
PATIENCE = 1 << 21           # cycles (about a millisecond) the main thread waits for an unclaimed task
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


@intrinsic
def _cycles(typingctx):
    """The CPU's cycle counter (llvm.readcyclecounter: the time-stamp counter on x86)."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), []),
                                            "llvm.readcyclecounter")
        return builder.call(fn, [])
    return types.int64(), codegen


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

    After ``patience`` cycles this thread also runs the waiting tasks nobody has claimed yet (in
    queue order), so that a step ends even when the helper does not come. A task the helper has
    claimed is its to finish: running its neighbours' earlier would only move the helper's data
    to this thread's cache.
    """
    start = _cycles()
    while True:
        if task < 0:
            if _load(ctl, DONE) >= _load(ctl, POSTED):
                return
        elif _load(marks, task % CAPACITY) > task:
            return
        if _cycles() - start > patience:
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


def _split_point(size):
    """Where to cut ``size`` rows in two: near half, at a multiple of ALIGN."""
    return min(size, -(-(size // 2) // ALIGN) * ALIGN)


def _owned_rows(W):
    """The main thread's rows of W (K, N): W[:s] is its, W[s:] and the bias the helper's
    (s = K: the whole layer is the main thread's)."""
    k, n = W.shape
    return _split_point(k) if k * n >= OWN_MIN_WEIGHTS else k


def _dx_operands(dy, W, dx):
    """(A, B, C) of dx = dy W^T for :meth:`Offload._push_gemm`: formed as dx^T = W dy^T when dx is
    the transposed view of a C-ordered (I, B) buffer (as :func:`npvae.nn.layers.input_grad`)."""
    if dx.T.flags.c_contiguous and not dx.flags.c_contiguous:
        return W, dy.T, dx.T
    return dy, W.T, dx


class Offload:
    """The helper thread and its queue, for one training run (a context manager).

    Parameters
    ----------
    params, grads : dict of ndarray
        The model's parameters and the gradient buffers, each a tiling of one flat buffer with
        ``name.W`` followed by ``name.b`` (what :class:`npvae.nn.model.InfoVAE` allocates).
    opt : npvae.nn.adam.Adam
        Its moments ``m``, ``v`` and hyper-parameters; the step count stays the optimiser's.

    Inside the context the helper serves the queue; on exit it is stopped and joined. Steps run
    inside :meth:`single_blas` (BLAS single-threaded, for the whole process: the two threads
    are the step's); :meth:`begin` before a step's ``loss_and_grads(..., products=offload)``,
    :meth:`finish` after it.
    """

    def __init__(self, params, grads, opt):
        self.p = flat_base(list(params.values()))                       # (P,)
        self.g = flat_base(list(grads.values()))                        # (P,)
        if self.p is None or self.g is None or _cblas_once() is None:
            raise ValueError("Offload needs flat parameter and gradient buffers and NumPy's OpenBLAS")
        self.opt, self.dtype = opt, self.p.dtype
        self.item = self.dtype.itemsize
        self.slices = self._layer_slices(grads)                         # dW address -> (lo, hi)
        self.tasks = np.zeros((CAPACITY, 14), np.int64)                # kind, fields, the tasks it waits for
        self.scalars = np.zeros((CAPACITY, 2), self.dtype)              # lr_t, eps_t per task
        self.marks = np.zeros(CAPACITY, np.int64)                       # task number + 1 once done
        self.ctl = np.zeros(8, np.int64)
        self.posted, self.keep, self.lr_eps, self.n_bad = 0, [], (0.0, 0.0), 0
        self.partials = {}                                              # (W address, shape) -> (B, N)
        info = np.finfo(self.dtype)
        b1, b2, tiny, huge = kernels._cast_scalars(self.p, opt.beta1, opt.beta2, info.tiny, info.max)
        self.hyper = np.array([b1, 1 - b1, b2, 1 - b2, tiny, huge], self.dtype)   # as kernels.adam_update
        gemm = _cblas_once()[self.dtype.itemsize == 8]
        self.queue = (ctypes.cast(gemm, ctypes.c_void_p).value, self.tasks, self.scalars, self.marks,
                      self.ctl, self.p, self.g, opt.m, opt.v, self.hyper)   # what running a task needs
        self.wake = threading.Event()
        self.thread = None

    def _layer_slices(self, grads):
        """{address of dW: (lo, hi)}: the flat slice of a layer's W and b, which follow each other."""
        keys, base = list(grads), self.g.ctypes.data
        out = {}
        for key, nxt in zip(keys, keys[1:]):
            if key.endswith(".W") and nxt == key[:-2] + ".b":
                lo = (grads[key].ctypes.data - base) // self.item
                hi = (grads[nxt].ctypes.data - base) // self.item + grads[nxt].size
                out[grads[key].ctypes.data] = (lo, hi)
        return out

    # --- the helper's life ----------------------------------------------------------------------
    def __enter__(self):
        self.thread = threading.Thread(target=self._run, name="npvae-offload", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.finish()
        _store_jit(self.ctl, STOP, 1)
        self.wake.set()
        self.thread.join()
        return False

    @staticmethod
    def single_blas():
        """A context in which BLAS runs on one thread (threadpoolctl), for a run of steps."""
        return threadpool_limits(limits=1, user_api="blas")

    def _run(self):
        while True:
            _serve_jit(*self.queue)
            if self.ctl[STOP]:
                return
            self.wake.wait()
            self.wake.clear()
            _store_jit(self.ctl, SLEEPING, 0)

    def _push(self, kind, fields, keep, after=()):
        """Write a task row (to run once the tasks numbered in ``after``, at most two, are done),
        publish it, keep its arrays alive until :meth:`finish`; returns its task number."""
        task = self.posted
        if task >= CAPACITY:
            _wait_slot_jit(self.marks, task - CAPACITY)          # the slot's last occupant is done
        row = task % CAPACITY
        self.tasks[row, 0] = kind
        self.tasks[row, 1:1 + len(fields)] = fields
        self.tasks[row, DEPS[0]:] = -1
        self.tasks[row, DEPS[0]:DEPS[0] + len(after)] = after
        self.scalars[row] = self.lr_eps
        self.keep.extend(keep)
        self.posted += 1
        if _post_jit(self.ctl, self.posted):
            self.wake.set()
        return task

    def _push_gemm(self, a, b, c):
        """Post C = A B (blocks that :func:`_operand` accepts, C not transposed); its task number."""
        (ta, lda), (tb, ldb), (_, ldc) = _operand(a), _operand(b), _operand(c)
        return self._push(GEMM, (ta, tb, c.shape[0], c.shape[1], a.shape[1], a.ctypes.data, lda,
                                 b.ctypes.data, ldb, c.ctypes.data, ldc), (a, b, c))

    # --- what a step calls ---------------------------------------------------------------------
    def begin(self, lr_t, eps_t):
        """Start a step whose Adam updates use the bias-corrected ``lr_t``, ``eps_t`` (Adam.start_step)."""
        self.lr_eps = (lr_t, eps_t)

    def finish(self):
        """Wait for every posted task; return the count of non-finite second moments of the step."""
        _await_jit(-1, PATIENCE, *self.queue)
        n_bad = int(self.ctl[N_BAD]) + self.n_bad
        self.ctl[N_BAD], self.n_bad = 0, 0
        self.keep.clear()
        return n_bad

    def _await(self, task):
        _await_jit(task, PATIENCE, *self.queue)

    def forward(self, x, W, out):
        """out = x W (B, N): the partial product of the helper's rows of W on the helper, the main
        thread's here, then added (paper eqs. 1 and 4; docs/derivations/linear.md)."""
        s = _owned_rows(W)
        if s >= W.shape[0] or _operand(x) is None or _operand(W) is None:
            return np.matmul(x, W, out=out)
        key = (W.ctypes.data, out.shape)
        if key not in self.partials:
            self.partials[key] = np.empty(out.shape, self.dtype)
        part = self.partials[key]                                     # (B, N)
        task = self._push_gemm(x[:, s:], W[s:], part)
        np.matmul(x[:, :s], W[:s], out=out)
        self._await(task)
        out += part
        return out

    def backward(self, xt, dy, W, dW, dx_out=None, need_dx=True):
        """A layer's dx = dy W^T (returned), dW = x^T dy and its Adam update (W and b), by owner.

        ``xt`` (K, B) is the layer's input transposed, ``dy`` (B, N) the pre-activation gradient,
        with db already in the gradient buffer after ``dW``; ``dx_out``: as for
        :func:`npvae.nn.layers.linear_act_backward`. The helper forms its columns of dx, then its
        rows of dW, then updates its rows and the bias; this thread forms its columns of dx,
        waits for the helper's (the layer below needs them all), then does its own rows.
        """
        k, n = W.shape
        s = _owned_rows(W)
        lo, hi = self.slices[dW.ctypes.data]
        cut = lo + s * n if s < k else hi                             # this thread's [lo, cut), the helper's [cut, hi)
        dx = None
        if need_dx:
            dx = dx_out if dx_out is not None else np.empty((dy.shape[0], k), self.dtype)   # (B, K)
        if s < k:
            after = (self._push_gemm(*_dx_operands(dy, W[s:], dx[:, s:])),) if need_dx else ()
            after += (self._push_gemm(xt[s:], dy, dW[s:]),)
            self._push(ADAM, (cut, hi), (), after=after)
        if need_dx:
            a, b, c = _dx_operands(dy, W[:s], dx[:, :s])
            np.matmul(a, b, out=c)
            if s < k:
                self._await(after[0])
        np.matmul(xt[:s], dy, out=dW[:s])
        lr_t, eps_t = self.lr_eps
        mine = slice(lo, cut)
        self.n_bad += kernels.adam_update(self.p[mine], self.g[mine], self.opt.m[mine], self.opt.v[mine], lr_t,
                                          self.opt.beta1, self.opt.beta2, eps_t)
        return dx


def _store_one(ctl, idx, value):
    """ctl[idx] = value, atomically: the intrinsic, callable from Python."""
    _store(ctl, idx, value)


_store_jit = numba.njit(**_JIT)(_store_one)
