"""Learning-rate reduction on a plateau and early stopping, as plain objects with a saved state.

The paper's recipe (npvae.paper, Sec. 2; docs/training.md): the learning rate is
multiplied by 0.1 when the validation objective has not improved for 5 epochs (relative
threshold 1e-4), and training stops after 10 epochs without improvement (relative 1e-3).
Both objects see one number per epoch (lower is better) and keep their own best value.

"Improved" means ``value < best - threshold * |best|`` against the best value so far; a NaN
is never an improvement. ``num_bad_epochs`` counts the consecutive epochs that were not.

* :class:`ReduceLROnPlateau` follows PyTorch's class of that name, which the paper used
  (mode "min", threshold_mode "rel", cooldown 0): it acts when ``num_bad_epochs > patience``,
  i.e. at the (P+1)-th consecutive epoch without improvement (the 6th for P = 5), sets
  ``lr = max(lr * factor, min_lr)`` only if that lowers it by more than ``eps`` (1e-8), and
  starts the count again from zero whether or not the rate changed. PyTorch writes the
  improvement test as ``value < best * (1 - threshold)``: the same for ``best >= 0``, and the
  validation objective is a sum of non-negative terms.
* :class:`EarlyStopping` stops when ``num_bad_epochs >= patience``, i.e. at the P-th
  consecutive epoch without improvement (the 10th for P = 10).
"""
import math

__all__ = ["ReduceLROnPlateau", "EarlyStopping"]


class _Plateau:
    """Counts consecutive epochs without a relative improvement of ``threshold``."""

    def __init__(self, patience, threshold):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, not {patience}")
        if threshold < 0:
            raise ValueError(f"threshold must be >= 0, not {threshold}")
        self.patience, self.threshold = int(patience), float(threshold)
        self.best = math.inf
        self.num_bad_epochs = 0

    def _observe(self, value):
        """Update best and the bad-epoch count with one epoch's ``value``; True if it improved."""
        value = float(value)
        if math.isnan(value):
            self.num_bad_epochs += 1
            return False
        if value < self.best - self.threshold * abs(self.best) or math.isinf(self.best):
            self.best = value
            self.num_bad_epochs = 0
            return True
        self.num_bad_epochs += 1
        return False

    def state_dict(self):
        """Everything needed to continue (a JSON-serialisable dict)."""
        return {"patience": self.patience, "threshold": self.threshold,
                "best": None if math.isinf(self.best) else self.best,
                "num_bad_epochs": self.num_bad_epochs}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        self.patience, self.threshold = int(state["patience"]), float(state["threshold"])
        self.best = math.inf if state["best"] is None else float(state["best"])
        self.num_bad_epochs = int(state["num_bad_epochs"])


class ReduceLROnPlateau(_Plateau):
    """Multiply an optimiser's ``lr`` by ``factor`` when more than ``patience`` epochs did not improve.

    PyTorch's rule (``torch.optim.lr_scheduler.ReduceLROnPlateau``, cooldown 0):

    .. math::
        \\eta' = \\max(\\eta \\cdot \\mathrm{factor}, \\eta_{min}), \\quad
        \\eta \\leftarrow \\eta' \\text{ if } \\eta - \\eta' > \\epsilon,
        \\quad\\text{when } n_{bad} > \\mathrm{patience}

    Parameters
    ----------
    optimizer : object with a settable ``lr`` attribute (e.g. :class:`npvae.Adam`)
    factor : float
        Multiplier of the learning rate (0.1 in the paper).
    patience : int
        Epochs without improvement that are tolerated (5): the cut comes at the next one.
    threshold : float
        Relative improvement that counts (1e-4).
    min_lr : float
        Floor of the learning rate.
    eps : float
        Smallest change of the learning rate that is applied (PyTorch's default 1e-8).
    """

    def __init__(self, optimizer, factor=0.1, patience=5, threshold=1e-4, min_lr=0.0, eps=1e-8):
        super().__init__(patience, threshold)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), not {factor}")
        self.optimizer, self.factor, self.min_lr = optimizer, float(factor), float(min_lr)
        self.eps = float(eps)
        self.n_reductions = 0

    def step(self, value):
        """Observe one epoch's objective; return True if the learning rate was reduced."""
        self._observe(value)
        if self.num_bad_epochs <= self.patience:
            return False
        self.num_bad_epochs = 0
        old_lr = self.optimizer.lr
        new_lr = max(old_lr * self.factor, self.min_lr)
        if old_lr - new_lr <= self.eps:
            return False
        self.optimizer.lr = new_lr
        self.n_reductions += 1
        return True

    def state_dict(self):
        """Counters, best value and settings (the learning rate itself lives in the optimiser)."""
        state = super().state_dict()
        state.update(factor=self.factor, min_lr=self.min_lr, eps=self.eps,
                     n_reductions=self.n_reductions)
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(state)
        self.factor, self.min_lr = float(state["factor"]), float(state["min_lr"])
        self.eps = float(state["eps"])
        self.n_reductions = int(state["n_reductions"])


class EarlyStopping(_Plateau):
    """Stop at the ``patience``-th consecutive epoch without a relative improvement of ``threshold``.

    Parameters
    ----------
    patience : int
        Epochs without improvement before stopping (10 in the paper).
    threshold : float
        Relative improvement that counts (1e-3).
    """

    def __init__(self, patience=10, threshold=1e-3):
        super().__init__(patience, threshold)
        self.stopped = False

    def step(self, value):
        """Observe one epoch's objective; return True when training should stop."""
        self._observe(value)
        self.stopped = self.num_bad_epochs >= self.patience
        return self.stopped

    def state_dict(self):
        """Counters, best value, settings and whether it has stopped."""
        state = super().state_dict()
        state["stopped"] = self.stopped
        return state

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        super().load_state_dict(state)
        self.stopped = bool(state["stopped"])
