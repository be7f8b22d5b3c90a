"""How well the latent space separates the classes, and what its axes mean physically.

Two scores the paper could not compute on real data, which the synthetic survey allows:

* :func:`knn_separation`: cross-validated balanced accuracy of a k-nearest-neighbour classifier
  on a code space (VAE latent means, or PCA coefficients of the same dimension for comparison);
* :func:`truth_correlations`: Spearman rank correlation of each VAE axis with each true
  parameter of the synthetic survey (age, dust, line strength, line width, ...).

Doc: docs/analysis.md. Shapes: N spectra, K code dimensions, P true parameters, F folds.
"""
from dataclasses import dataclass

import numpy as np

from npvae.analysis.ranks import spearman
from npvae.utils import NpvaeError, as_generator

__all__ = ["knn_separation", "compare_separation", "TruthCorrelations", "truth_correlations"]


def _check_codes_labels(codes, labels):
    """codes (N, K) finite float64 and labels (N,) str, or NpvaeError."""
    codes = np.asarray(codes, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if codes.ndim != 2 or labels.shape != (codes.shape[0],):
        raise NpvaeError(f"codes must be (N, K) and labels (N,), got {codes.shape} and "
                         f"{labels.shape}")
    if not np.isfinite(codes).all():
        raise NpvaeError("codes has non-finite values")
    return codes, labels


def knn_separation(codes, labels, k=15, cv=5, rng=None, standardize=False):
    """Cross-validated balanced accuracy of a k-NN classifier in a code space.

    Balanced accuracy = mean over classes c of (correct in c) / (members of c), so the
    dominant class does not hide a poor separation of the rare ones; chance is 1 / #classes.
    Folds are stratified and shuffled with a seed drawn from ``rng``; classes with fewer than
    ``cv`` members are left out (listed in ``dropped_classes``).

    Parameters
    ----------
    codes : (N, K) latent means or PCA coefficients.
    labels : (N,) str class labels.
    k : int, neighbours; cv : int, folds F.
    rng : np.random.Generator, int seed or None.
    standardize : bool, scale each code dimension to unit variance inside each fold.

    Returns
    -------
    dict with ``balanced_accuracy`` (mean over folds), ``std``, ``folds`` (F,), ``chance``,
    ``classes``, ``dropped_classes``.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    codes, labels = _check_codes_labels(codes, labels)
    names, counts = np.unique(labels, return_counts=True)
    keep_names = names[counts >= cv]
    if keep_names.size < 2:
        raise NpvaeError(f"need at least 2 classes with >= {cv} members, have "
                         f"{dict(zip(names.tolist(), counts.tolist()))}")
    keep = np.isin(labels, keep_names)                            # (N,)
    if int(k) >= keep.sum() * (cv - 1) // cv:
        raise NpvaeError(f"k = {k} is too large for {keep.sum()} spectra in {cv} folds")
    seed = int(as_generator(rng).integers(2 ** 31 - 1))
    model = KNeighborsClassifier(n_neighbors=int(k))
    if standardize:
        model = make_pipeline(StandardScaler(), model)
    folds = StratifiedKFold(n_splits=int(cv), shuffle=True, random_state=seed)
    scores = cross_val_score(model, codes[keep], labels[keep], cv=folds,
                             scoring="balanced_accuracy")          # (F,)
    return dict(balanced_accuracy=float(scores.mean()), std=float(scores.std()),
                folds=scores, chance=1.0 / keep_names.size, classes=keep_names.tolist(),
                dropped_classes=sorted(set(names.tolist()) - set(keep_names.tolist())))


def compare_separation(codes_by_name, labels, k=15, cv=5, rng=None, standardize=False):
    """:func:`knn_separation` of several code spaces on the same folds.

    codes_by_name : {name: (N, K_name)}, e.g. {"VAE": mu, "PCA": pca_coefficients} with the
    same K. One seed is drawn from ``rng`` and shared, so the spaces meet identical folds.
    Returns {name: result dict}.
    """
    seed = int(as_generator(rng).integers(2 ** 31 - 1))
    return {name: knn_separation(codes, labels, k=k, cv=cv, rng=seed, standardize=standardize)
            for name, codes in codes_by_name.items()}


@dataclass
class TruthCorrelations:
    """Spearman rho of each code axis (rows) with each true parameter (columns).

    Attributes
    ----------
    params : list of P parameter names.
    rho : (K, P) rank correlations; NaN where a parameter is constant.
    n_used : (P,) spectra with a finite value of each parameter.
    """

    params: list
    rho: np.ndarray
    n_used: np.ndarray

    def best_axis(self):
        """For each parameter, the 0-based axis with the largest |rho| and that rho."""
        filled = np.where(np.isnan(self.rho), -1.0, np.abs(self.rho))
        idx = np.argmax(filled, axis=0)                            # (P,)
        return {p: (int(i), float(self.rho[i, j])) for j, (p, i) in enumerate(zip(self.params, idx))}


def _truth_columns(truth, n):
    """Name -> (N,) float array from a dict, a structured array or an astropy Table."""
    names = truth.dtype.names if hasattr(truth, "dtype") and truth.dtype.names else (
        truth.colnames if hasattr(truth, "colnames") else list(truth))
    cols = {}
    for name in names:
        col = np.asarray(truth[name])
        if col.dtype.kind not in "fiub" or col.ndim != 1:
            continue                                               # skip text / vector columns
        if col.shape[0] != n:
            raise NpvaeError(f"truth column {name!r} has {col.shape[0]} rows, coords has {n}")
        cols[name] = col.astype(np.float64)
    if not cols:
        raise NpvaeError("truth has no numeric 1-D column to correlate with")
    return cols


def truth_correlations(coords, truth):
    """Spearman rank correlation of every code axis with every numeric true parameter.

    rho(a, b) = Pearson correlation of rank(a) and rank(b), over the spectra where b is finite.

    Parameters
    ----------
    coords : (N, K) coordinates (e.g. ``LatentAxes.transform(mu)``).
    truth : dict, structured array or Table of (N,) numeric columns (text columns skipped).

    Returns
    -------
    TruthCorrelations
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 2 or not np.isfinite(coords).all():
        raise NpvaeError(f"coords must be a finite (N, K) array, got shape {coords.shape}")
    cols = _truth_columns(truth, coords.shape[0])
    rho = np.full((coords.shape[1], len(cols)), np.nan)           # (K, P)
    n_used = np.zeros(len(cols), dtype=int)
    for j, values in enumerate(cols.values()):
        ok = np.isfinite(values)
        n_used[j] = ok.sum()
        if n_used[j] < 3 or np.ptp(values[ok]) == 0:
            continue
        for a in range(coords.shape[1]):
            if np.ptp(coords[ok, a]) > 0:
                rho[a, j] = spearman(coords[ok, a], values[ok])
    return TruthCorrelations(list(cols), rho, n_used)
