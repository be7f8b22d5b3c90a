"""The training step's helper thread (npvae.train.offload) computes what the one-thread step does.

Anchors: NumPy's own matrix product for every split and layout, and the plain one-thread step
(products by NumPy, Adam after the backward pass) for whole training steps and whole fits. A
race (an Adam update reading or writing weights that the main thread still reads, a product
read before the helper wrote it) would show as differences of the order of the learning rate,
far above the rounding tolerances used here.
"""
import contextlib
import os
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import npvae
from npvae.nn.adam import Adam
from npvae.nn.layers import input_grad_operands
from npvae.train import offload as off_mod
from npvae.train import taskqueue as tq
from npvae.train import TrainingDiverged
from npvae.train.offload import Offload, offload_available
from _poison import poisoned

pytestmark = pytest.mark.skipif(not offload_available(), reason="needs NumPy's OpenBLAS and 2 CPUs")


def _model(dtype=np.float64, seed=3):
    """Big enough that its large layers are shared between the threads (K N >= OWN_MIN_WEIGHTS)."""
    return npvae.InfoVAE(200, (160, 32), 4, lam=3.0, dtype=dtype, seed=seed, n_prior=50)


def _data(n=256, d=200, seed=0):
    rng = np.random.default_rng(seed)
    X = 1 + 0.3 * rng.standard_normal((n, d))
    W = rng.uniform(0.5, 2.0, (n, d))
    W[rng.random((n, d)) < 0.05] = 0
    return X, W


def _steps(model, X, W, n_steps, helper, start_helper=True):
    """n_steps of the training step, with the helper thread or the plain one (BLAS on 1 thread).

    ``start_helper=False``: the queue without its helper thread (the main thread runs every task).
    """
    opt, grads = Adam(model.params, lr=3e-3), model.new_grads()
    rng = np.random.default_rng(7)
    model.mean_[...] = X.mean(0)
    totals = []
    off = Offload(model.params, grads, opt) if helper else None
    with threadpool_limits(limits=1), (off if helper and start_helper else contextlib.nullcontext()):
        for _ in range(n_steps):
            idx = rng.permutation(len(X))[:64]
            eps = rng.standard_normal((64, model.n_latent))
            prior = rng.standard_normal((model.n_prior, model.n_latent))
            if off is None:
                terms, _ = model.loss_and_grads(X[idx], W[idx], eps, prior, grads)
                assert opt.step(grads) == 0
            else:
                off.begin(*opt.start_step())
                terms, _ = model.loss_and_grads(X[idx], W[idx], eps, prior, grads, products=off)
                assert off.finish() == 0
            totals.append(terms["total"])
    return model.flat_params.copy(), opt.m.copy(), opt.v.copy(), np.array(totals)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_steps_with_the_helper_match_the_one_thread_steps(dtype, rtol):
    X, W = _data()
    plain = _steps(_model(dtype), X, W, 12, helper=False)
    helped = _steps(_model(dtype), X, W, 12, helper=True)
    for a, b in zip(plain, helped):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * np.abs(a).max())


def test_the_main_thread_does_every_task_itself_when_the_helper_never_comes():
    """While it waits, the main thread runs waiting tasks: with no helper thread at all the step
    still ends, with the same numbers (run in a thread, so that a hang fails instead of blocking)."""
    X, W = _data()
    plain = _steps(_model(), X, W, 3, helper=False)
    result = []
    worker = threading.Thread(target=lambda: result.append(_steps(_model(), X, W, 3, helper=True,
                                                                  start_helper=False)), daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert result, "the step never ended without its helper"
    for a, b in zip(plain, result[0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12 * np.abs(a).max())


def test_the_first_steps_change_the_weights_by_far_more_than_the_tolerance():
    """The comparison above can fail: one step of Adam moves the weights by ~lr, not ~rounding."""
    X, W = _data()
    start = _model().flat_params.copy()
    after = _steps(_model(), X, W, 1, helper=True)[0]
    assert np.abs(after - start).max() > 1e-3


@pytest.mark.parametrize("shape", [(64, 200, 160), (64, 32, 160), (160, 64, 200), (300, 64, 40), (64, 16, 40)])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True), (True, True)])
def test_forward_products_equal_numpys_for_every_layout(shape, ta, tb):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((k, m)).T if ta else rng.standard_normal((m, k))      # F- or C-ordered
    b = rng.standard_normal((n, k)).T if tb else rng.standard_normal((k, n))
    model = _model()
    opt = Adam(model.params)
    out = np.full((m, n), np.nan)
    with threadpool_limits(limits=1), Offload(model.params, model.new_grads(), opt) as helper:
        helper.forward(a, b, out)
        helper.finish()
    np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12)


def test_blocks_are_read_with_their_strides():
    x = np.zeros((10, 8))
    assert tq._operand(x) == (tq.NO_TRANS, 8)
    assert tq._operand(x.T) == (tq.TRANS, 8)
    assert tq._operand(x[2:, 3:]) == (tq.NO_TRANS, 8)                  # a block: leading dimension 8
    assert tq._operand(x.T[3:, 2:]) == (tq.TRANS, 8)
    assert tq._operand(x[:, ::2]) is None                              # no unit stride
    assert off_mod._split_point(1000) == 512 and off_mod._split_point(703) == 352
    assert off_mod._split_point(8) == 8                                # too small to split: all on one side
    assert off_mod._owned_rows(np.zeros((703, 1000))) == 352            # the helper owns rows 352-702
    assert off_mod._owned_rows(np.zeros((94, 6))) == 94                # a small layer: all the main thread's


def test_the_helper_updates_exactly_the_rows_it_owns_and_the_biases():
    """Ownership: the helper's Adam tasks of a step cover, for each large layer, its rows of W from
    the split point on and the bias, and nothing of the small layers (whose updates, and the
    first rows of the large ones, are the main thread's)."""
    model, (X, W) = _model(), _data()
    model.mean_[...] = X.mean(0)
    rng = np.random.default_rng(0)
    grads = model.new_grads()
    off = Offload(model.params, grads, Adam(model.params))
    with threadpool_limits(limits=1), off:
        off.begin(1e-3, 1e-8)
        model.loss_and_grads(X[:64], W[:64], rng.standard_normal((64, 4)), rng.standard_normal((50, 4)), grads,
                             products=off)
        assert off.finish() == 0
    posted = off.tasks[:off.posted]
    helper_slices = sorted((int(r[1]), int(r[2])) for r in posted if r[0] == tq.ADAM)
    base, item = off.p.ctypes.data, off.p.itemsize
    expected = []
    for name in ("enc1", "enc2", "mu", "logvar", "dec1", "dec2", "out"):
        w, b = model.params[f"{name}.W"], model.params[f"{name}.b"]
        if w.size >= off_mod.OWN_MIN_WEIGHTS:
            lo = (w.ctypes.data - base) // item
            expected.append((lo + off_mod._owned_rows(w) * w.shape[1], (b.ctypes.data - base) // item + b.size))
    assert len(expected) == 4 and helper_slices == sorted(expected)


def test_fit_gives_the_same_model_with_and_without_the_helper():
    X, W = _data(n=320)
    fits = []
    for helper in (True, False):
        model = _model(seed=5)
        with threadpool_limits(limits=1):
            model.fit(X[:256], W[:256], X[256:], W[256:], max_epochs=2, batch_size=64, verbose=False,
                      offload=helper, calibrate=False, polish=0)
        fits.append(model)
    np.testing.assert_allclose(fits[0].flat_params, fits[1].flat_params, rtol=1e-11, atol=1e-12)
    assert [h["val_total"] for h in fits[0].history_] == pytest.approx([h["val_total"] for h in fits[1].history_],
                                                                       rel=1e-11)


@pytest.mark.parametrize("key, index", [("out.W", (150, 7)), ("enc1.W", (3, 2)), ("out.b", (7,))])
def test_a_non_finite_gradient_met_by_either_threads_adam_stops_training(key, index):
    """Rows from the split point on and the bias are updated on the helper, the first rows on the
    main thread (out.W is (160, 200), split at row 80): either count of bad entries reaches fit."""
    X, W = _data(n=320)
    model = _model(np.float32, seed=5)
    model.loss_and_grads = poisoned(model.loss_and_grads, 3, key, index, np.nan)
    with pytest.raises(TrainingDiverged, match="epoch 1, step 3: gradient is nan"):
        model.fit(X[:256], W[:256], X[256:], W[256:], max_epochs=2, batch_size=64, verbose=False,
                  calibrate=False, polish=0, offload=True)
    assert len(model.loss_and_grads.calls) == 3 and np.isfinite(model.flat_params).all()


def _thread_cpu_seconds(native_id):
    """User + system CPU time of one thread of this process (Linux /proc)."""
    with open(f"/proc/self/task/{native_id}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_the_helper_sleeps_when_idle_wakes_for_work_and_stops_on_exit():
    model = _model()
    opt = Adam(model.params)
    a, b = np.random.default_rng(2).standard_normal((64, 200)), np.random.default_rng(3).standard_normal((200, 160))
    out = np.empty((64, 160))
    with threadpool_limits(limits=1), Offload(model.params, model.new_grads(), opt) as helper:
        t0 = time.perf_counter()                           # the spin before it sleeps: milliseconds (and
        while not helper.ctl[tq.SLEEPING] and time.perf_counter() - t0 < 5:    # 0.3 s to load the
            time.sleep(0.01)                               # compiled code, the first time in a process)
        assert helper.ctl[tq.SLEEPING] == 1
        try:
            cpu0 = _thread_cpu_seconds(helper.thread.native_id)
            time.sleep(0.3)
            assert _thread_cpu_seconds(helper.thread.native_id) - cpu0 < 0.05     # asleep, not spinning
        except FileNotFoundError:                          # no /proc: the flag above has to do
            pass
        helper.forward(a, b, out)                          # wakes it: a part of this product is its
        np.testing.assert_allclose(out, a @ b, rtol=1e-12, atol=1e-12 * np.abs(a @ b).max())
        thread = helper.thread
    assert not thread.is_alive()


def test_offload_is_only_offered_on_the_main_thread():
    seen = []
    worker = threading.Thread(target=lambda: seen.append(offload_available()))
    worker.start()
    worker.join()
    assert seen == [False] and offload_available()


def test_an_adam_task_waits_for_both_tasks_it_depends_on():
    """A layer's update on the helper waits for the helper's dx of that layer (the last read of
    its rows of W) and for its dW: a thread that claims the update while either still runs must
    wait."""
    model = _model()
    grads = model.new_grads()
    queue = Offload(model.params, grads, Adam(model.params))            # no helper thread started
    W, dW = model.params["out.W"], grads["out.W"]
    s = off_mod._owned_rows(W)
    assert 0 < s < W.shape[0]                                         # the helper owns rows of this layer
    lo, hi = queue.slices[dW.ctypes.data]
    dy, xt, dx = np.ones((64, W.shape[1])), np.ones((W.shape[0], 64)), np.empty((64, W.shape[0]))
    assert tq._run_one_jit(*queue.queue) == 0                    # nothing posted (and compiled now)
    queue.begin(1e-3, 1e-8)
    t_dx = queue._push_gemm(*input_grad_operands(dy, W[s:], dx[:, s:]))     # task 0
    t_dw = queue._push_gemm(xt[s:], dy, dW[s:])                                 # task 1
    queue._push(tq.ADAM, (lo + s * W.shape[1], hi), (), after=(t_dx, t_dw))   # task 2
    queue.ctl[tq.NEXT] = 2                                       # tasks 0 and 1 claimed by "someone" else
    ran = []
    worker = threading.Thread(target=lambda: ran.append(tq._run_one_jit(*queue.queue)), daemon=True)
    worker.start()
    for mark in (1, 0):                                               # dW done first, then dx
        time.sleep(0.3)
        assert queue.marks[2] == 0 and not ran                        # waiting, not done
        queue.marks[mark] = mark + 1
    worker.join(timeout=30)
    assert ran == [1] and queue.marks[2] == 3
