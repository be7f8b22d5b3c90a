"""Guards of the training loop: input checks, divergence detection, a memory estimate.

:func:`as_training_arrays` checks what ``fit`` is given the way scikit-learn's estimators do
(at least one row, finite values, non-negative finite weights that are not all zero), chunk
by chunk for lazy rows;
:func:`first_non_finite` is the per-step divergence test of the loss terms (the gradient's is
counted by the Adam pass itself, :meth:`npvae.nn.adam.Adam.step`; :func:`gradient_norm2` puts a
number on it for the message); :func:`training_memory_bytes` lets the
command line refuse a run that cannot fit in memory before it starts. Docs: docs/files.md.
Shapes: N spectra, D pixels, H hidden, Z latent, B batch, P parameters.
"""
import math

import numpy as np

from ..data.shards import ShardedArray, row_chunks
from ..utils import NpvaeError

__all__ = ["TrainingDiverged", "as_training_arrays", "first_non_finite", "gradient_norm2",
           "divergence_message", "training_memory_bytes"]


class TrainingDiverged(NpvaeError):
    """A non-finite loss or gradient; the model holds the weights of its best finite epoch.

    Attributes: ``epoch`` and ``step`` (1-based) where it happened, ``term`` (the loss term, or
    "gradient", or "validation <term>"), ``best_epoch`` (0 when no epoch finished).
    """

    def __init__(self, message, epoch, step, term, best_epoch):
        super().__init__(message)
        self.epoch, self.step, self.term, self.best_epoch = epoch, step, term, best_epoch


def as_training_arrays(model, X, W, name_x, name_w):
    """X and W as C-contiguous arrays of the model's dtype (W may be None), checked.

    A :class:`npvae.data.shards.ShardedArray` (lazy rows of a sharded dataset) is not read
    into memory: its shape is checked and its rows are checked chunk by chunk, and it is
    returned as it is (streaming training). Raises NpvaeError (naming the first bad row) for no
    rows, non-finite X, or negative, non-finite or all-zero weights.
    """
    X = _as_rows(model, X, name_x)                                                  # (N, D)
    if len(X) == 0:
        raise NpvaeError(f"{name_x} has no rows: need at least one spectrum to fit")
    for start, rows in row_chunks(X, dtype=model.dtype):
        check_finite(rows, name_x, start, whole=rows is X)
    if W is None:
        return X, None
    W = _as_rows(model, W, name_w)                                                  # (N, D)
    if W.shape != X.shape:
        raise NpvaeError(f"{name_w} has shape {W.shape}, {name_x} {X.shape}")
    any_positive = False
    for start, rows in row_chunks(W, dtype=model.dtype):
        check_finite(rows, name_w, start, whole=rows is W)
        negative = np.flatnonzero((rows < 0).any(axis=1))
        if negative.size:
            count = f" ({negative.size} rows in all)" if rows is W else ""
            raise NpvaeError(f"{name_w} row {start + negative[0]} has negative values{count}")
        any_positive = any_positive or bool(rows.any())
    if not any_positive:
        raise NpvaeError(f"{name_w} are all zero: no pixel would count in the loss, nothing to fit")
    return X, W


def _as_rows(model, A, name):
    """A as a C-contiguous (N, D) array of the model's dtype; lazy rows stay lazy (shape checked)."""
    if not isinstance(A, ShardedArray):
        return np.ascontiguousarray(model.check_X(A, name), dtype=model.dtype)     # (N, D)
    if A.dtype.kind not in "fiu" or A.ndim != 2 or A.shape[1] != model.n_features:
        raise NpvaeError(f"{name} must be (N, {model.n_features}) real numbers, got {A.dtype} {A.shape}")
    return A


def check_finite(A, name, start=0, whole=True):
    """NpvaeError naming the first row of A (N, D) with a NaN or an infinity.

    ``start`` is the row number of A's first row; ``whole`` says A is all the rows (then the
    message counts the bad ones).
    """
    if not np.isfinite(A.sum(dtype=np.float64)):                      # cheap test first
        bad = np.flatnonzero(~np.isfinite(A).all(axis=1))
        if bad.size:
            count = f"; {bad.size} rows in all" if whole else ""
            raise NpvaeError(f"{name} row {start + bad[0]} has non-finite values (NaN or inf{count})")


def training_memory_bytes(n_features, hidden, n_latent, batch_size, n_train, n_val=0, itemsize=4):
    """Rough memory a training run needs beyond the data it is given, in bytes.

    Parameters (P of them) appear six times (weights, gradients, Adam's two moments, the best
    epoch's copy, the checkpoint's copy); a batch of min(B, N) rows needs about eight (B, D)
    and four (B, H) workspace arrays per hidden layer; validation works in chunks of 1024.
    """
    widths = [n_features, *hidden, n_latent]
    one_way = sum((a + 1) * b for a, b in zip(widths[:-1], widths[1:]))     # encoder and mu head
    n_params = 2 * one_way + (widths[-2] + 1) * n_latent                    # decoder, logvar head
    rows = min(batch_size, max(n_train, 1)) + min(1024, n_val)
    activations = rows * (8 * n_features + 4 * sum(hidden) + 8 * n_latent)
    return itemsize * (6 * n_params + activations)


def first_non_finite(terms):
    """(term, value) of the first non-finite loss term of a step, or None (one float test per term)."""
    if math.isfinite(terms["total"]):
        return None
    term = next((k for k, v in terms.items() if not math.isfinite(v)), "total")
    return term, terms[term]


def gradient_norm2(flat_grads, grads):
    """The gradient's squared norm (float): NaN or inf for the step the Adam pass found bad.

    One dot product over the flat gradient (P,), or tensor by tensor from ``grads`` (dict) when
    ``flat_grads`` is None. Only for the divergence message: the test itself is Adam's count.
    """
    if flat_grads is not None:
        return float(np.dot(flat_grads, flat_grads))
    return sum(float(np.vdot(g, g)) for g in grads.values())


def divergence_message(epoch, step, term, value, lr, best_epoch, hint=""):
    """One line: where it diverged, which term, what to try, what the model keeps."""
    where = f"epoch {epoch}" + (f", step {step}" if step is not None else "")
    kept = (f"the model keeps its best finite epoch {best_epoch}" if best_epoch
            else "no epoch finished, so the model is not fitted")
    return (f"training diverged in {where}: {term} is {value} at learning rate {lr:.3g}{hint}; "
            f"try a 10x smaller learning rate ({lr / 10:.3g}) or a smaller lam, and check the "
            f"weights ({kept})")
