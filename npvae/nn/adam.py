"""Adam (Kingma & Ba 2015), written by hand, updating a dict of parameter arrays in place.

The optimiser the paper trains with (its Secs. 2 and 3; Adam has no numbered equation there).

Derivation and the fused form with the bias correction folded into two scalars:
docs/derivations/adam.md. Shapes: P parameters in all.

When the parameter arrays (and the gradient arrays) are consecutive views of one flat buffer,
as :class:`npvae.nn.model.InfoVAE` lays them out, the whole step is one Numba pass over
that buffer; otherwise it runs tensor by tensor. Both give the same numbers.
"""
import math

import numpy as np

from . import kernels

__all__ = ["Adam", "flat_base"]


def flat_base(arrays):
    """The 1-D buffer that ``arrays`` (a list) tile exactly, in order, or None.

    True when each array is a contiguous view into one 1-D base array, starting where the
    previous one ends, and together they cover the whole base.
    """
    base = getattr(arrays[0], "base", None)
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    offset = 0
    start = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != start + offset * base.itemsize:
            return None
        offset += a.size
    return base if offset == base.size else None


class Adam:
    """Adam optimiser over a dict of arrays (paper Secs. 2-3, no equation number; adam.md).

    .. math::
        m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2,
        \\quad p \\leftarrow p - \\eta \\frac{m / (1-\\beta_1^t)}{\\sqrt{v / (1-\\beta_2^t)} + \\epsilon}

    Parameters
    ----------
    params : dict of ndarray
        Updated in place by :meth:`step`.
    lr, beta1, beta2, eps : float
        Kingma & Ba defaults.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = params
        self.keys = list(params)
        self.lr, self.beta1, self.beta2, self.eps = float(lr), float(beta1), float(beta2), float(eps)
        self.t = 0
        arrays = [params[k] for k in self.keys]
        self._flat_p = flat_base(arrays)
        size = sum(a.size for a in arrays)
        dtype = arrays[0].dtype
        self.m = np.zeros(size, dtype)      # (P,) first moment
        self.v = np.zeros(size, dtype)      # (P,) second moment
        offsets = np.cumsum([0] + [a.size for a in arrays])
        self._slices = {k: slice(offsets[i], offsets[i + 1]) for i, k in enumerate(self.keys)}
        self._last_grads = ((), None)       # (gradient arrays, their flat base) of the last step

    def _flat_grads(self, grads):
        """The flat buffer that the gradient arrays tile, or None; checked once per set of arrays.

        The training loop passes the same arrays every step; holding them keeps their ids valid.
        """
        arrays = tuple(grads[k] for k in self.keys)
        last, flat = self._last_grads
        if len(last) != len(arrays) or any(a is not b for a, b in zip(arrays, last)):
            flat = flat_base(list(arrays))
            self._last_grads = (arrays, flat)
        return flat

    def start_step(self):
        """Count one more step (t) and return its bias-corrected (lr_t, eps_t) (docs/derivations/adam.md).

        lr_t = lr sqrt(1 - b2^t) / (1 - b1^t), eps_t = eps sqrt(1 - b2^t): the scalars of
        :func:`npvae.nn.kernels.adam_update` for step t. :meth:`step` calls it.
        """
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        return self.lr * math.sqrt(c2) / c1, self.eps * math.sqrt(c2)

    def step(self, grads):
        """One update with the gradients ``grads`` (dict, same keys and shapes as params).

        Returns the number of entries whose gradient was NaN or infinite, or so large that its
        square overflowed Adam's second moment (0 for a good step): the training loop's
        divergence test, counted in the same pass. Such a step leaves non-finite weights and
        moments behind; the caller must not go on from them.
        """
        lr_t, eps_t = self.start_step()
        flat_g = self._flat_grads(grads) if self._flat_p is not None else None
        if flat_g is not None:
            return kernels.adam_update(self._flat_p, flat_g, self.m, self.v, lr_t, self.beta1, self.beta2, eps_t)
        n_bad = 0
        for k in self.keys:
            s, p = self._slices[k], self.params[k]
            flat = np.ascontiguousarray(p).reshape(-1)       # a view if p is C-contiguous, else a copy
            n_bad += kernels.adam_update(flat, np.ascontiguousarray(grads[k], dtype=p.dtype).reshape(-1),
                                         self.m[s], self.v[s], lr_t, self.beta1, self.beta2, eps_t)
            if not np.shares_memory(flat, p):
                p[...] = flat.reshape(p.shape)               # write the update back
        return n_bad

    def state_dict(self):
        """Moments, step count and hyper-parameters (copies), for checkpoints."""
        return {"m": self.m.copy(), "v": self.v.copy(), "t": self.t, "lr": self.lr,
                "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned."""
        if state["m"].shape != self.m.shape:
            raise ValueError(f"Adam state has {state['m'].size} moments, the model {self.m.size} parameters")
        self.m[...] = state["m"]
        self.v[...] = state["v"]
        self.t = int(state["t"])
        for k in ("lr", "beta1", "beta2", "eps"):
            setattr(self, k, float(state[k]))
