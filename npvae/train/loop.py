"""The training loop behind ``model.fit``: minibatch Adam, schedule, early stopping, checkpoints.

The paper's recipe (npvae.paper, Sec. 2), explained in docs/training.md: shuffled
minibatches of 64 with fresh noise per step from the model's generator, the validation objective
of :mod:`npvae.train.validation` after each epoch, learning rate x0.1 when 5 epochs have passed
without improvement (cut on the 6th, as PyTorch's ReduceLROnPlateau that the paper used), early
stopping after 10, at most 200 epochs; the model keeps the weights of its best epoch.
With ``checkpoint=PATH`` a checkpoint is written after every epoch (and on Ctrl-C), and
``resume=True`` continues from it bit for bit. A non-finite loss or gradient stops the run at
once with :class:`TrainingDiverged` (the checkpoint on disk stays the last good state; what
is kept: docs/files.md). The data may be lazy rows of a sharded dataset
(:class:`npvae.data.shards.ShardedArray`): then nothing is read whole (streaming training,
docs/scale.md); each batch is gathered from the shards with the same permutation, so the run is
the same as on the same rows in memory. A noise-aware model (``InfoVAE(noise_aware=True)``) is
trained on minibatches degraded by known extra noise (:mod:`npvae.train.degrade`; option
``degrade_sn``), drawn from the same generator. Shapes: N training spectra, B batch, D pixels, Z latent,
M prior samples, P parameters.
"""
import contextlib
import math
import signal
import sys
import threading
import time

import numpy as np

from ..data.shards import column_mean
from ..nn.adam import Adam, flat_base
from ..utils import NpvaeError, as_generator, progress
from . import checkpoint as ckpt
from . import guards
from .blas_threads import settle_blas_workers
from .degrade import DEGRADE_SN, check_sn_range, degrade_batch
from .guards import TrainingDiverged, as_training_arrays
from .history import epoch_objective
from .offload import Offload, offload_available
from .schedule import EarlyStopping, ReduceLROnPlateau
from .validation import ValidationNoise, draw_validation_noise, evaluate

__all__ = ["fit", "TrainingInterrupted", "TrainingDiverged"]


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`fit`; ``.checkpoint`` is the file to resume from (or None)."""

    def __init__(self, message, checkpoint=None):
        super().__init__(message)
        self.checkpoint = checkpoint


class _StopRequested(Exception):
    """Raised at a safe point (between steps) after a deferred Ctrl-C."""


class _Run:
    """Everything that changes during training; what a checkpoint saves."""

    def __init__(self, model, X, W, rng, batch_size, degrade_sn=None):
        self.model, self.X, self.W, self.rng = model, X, W, rng
        self.degrade_sn = degrade_sn                                    # (lo, hi) or None
        self.batch_size = batch_size
        n, dim, n_latent = X.shape[0], X.shape[1], model.n_latent
        rows = min(batch_size, n)                                       # a batch never exceeds N
        self.order = np.arange(n)                                       # (N,)
        self.order_ready, self.pos, self.epoch = False, 0, 0
        self.sums, self.epoch_seconds = {}, 0.0
        self.best_flat = model.flat_params.copy()                             # (P,)
        self.best_value, self.best_epoch = math.inf, 0
        self.interrupted = False
        self.xb = np.empty((rows, dim), model.dtype)                    # (B, D)
        self.wb = np.ones((rows, dim), model.dtype)                     # (B, D)
        self.noise = np.empty((rows, dim), model.dtype) if degrade_sn else None   # (B, D) added noise
        self.n_prior = getattr(model, "n_prior", None)
        self.eps = np.empty((rows, n_latent), model.dtype)              # (B, Z)
        self.prior = np.empty((self.n_prior or 1, n_latent), model.dtype)   # (M, Z)
        self.grads = model.new_grads()
        self.flat_grads = flat_base(list(self.grads.values()))         # (P,) the buffer they tile
        self.offload = None                                             # the step's helper thread, if any


def fit(model, X, weights=None, X_val=None, weights_val=None, *, batch_size=64, max_epochs=200,
        lr=1e-3, rng=None, verbose=True, checkpoint=None, resume=False, lr_factor=0.1,
        lr_patience=5, lr_threshold=1e-4, es_patience=10, es_threshold=1e-3, val_seed=0,
        callback=None, degrade_sn="auto", offload=False):
    """Train ``model`` (InfoVAE or Autoencoder) in place and return it.

    Parameters
    ----------
    model : InfoVAE or Autoencoder
    X, weights : ndarray (N, D)
        Training spectra and inverse-variance weights (None = all ones). ``model.mean_`` is set
        from X. Either may be a :class:`npvae.data.shards.ShardedArray` (e.g. ``ds.flux`` of a
        sharded dataset, or a ``.select(rows)`` of it): it is then read in chunks and batches,
        never whole, and the run is bit for bit the run on the same rows in memory.
    X_val, weights_val : ndarray (V, D), optional
        Validation set (may be lazy too); its objective drives the schedule and early stopping
        and picks the best epoch. Without it the training epoch's mean objective does.
    batch_size, max_epochs, lr : int, int, float
        64, 200, 1e-3 in the paper. On resume the checkpoint's learning rate is used and
        ``max_epochs`` may be larger than before.
    rng : Generator, int or None
        Source of the shuffling and of the per-step noise; None = ``model.rng``.
    verbose : bool
        Progress bar and a one-line summary on stderr.
    checkpoint : path, optional
        Written after every epoch and on Ctrl-C.
    resume : bool
        Continue from ``checkpoint`` (which must exist and match the model and data).
    lr_factor, lr_patience, lr_threshold, es_patience, es_threshold : float, int, float, int, float
        :class:`npvae.train.schedule.ReduceLROnPlateau` and :class:`npvae.train.schedule.EarlyStopping`.
    val_seed : int
        Seed of the fixed validation noise.
    callback : callable, optional
        ``callback(model, record)`` after each epoch (record = that epoch's history dict).
    degrade_sn : (float, float), None or "auto"
        Train on degraded spectra: each one gets white noise of an S/N drawn log-uniformly in
        this range, and the matching weights (:func:`npvae.train.degrade.degrade_batch`); the
        training terms are then those of the degraded spectra, the validation ones of the
        spectra as given. "auto": :data:`npvae.train.degrade.DEGRADE_SN` for a noise-aware
        model, None (no degradation) otherwise.
    offload : bool
        True: share each step with a helper thread on the second CPU (:mod:`npvae.train.offload`:
        each thread owns half of every large layer, its products and its Adam update), where it
        can run (NumPy's OpenBLAS, the main thread, 2 or more CPUs);
        faster (benchmarks/README.md). False (the default, until a rare run-to-run difference
        seen in the full test suite is understood: docs/training.md): each product threaded
        inside BLAS, Adam after the backward pass.

    Returns
    -------
    model
        With the weights of its best epoch and ``history_`` filled in.

    Raises
    ------
    TrainingInterrupted
        On Ctrl-C, after writing the checkpoint (if a path was given); the model keeps the
        weights of its best epoch so far.
    TrainingDiverged
        At the first non-finite loss or gradient (the loss terms are tested after the step's Adam
        updates with the helper thread, before them without it; the gradient by the Adam pass
        itself), before the bad step changes anything on disk
        (the checkpoint holds the end of the last good epoch); the model keeps the weights of its
        best finite epoch and is fitted only if one epoch finished.
    NpvaeError
        On bad input: empty, non-finite or mis-shaped X, negative, non-finite or all-zero weights.
    """
    X, W = as_training_arrays(model, X, weights, "X", "weights")
    has_val = X_val is not None
    if has_val:
        X_val, W_val = as_training_arrays(model, X_val, weights_val, "X_val", "weights_val")
    if int(batch_size) != batch_size or batch_size < 1 or int(max_epochs) != max_epochs or max_epochs < 0:
        raise NpvaeError(f"batch_size must be an integer >= 1 and max_epochs >= 0, got {batch_size}, {max_epochs}")
    if not (math.isfinite(lr) and lr > 0):
        raise NpvaeError(f"lr must be a finite number > 0, got {lr}")
    if isinstance(degrade_sn, str) and degrade_sn == "auto":
        degrade_sn = DEGRADE_SN if getattr(model, "noise_aware", False) else None
    degrade_sn = None if degrade_sn is None else check_sn_range(degrade_sn)
    run = _Run(model, X, W, model.rng if rng is None else as_generator(rng), int(batch_size), degrade_sn)
    settle_blas_workers()                                      # idle BLAS threads sleep between steps
    opt = Adam(model.params, lr=lr)
    sched = ReduceLROnPlateau(opt, lr_factor, lr_patience, lr_threshold)
    stopper = EarlyStopping(es_patience, es_threshold)
    fingerprints = {"train": ckpt.data_fingerprint(X, model.dtype),
                    "val": ckpt.data_fingerprint(X_val, model.dtype) if has_val else None}
    if resume:
        if checkpoint is None:
            raise NpvaeError("resume=True needs checkpoint=PATH")
        noise = _restore(run, opt, sched, stopper, checkpoint, fingerprints)
    else:
        model.mean_[...] = column_mean(X, model.dtype)            # = X.mean(axis=0, dtype=float64)
        model.history_ = []
        noise = draw_validation_noise(model, len(X_val), val_seed) if has_val else ValidationNoise()
        run.best_flat[...] = model.flat_params
    block = min(run.batch_size, len(X_val)) if has_val else 0     # the same MMD blocks, no oversized buffer
    evaluate_val = (lambda: evaluate(model, X_val, W_val, noise, block=block)) if has_val else None
    saver = (lambda: _save(run, opt, sched, stopper, checkpoint, fingerprints, noise)) if checkpoint else None
    t_start, epoch_start = time.perf_counter(), run.epoch
    model.is_fitted = True            # the validation pass encodes with the weights being trained
    helper = Offload(model.params, run.grads, opt) if offload and offload_available() else contextlib.nullcontext()
    try:
        # the divergence checks replace NumPy's overflow warnings, which would only add noise
        with _deferred_sigint(run), np.errstate(over="ignore", invalid="ignore", divide="ignore"), helper as off:
            run.offload = off
            _loop(run, opt, sched, stopper, max_epochs, evaluate_val, saver, callback, verbose)
    except _StopRequested:
        _interrupted(run, saver, checkpoint)          # saves the current state, then raises
    finally:
        _keep_best(run)
    if verbose:
        _print_summary(run, stopper, time.perf_counter() - t_start, run.epoch - epoch_start)
    return model


def _keep_best(run):
    """Give the model its best epoch's weights; it is fitted if at least one epoch finished."""
    run.model.flat_params[...] = run.best_flat
    run.model.is_fitted = run.best_epoch > 0


def _loop(run, opt, sched, stopper, max_epochs, evaluate_val, saver, callback, verbose):
    """Epochs until early stopping or ``max_epochs``; each ends with a checkpoint."""
    bar = progress(total=max_epochs, desc="training", unit="epoch", verbose=verbose)
    bar.update(min(run.epoch, max_epochs))
    try:
        while run.epoch < max_epochs and not stopper.stopped:
            t0 = time.perf_counter()
            _train_epoch(run, opt)
            run.epoch_seconds += time.perf_counter() - t0
            record = _end_epoch(run, opt, sched, stopper, evaluate_val)
            if saver is not None:
                saver()
            bar.update(1)
            bar.set_postfix(loss=f"{record['train_total']:.4g}", val=f"{record.get('val_total', math.nan):.4g}",
                            lr=f"{record['lr']:.1e}", refresh=False)
            if callback is not None:
                try:
                    callback(run.model, record)
                except KeyboardInterrupt as err:
                    raise _StopRequested from err
    finally:
        bar.close()


def _train_epoch(run, opt):
    """The minibatch steps of one epoch, from ``run.pos`` on (the hot loop)."""
    n = len(run.X)
    if not run.order_ready:
        run.order[...] = run.rng.permutation(n)
        run.order_ready, run.pos = True, 0
        run.sums = {}
    with Offload.single_blas() if run.offload is not None else contextlib.nullcontext():
        _train_steps(run, opt)
    run.pos = n
    if run.interrupted:
        raise _StopRequested


def _train_steps(run, opt):
    """The steps of the epoch from ``run.pos``: batch, noise, gradients, Adam, checks."""
    model, X, W, rng, bs, off = run.model, run.X, run.W, run.rng, run.batch_size, run.offload
    n, sums = len(X), run.sums
    for s in range(run.pos, n, bs):
        if run.interrupted:
            run.pos = s
            raise _StopRequested
        idx = run.order[s:s + bs]                                        # (B,)
        b = len(idx)
        xb, wb, eps = run.xb[:b], run.wb[:b], run.eps[:b]
        _gather(X, idx, xb)                                              # (B, D)
        if W is not None:
            _gather(W, idx, wb)                                          # (B, D)
        elif run.degrade_sn is not None:
            wb.fill(1)                                                   # (B, D) undo the last degradation
        if run.degrade_sn is not None:
            degrade_batch(xb, wb, rng, run.degrade_sn, run.noise[:b])    # (B, D) x', w' in place
        if run.n_prior is not None:
            rng.standard_normal(out=eps, dtype=model.dtype)              # (B, Z)
            rng.standard_normal(out=run.prior, dtype=model.dtype)        # (M, Z)
        if off is None:
            terms, _ = model.loss_and_grads(xb, wb, eps, run.prior, run.grads)
            _check_terms(run, terms, s // bs + 1, xb, opt.lr)
            n_bad = opt.step(run.grads)
        else:                       # Adam runs inside the backward pass, on the helper thread
            off.begin(*opt.start_step())
            terms, _ = model.loss_and_grads(xb, wb, eps, run.prior, run.grads, products=off)
            n_bad = off.finish()
            _check_terms(run, terms, s // bs + 1, xb, opt.lr)
        if n_bad:                                                        # non-finite gradient entries
            _diverged_on_gradient(run, s // bs + 1, xb, opt.lr)
        for key, value in terms.items():
            sums[key] = sums.get(key, 0.0) + value * b


def _gather(A, idx, out):
    """Rows ``idx`` (B,) of A (N, D) into ``out`` (B, D): one fancy index, in memory or from the shards."""
    if isinstance(A, np.ndarray):
        np.take(A, idx, axis=0, out=out, mode="clip")
    else:
        out[...] = A[idx]                  # lazy rows: only these B rows are read (and cast)


def _end_epoch(run, opt, sched, stopper, evaluate_val):
    """Validation, history record, best weights, schedule and early stopping for one epoch."""
    n = len(run.X)
    record = {"epoch": run.epoch + 1}
    record.update({f"train_{k}": v / n for k, v in run.sums.items()})
    if evaluate_val is not None:
        record.update({f"val_{k}": v for k, v in evaluate_val().items()})
    objective = epoch_objective(record)
    if not math.isfinite(objective):
        bad = [k for k, v in record.items() if k.startswith("val_") and not math.isfinite(v)]
        _diverged(run, None, f"validation {bad[0][4:] if bad else 'total'}", objective, opt.lr,
                  "; the validation spectra or weights may hold extreme values")
    record["lr"] = opt.lr
    record["seconds"] = run.epoch_seconds
    run.model.history_.append(record)
    if objective < run.best_value:
        run.best_value, run.best_epoch = objective, run.epoch + 1
        run.best_flat[...] = run.model.flat_params
    sched.step(objective)
    stopper.step(objective)
    run.epoch += 1
    run.order_ready, run.pos, run.sums, run.epoch_seconds = False, 0, {}, 0.0
    return record


def _check_terms(run, terms, step, xb, lr):
    """Raise TrainingDiverged if a loss term of this step is not finite."""
    bad = guards.first_non_finite(terms)
    if bad is not None:
        _diverged(run, step, *bad, lr, _pixel_hint(xb))


def _diverged_on_gradient(run, step, xb, lr):
    """Raise TrainingDiverged for a step whose gradient the Adam pass found non-finite.

    That pass has already written the bad step into the weights and moments; nothing goes on
    from them: the run stops here and ``fit`` gives the model its best finite epoch back
    (``_keep_best``), and no checkpoint is written after it.
    """
    norm2 = guards.gradient_norm2(run.flat_grads, run.grads)
    _diverged(run, step, "gradient", norm2, lr, _pixel_hint(xb))


def _pixel_hint(xb):
    """A hint for the message when the batch (B, D) holds an extreme pixel."""
    peak = float(np.abs(xb).max())
    return f"; this batch holds a pixel of {peak:.3g}: check the data" if peak > 1e6 else ""


def _diverged(run, step, term, value, lr, hint=""):
    """Raise TrainingDiverged with where, which term and what to try."""
    message = guards.divergence_message(run.epoch + 1, step, term, value, lr, run.best_epoch, hint)
    raise TrainingDiverged(message, run.epoch + 1, step, term, run.best_epoch)


@contextlib.contextmanager
def _deferred_sigint(run):
    """The first Ctrl-C sets ``run.interrupted`` (acted on between steps); a second one aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if run.interrupted:
            raise KeyboardInterrupt
        run.interrupted = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupted(run, saver, path):
    """Save a checkpoint at the safe point reached, tell how to resume, raise TrainingInterrupted."""
    if saver is not None:
        saver()
        message = (f"training interrupted in epoch {run.epoch + 1}; checkpoint saved to {path}; "
                   f"resume with fit(..., checkpoint={str(path)!r}, resume=True) or `npvae train ... --resume`")
    else:
        message = (f"training interrupted in epoch {run.epoch + 1}; no checkpoint path was given, "
                   "so it cannot be resumed (pass checkpoint=PATH)")
    print(message, file=sys.stderr)
    raise TrainingInterrupted(message, path)


def _save(run, opt, sched, stopper, path, fingerprints, noise):
    """Write the run's full state to ``path`` (atomically)."""
    arrays = {"flat": run.model.flat_params, "best_flat": run.best_flat, "mean": run.model.mean_,
              "adam_m": opt.m, "adam_v": opt.v, "order": run.order,
              "val_eps": noise.eps, "val_prior": noise.prior}
    meta = {"class": type(run.model).__name__, "config": run.model.config(),
            "adam": {k: v for k, v in opt.state_dict().items() if k not in ("m", "v")},
            "scheduler": sched.state_dict(), "early_stopping": stopper.state_dict(),
            "rng_state": ckpt.rng_state_to_json(run.rng.bit_generator.state),
            "history": run.model.history_, "epoch": run.epoch, "pos": run.pos,
            "order_ready": run.order_ready, "sums": run.sums, "epoch_seconds": run.epoch_seconds,
            "best_value": None if math.isinf(run.best_value) else run.best_value,
            "best_epoch": run.best_epoch, "batch_size": run.batch_size, "data": fingerprints,
            "degrade_sn": None if run.degrade_sn is None else list(run.degrade_sn)}
    ckpt.save_checkpoint(path, arrays, meta)


def _restore(run, opt, sched, stopper, path, fingerprints):
    """Load ``path`` into the run, optimiser, schedule and model; return the validation noise."""
    arrays, meta = ckpt.load_checkpoint(path, run.model)
    if meta.get("batch_size") != run.batch_size:
        raise NpvaeError(f"{path}: checkpoint used batch_size {meta.get('batch_size')}, not {run.batch_size}")
    saved_sn = meta.get("degrade_sn")
    if (None if saved_sn is None else tuple(saved_sn)) != run.degrade_sn:
        raise NpvaeError(f"{path}: checkpoint was trained with degrade_sn {saved_sn}, not {run.degrade_sn}")
    if meta.get("data") != fingerprints:
        raise NpvaeError(f"{path}: checkpoint was written for other data ({meta.get('data')} != {fingerprints})")
    if arrays["order"].shape != run.order.shape:
        raise NpvaeError(f"{path}: shuffling order has {arrays['order'].size} entries, not {run.order.size}")
    model = run.model
    model.flat_params[...] = arrays["flat"]
    model.mean_[...] = arrays["mean"]
    model.history_ = list(meta["history"])
    run.best_flat[...] = arrays["best_flat"]
    run.order[...] = arrays["order"]
    opt.load_state_dict(dict(meta["adam"], m=arrays["adam_m"], v=arrays["adam_v"]))
    sched.load_state_dict(meta["scheduler"])
    stopper.load_state_dict(meta["early_stopping"])
    run.rng.bit_generator.state = ckpt.rng_state_from_json(meta["rng_state"])
    run.epoch, run.pos, run.order_ready = int(meta["epoch"]), int(meta["pos"]), bool(meta["order_ready"])
    run.sums, run.epoch_seconds = dict(meta["sums"]), float(meta["epoch_seconds"])
    run.best_value = math.inf if meta["best_value"] is None else float(meta["best_value"])
    run.best_epoch = int(meta["best_epoch"])
    return ValidationNoise(arrays.get("val_eps"), arrays.get("val_prior"))


def _print_summary(run, stopper, seconds, n_epochs):
    """One line: epochs, time, throughput, why it stopped, the best epoch's objective."""
    why = "early stopping" if stopper.stopped else "max_epochs"
    speed = n_epochs * len(run.X) / seconds if seconds > 0 else math.nan
    best = run.model.history_[run.best_epoch - 1] if run.best_epoch else {}
    val = best.get("val_total", best.get("train_total", math.nan))
    recon = best.get("val_recon", best.get("train_recon", math.nan))
    print(f"trained {run.epoch} epochs ({n_epochs} now, {seconds:.1f} s, {speed:.0f} spectra/s), "
          f"stopped by {why}; best epoch {run.best_epoch}: objective {val:.5g}, recon {recon:.5g}",
          file=sys.stderr)
