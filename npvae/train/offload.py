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

The helper serves a queue of tasks (:mod:`npvae.train.taskqueue`: matrix products and Adam
updates, each waiting for up to two earlier ones) and sleeps on a ``threading.Event`` after a few
milliseconds with nothing to do (validation, checkpoints). A main thread that has waited PATIENCE
polls for a task nobody has claimed runs waiting tasks itself, so a helper that the host does
not run slows the step down but never stalls it.

Shapes: a layer's W is (K, N) with K inputs and N outputs, x (B, K), y (B, N), B the batch;
P parameters in the flat buffers.
"""
import ctypes
import threading

import numpy as np
from threadpoolctl import threadpool_limits

from ..nn import kernels
from ..nn.adam import flat_base
from ..nn.layers import input_grad_operands
from .taskqueue import (ADAM, CAPACITY, DEPS, GEMM, N_BAD, PATIENCE, SLEEPING, STOP, _await_jit, _cblas_once,
                        _operand, _post_jit, _serve_jit, _store_jit, _wait_slot_jit, offload_available)

__all__ = ["Offload", "offload_available", "OWN_MIN_WEIGHTS"]

OWN_MIN_WEIGHTS = 1 << 12    # layers with fewer weights (K N) stay whole on the main thread
ALIGN = 16                   # split points at multiples of 16 rows


def _split_point(size):
    """Where to cut ``size`` rows in two: near half, at a multiple of ALIGN."""
    return min(size, -(-(size // 2) // ALIGN) * ALIGN)


def _owned_rows(W):
    """The main thread's rows of W (K, N): W[:s] is its, W[s:] and the bias the helper's
    (s = K: the whole layer is the main thread's)."""
    k, n = W.shape
    return _split_point(k) if k * n >= OWN_MIN_WEIGHTS else k


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
            after = (self._push_gemm(*input_grad_operands(dy, W[s:], dx[:, s:])),) if need_dx else ()
            after += (self._push_gemm(xt[s:], dy, dW[s:]),)
            self._push(ADAM, (cut, hi), (), after=after)
        if need_dx:
            a, b, c = input_grad_operands(dy, W[:s], dx[:, :s])
            np.matmul(a, b, out=c)
            if s < k:
                self._await(after[0])
        np.matmul(xt[:s], dy, out=dW[:s])
        lr_t, eps_t = self.lr_eps
        mine = slice(lo, cut)
        self.n_bad += kernels.adam_update(self.p[mine], self.g[mine], self.opt.m[mine], self.opt.v[mine], lr_t,
                                          self.opt.beta1, self.opt.beta2, eps_t)
        return dx
