"""Single-axis traversals: move one VAE axis at a time through the centroid (paper Fig. 14).

Each axis VAE k is set to chosen percentiles of the spectra's coordinates on it (1st, 16th,
50th, 84th, 99th by default) while every other axis stays at the centroid of all latent means,
and the points are mapped back to latent space for the decoder. Doc: docs/analysis.md.

Shapes: N spectra, Z latent dimensions, K axes traversed, P percentiles, D pixels.
"""
import numpy as np

from npvae.analysis.axes import check_latent
from npvae.utils import NpvaeError

__all__ = ["axis_traversals", "decode_traversals"]


def axis_traversals(axes, mu, percentiles=(1, 16, 50, 84, 99), n_axes=None):
    """Latent points moving one axis at a time through the centroid.

    With c_n = transform(mu_n), q_{k,p} the p-th percentile of c_{n,k}, the centroid
    m = mean_n mu_n and its coordinate c(m)_k, point (k, p) is m + (q_{k,p} - c(m)_k) V_k: on
    axis k it sits at the percentile, every other direction stays at the centroid.

    Parameters
    ----------
    axes : LatentAxes.
    mu : (N, Z) latent means whose percentiles set the range (usually all spectra).
    percentiles : (P,) values in [0, 100].
    n_axes : int, optional. Axes traversed, the first K (default all of ``axes``).

    Returns
    -------
    points : (K, P, Z) latent points.
    coords : (K, P) the moving coordinate of each point.
    """
    mu = check_latent(mu)
    pct = np.asarray(percentiles, dtype=np.float64)
    if pct.ndim != 1 or pct.size == 0 or pct.min() < 0 or pct.max() > 100:
        raise NpvaeError(f"percentiles must be values in 0..100, got {list(percentiles)}")
    k = axes.n_axes if n_axes is None else int(n_axes)
    if not 1 <= k <= axes.n_axes:
        raise NpvaeError(f"n_axes must be in 1..{axes.n_axes}, got {n_axes}")
    coords_all = axes.transform(mu)[:, :k]                        # (N, K)
    coords = np.percentile(coords_all, pct, axis=0).T             # (K, P)
    centroid = mu.mean(axis=0)                                     # (Z,)
    centroid_coords = axes.transform(centroid[None])[0, :k]        # (K,)
    shift = coords - centroid_coords[:, None]                      # (K, P)
    points = centroid + shift[:, :, None] * axes.components_[:k, None, :]   # (K, P, Z)
    return points, coords


def decode_traversals(decode, points):
    """Decode traversal points: (K, P, Z) -> spectra (K, P, D) in one call to ``decode``."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3:
        raise NpvaeError(f"points must be (K, P, Z), got shape {points.shape}")
    k, p, z = points.shape
    decoded = np.asarray(decode(points.reshape(k * p, z)), dtype=np.float64)   # (K*P, D)
    if decoded.ndim != 2 or decoded.shape[0] != k * p:
        raise NpvaeError(f"decode returned shape {decoded.shape} for {k * p} latent points")
    return decoded.reshape(k, p, -1)
