"""Gradient checking by central finite differences.

A backward pass is only trusted once it agrees with

.. math:: \\frac{\\partial f}{\\partial \\theta_i} \\approx \\frac{f(\\theta + h e_i) - f(\\theta - h e_i)}{2h}

in float64. For an array-valued function y = F(x) the scalar checked is f = sum(G * F(x)) with
a RANDOM upstream gradient G (never all ones: that hides transposition and broadcasting
errors). The error measure is the largest elementwise relative error
``|a - n| / max(|a| + |n|, s * max|n|)`` (CS231n's measure, with a floor at a fraction s = 1e-2 of
the tensor's largest gradient: in float64 a central difference resolves a gradient only to
about eps * |f| / h ~ 1e-10 absolute for f ~ 30 and h = 1e-5, so entries a hundred times
smaller than the largest are judged against that 1%, not against their own tiny size). A check proves forward and backward agree; the
tests of meaning (KL vs Monte Carlo, MMD(x, x) = 0, ...) prove the maths is right.
"""
import numpy as np

from ..utils import as_generator

__all__ = ["numerical_gradient", "rel_error", "check_function", "check_layer", "check_model"]


def numerical_gradient(f, x, h=1e-5, indices=None):
    """Central-difference gradient of the scalar ``f()`` with respect to the array ``x``.

    ``x`` is perturbed in place and restored. ``indices`` (a list of index tuples) limits the
    check to some entries; the others are returned as NaN.
    """
    grad = np.full(x.shape, np.nan) if indices is not None else np.zeros(x.shape)
    if indices is None:
        indices = list(np.ndindex(x.shape))
    for i in indices:
        old = x[i]
        x[i] = old + h
        f_plus = f()
        x[i] = old - h
        f_minus = f()
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


def rel_error(analytic, numeric, scale_floor=1e-2, abs_floor=1e-12):
    r"""Largest elementwise relative error over the finite entries of ``numeric``.

    .. math:: \max_i \frac{|a_i - n_i|}{\max(|a_i| + |n_i|,\; s \max_j |n_j|,\; \epsilon)}

    with s = ``scale_floor`` and epsilon = ``abs_floor`` (see the module docstring).
    """
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    ok = np.isfinite(numeric)
    a, n = analytic[ok], numeric[ok]
    if a.size == 0:
        return 0.0
    floor = max(scale_floor * float(np.abs(n).max()), abs_floor)
    return float(np.max(np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), floor)))


def _sample_indices(shape, n_samples, rng):
    """All indices, or ``n_samples`` random ones."""
    size = int(np.prod(shape))
    if n_samples is None or n_samples >= size:
        return None
    flat = rng.choice(size, n_samples, replace=False)
    return [np.unravel_index(i, shape) for i in flat]


def check_function(f, inputs, analytic, h=1e-5, n_samples=None, rng=None):
    """Relative error of ``analytic[name]`` against the numerical gradient of scalar ``f()``.

    ``inputs`` maps names to the arrays that ``f`` reads (perturbed in place). Returns
    {name: relative error}.
    """
    rng = as_generator(rng)
    errors = {}
    for name, x in inputs.items():
        idx = _sample_indices(x.shape, n_samples, rng)
        errors[name] = rel_error(analytic[name], numerical_gradient(f, x, h, idx))
    return errors


def check_layer(forward, backward, inputs, rng=None, h=1e-5):
    """Check a forward/backward pair with a random upstream gradient.

    Parameters
    ----------
    forward : callable
        ``forward(*inputs.values()) -> (out, cache)``.
    backward : callable
        ``backward(dout, cache) -> tuple`` of gradients in the order of ``inputs``.
    inputs : dict of ndarray (float64)

    Returns
    -------
    dict
        {input name: relative error}.
    """
    rng = as_generator(rng)
    out, cache = forward(*inputs.values())
    dout = rng.standard_normal(out.shape)
    grads = backward(dout.copy(), cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    analytic = dict(zip(inputs, grads))

    def f():
        return float(np.sum(dout * forward(*inputs.values())[0]))

    return check_function(f, inputs, analytic, h)


def check_model(model, x, w, eps=None, prior=None, term="total", h=1e-4, n_samples=None, rng=None):
    """Check ``model.loss_and_grads`` for every parameter tensor.

    The default step h = 1e-4 is larger than elsewhere: a model's loss is a sum of many terms
    (|f| ~ 10-100), so the rounding error eps |f| / h of a smaller step reaches 1e-6 relative
    on the deep encoder tensors. Keep the data away from ReLU kinks by more than a few h.

    ``term`` selects what is checked: "total", or a single term ("recon", "kl", "mmd"), for which
    the model's other terms are switched off by temporarily setting their weights to zero
    (the KL weight is 1 - alpha and the MMD weight (alpha + lam - 1) Z). Returns
    {parameter name: relative error}.
    """
    saved = _isolate_term(model, term)
    try:
        _, grads = model.loss_and_grads(x, w, eps, prior)
        grads = {k: v.copy() for k, v in grads.items()}

        def f():
            return model.loss_and_grads(x, w, eps, prior)[0]["total"]

        return check_function(f, model.params, grads, h, n_samples, rng)
    finally:
        for attr, value in saved.items():
            setattr(model, attr, value)


def _isolate_term(model, term):
    """Set lam and alpha so that ``total`` equals one term (scaled); return the old values.

    recon alone: alpha = 1 (no KL), lam = 0 (MMD weight alpha + lam - 1 = 0).
    kl and mmd alone are checked as total minus recon: recon is removed by zero weights in the
    caller's data (w = 0), so here only the other weight is switched off.
    """
    if term not in ("total", "recon", "kl", "mmd"):
        raise ValueError(f"term must be total, recon, kl or mmd, not {term!r}")
    if not model.variational:
        if term not in ("total", "recon"):
            raise ValueError(f"{type(model).__name__} has no {term!r} term")
        return {}
    if term == "total":
        return {}
    saved = {"lam": model.lam, "alpha": model.alpha}
    if term == "recon":
        model.alpha, model.lam = 1.0, 0.0
    elif term == "kl":
        model.alpha, model.lam = 0.0, 1.0            # MMD weight 0, KL weight 1
    elif term == "mmd":
        model.alpha, model.lam = 1.0, 1.0            # KL weight 0, MMD weight Z
    else:
        raise ValueError(f"term must be total, recon, kl or mmd, not {term!r}")
    return saved
