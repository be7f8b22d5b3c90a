"""Latent axes "VAE 1..Z": a principal component analysis of the latent means (paper Sec. 3.2, Fig. 8).

The axes of a VAE latent space are arbitrary. Portillo et al. (2020) rotate it with a PCA of the
latent means of the training spectra and call the components VAE 1, VAE 2, ... in decreasing
order of explained variance. :func:`fit_latent_axes` does that; :func:`resolve_direction` turns
"an axis, a combination of axes or a raw latent vector" into one unit vector in latent space,
which the tracks (:mod:`npvae.analysis.tracks`) bin along. Doc: docs/analysis.md.

Shapes: N spectra, Z latent dimensions, K kept axes (K <= Z).
"""
import re
from dataclasses import dataclass

import numpy as np

from npvae.utils import NpvaeError

__all__ = ["LatentAxes", "fit_latent_axes", "resolve_direction", "check_latent"]


def check_latent(mu, name="mu"):
    """Return ``mu`` as a finite float64 array (N, Z), or raise NpvaeError saying what is wrong."""
    mu = np.asarray(mu, dtype=np.float64)
    if mu.ndim != 2 or mu.shape[0] == 0 or mu.shape[1] == 0:
        raise NpvaeError(f"{name} must be a non-empty 2-D array (N, Z), got shape {mu.shape}")
    bad = ~np.isfinite(mu).all(axis=1)
    if bad.any():
        raise NpvaeError(f"{name} has non-finite values in {bad.sum()} rows "
                         f"(first at row {np.flatnonzero(bad)[0]})")
    return mu


@dataclass
class LatentAxes:
    """A rotation of latent space onto its principal axes.

    Attributes
    ----------
    mean_ : (Z,) centroid of the latent means it was fitted on.
    components_ : (K, Z) orthonormal rows; row k is axis "VAE k+1".
    explained_variance_ : (K,) variance of the latent means along each axis.
    explained_variance_ratio_ : (K,) that variance over the total latent variance.
    """

    mean_: np.ndarray
    components_: np.ndarray
    explained_variance_: np.ndarray
    explained_variance_ratio_: np.ndarray

    @property
    def n_axes(self):
        """Number of kept axes K."""
        return self.components_.shape[0]

    def transform(self, mu):
        """Coordinates on the axes, c = (mu - mean) V^T.  mu (N, Z) -> c (N, K)."""
        mu = check_latent(mu)
        if mu.shape[1] != self.mean_.shape[0]:
            raise NpvaeError(f"mu has {mu.shape[1]} latent dimensions, the axes were fitted on "
                             f"{self.mean_.shape[0]}")
        return (mu - self.mean_) @ self.components_.T            # (N, K)

    def inverse_transform(self, coords):
        """Latent points from coordinates, mu = c V + mean.  c (N, K) -> mu (N, Z)."""
        coords = np.atleast_2d(np.asarray(coords, dtype=np.float64))
        if coords.shape[1] != self.n_axes:
            raise NpvaeError(f"coords has {coords.shape[1]} columns, the axes have {self.n_axes}")
        return coords @ self.components_ + self.mean_             # (N, Z)

    def flipped(self, axes):
        """A copy with the sign of the given 0-based axes reversed (PCA signs are arbitrary)."""
        signs = np.ones(self.n_axes)
        signs[np.atleast_1d(np.asarray(axes, dtype=int))] = -1.0
        return LatentAxes(self.mean_.copy(), self.components_ * signs[:, None],
                          self.explained_variance_.copy(), self.explained_variance_ratio_.copy())


def fit_latent_axes(mu_train, n_axes=None):
    """PCA of the latent means: the axes VAE 1..K.

    With the centred means M = mu - mean and the SVD M = U S V^T, the axes are the rows of V^T
    and the variance along axis k is S_k^2 / (N - 1). Each axis is signed so that its largest
    loading is positive, which makes the result deterministic.

    Parameters
    ----------
    mu_train : (N, Z) latent means of the training spectra (N >= 2).
    n_axes : int, optional. Axes kept (default all Z).

    Returns
    -------
    LatentAxes
    """
    mu = check_latent(mu_train, "mu_train")
    n, z = mu.shape
    if n < 2:
        raise NpvaeError("fit_latent_axes needs at least 2 latent means")
    n_axes = z if n_axes is None else int(n_axes)
    if not 1 <= n_axes <= z:
        raise NpvaeError(f"n_axes must be in 1..{z}, got {n_axes}")
    mean = mu.mean(axis=0)                                         # (Z,)
    _, s, vt = np.linalg.svd(mu - mean, full_matrices=False)       # s (Z,), vt (Z, Z)
    pivot = np.argmax(np.abs(vt), axis=1)                          # (Z,)
    vt = vt * np.sign(vt[np.arange(z), pivot])[:, None]
    var = s ** 2 / (n - 1)                                         # (Z,)
    ratio = var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    return LatentAxes(mean, vt[:n_axes], var[:n_axes], ratio[:n_axes])


_TERM = re.compile(r"([+-]?)\s*(\d*\.?\d*)\s*\*?\s*VAE\s*(\d+)", re.IGNORECASE)


def _parse_axis_expression(text, n_axes):
    """'VAE3+VAE4', 'VAE5 - VAE6', '2*VAE1-VAE2' -> weights (K,) over the axes (1-based names)."""
    compact = text.replace(" ", "")
    terms = list(_TERM.finditer(compact))
    if not terms or "".join(t.group(0) for t in terms) != compact:
        raise NpvaeError(f"cannot read direction {text!r}: write e.g. 'VAE1', 'VAE3+VAE4', "
                         f"'VAE5-VAE6'")
    weights = np.zeros(n_axes)
    for term in terms:
        k = int(term.group(3))
        if not 1 <= k <= n_axes:
            raise NpvaeError(f"direction {text!r} names VAE{k}; the axes are VAE1..VAE{n_axes}")
        scale = float(term.group(2)) if term.group(2) not in ("", ".") else 1.0
        weights[k - 1] += -scale if term.group(1) == "-" else scale
    return weights


def resolve_direction(direction, axes=None, n_latent=None):
    """A unit vector u (Z,) in latent space from an axis, an axis expression or a raw vector.

    Parameters
    ----------
    direction : int, str or array (Z,)
        int k: the 0-based axis k of ``axes`` (0 is VAE 1); str: a combination of axes such
        as ``"VAE1"``, ``"VAE3+VAE4"``, ``"VAE5-VAE6"`` (1-based, as in the paper), i.e.
        u = sum_k w_k V_k / |sum_k w_k V_k|; array: a vector in latent space, normalised.
    axes : LatentAxes, needed for int and str directions.
    n_latent : int, optional. Checks the length of a raw vector.
    """
    if isinstance(direction, (str, int, np.integer)):
        if axes is None:
            raise NpvaeError(f"direction {direction!r} refers to VAE axes: pass axes=LatentAxes")
        if isinstance(direction, str):
            weights = _parse_axis_expression(direction, axes.n_axes)
        else:
            if not 0 <= int(direction) < axes.n_axes:
                raise NpvaeError(f"axis index {direction} out of range 0..{axes.n_axes - 1}")
            weights = np.eye(axes.n_axes)[int(direction)]
        vec = weights @ axes.components_                          # (Z,)
    else:
        vec = np.asarray(direction, dtype=np.float64).ravel()     # (Z,)
        expected = n_latent if n_latent is not None else (
            None if axes is None else axes.mean_.shape[0])
        if expected is not None and vec.shape[0] != expected:
            raise NpvaeError(f"direction vector has length {vec.shape[0]}, latent space has "
                             f"{expected} dimensions")
    norm = np.linalg.norm(vec)
    if not np.isfinite(norm) or norm == 0:
        raise NpvaeError(f"direction {direction!r} is a zero or non-finite vector")
    return vec / norm
