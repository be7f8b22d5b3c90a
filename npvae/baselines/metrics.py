"""Reconstruction metrics: the paper's weighted mean squared error and the reduced chi^2.

Figure 3 of Portillo et al. 2020 plots, on the validation set, the mean over spectra and
pixels of w (x' - x)^2 (w the inverse variance, 0 on bad pixels). Doc: docs/baselines.md.
Pixels with w = 0 contribute 0 to the sum but still count in the denominator (N x D), as in
the paper's code, so the number is comparable across methods on the same data; the reduced
chi^2 per spectrum counts good pixels only and is the easier number to read (about 1 for a
reconstruction that is good to the noise).

Shapes: N spectra, D pixels.
"""
import numpy as np

from ..paper import CLASSES
from ..utils import NpvaeError

__all__ = ["CLASSES", "weighted_mse", "weighted_mse_per_spectrum", "reduced_chi2",
           "per_class", "reconstruction_table"]


def _check_triplet(X, Xhat, W):
    """Finite float arrays of one (N, D) shape, weights >= 0; else NpvaeError."""
    arrays = []
    for name, a in (("X", X), ("Xhat", Xhat), ("W", W)):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2:
            raise NpvaeError(f"{name} must be 2-d (N spectra, D pixels), got shape {a.shape}")
        if not np.isfinite(a).all():
            n, d = np.argwhere(~np.isfinite(a))[0]
            raise NpvaeError(f"{name} has non-finite values (first at row {n}, pixel {d})")
        arrays.append(a)
    X, Xhat, W = arrays
    if Xhat.shape != X.shape or W.shape != X.shape:
        raise NpvaeError(f"shapes differ: X {X.shape}, Xhat {Xhat.shape}, W {W.shape}")
    if (W < 0).any():
        n, d = np.argwhere(W < 0)[0]
        raise NpvaeError(f"W has negative weights (first at row {n}, pixel {d})")
    return X, Xhat, W


def weighted_mse_per_spectrum(X, Xhat, W):
    """Per-spectrum weighted squared error, e_n = (1/D) sum_d w_nd (xhat_nd - x_nd)^2.

    X, Xhat, W (N, D) -> (N,). Zero-weight pixels count in D.
    """
    X, Xhat, W = _check_triplet(X, Xhat, W)
    return (W * (Xhat - X) ** 2).mean(axis=1)                            # (N,)


def weighted_mse(X, Xhat, W):
    """The paper's Fig. 3 metric, (1 / (N D)) sum_nd w_nd (xhat_nd - x_nd)^2, a float.

    Equal to the mean of :func:`weighted_mse_per_spectrum` (every spectrum has D pixels).
    """
    return float(weighted_mse_per_spectrum(X, Xhat, W).mean())


def reduced_chi2(X, Xhat, W, n_params):
    """Reduced chi^2 per spectrum, chi2_n / (n_good_n - n_params).

    .. math:: \\chi^2_{\\nu,n} = \\frac{\\sum_d w_{nd} (\\hat x_{nd} - x_{nd})^2}{n_{good,n} - p}

    n_good counts pixels with w > 0; p = n_params (the code length). X, Xhat, W (N, D) -> (N,);
    NaN where n_good <= n_params (no degrees of freedom left).
    """
    X, Xhat, W = _check_triplet(X, Xhat, W)
    if int(n_params) < 0:
        raise NpvaeError(f"n_params must be >= 0, got {n_params}")
    chi2 = (W * (Xhat - X) ** 2).sum(axis=1)                             # (N,)
    dof = (W > 0).sum(axis=1) - int(n_params)                            # (N,)
    out = np.full(chi2.shape, np.nan)
    out[dof > 0] = chi2[dof > 0] / dof[dof > 0]
    return out


def per_class(values, labels, classes=CLASSES):
    """Mean, median and count of per-spectrum values for all spectra and for each class.

    values (N,), labels (N,) str -> {"all": {...}, "quiescent": {...}, ...}, each
    {"mean": float, "median": float, "n": int}; NaN values are left out; a class with no
    spectrum gets mean and median None (valid JSON).
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if values.ndim != 1 or labels.shape != values.shape:
        raise NpvaeError(f"values {values.shape} and labels {labels.shape} must be 1-d, "
                         "same length")
    out = {}
    for name in ("all",) + tuple(classes):
        keep = np.isfinite(values) & ((labels == name) | (name == "all"))
        v = values[keep]
        out[name] = {"mean": float(v.mean()) if v.size else None,
                     "median": float(np.median(v)) if v.size else None, "n": int(v.size)}
    return out


def reconstruction_table(results, labels, classes=CLASSES):
    """Nested dict for metrics.json: {method: {str(n_params): per_class(values, labels)}}.

    results: {method: {n_params: per-spectrum values (N,)}}, e.g. weighted_mse_per_spectrum
    of the validation set. Keys become strings so the table round-trips through JSON;
    n_params are sorted numerically.
    """
    table = {}
    for method, by_params in results.items():
        table[str(method)] = {str(p): per_class(by_params[p], labels, classes)
                              for p in sorted(by_params, key=int)}
    return table
