"""Tracks through latent space: bin spectra along a direction, decode the bin centroids (Figs. 9-13).

A track (paper Sec. 3.2) follows the galaxies of chosen classes along one direction in latent
space: the spectra are projected on the direction, binned at percentile edges of that
projection, each bin's centroid in latent space becomes a point of the track, and the decoder
turns those points into synthetic spectra. :data:`TRACK_PRESETS` holds the paper's four tracks.
Doc: docs/analysis.md.

Shapes: N spectra, Z latent dimensions, B bins (points of a track), D pixels.
"""
from dataclasses import dataclass

import numpy as np

from npvae.analysis.axes import check_latent, resolve_direction
from npvae.utils import NpvaeError

__all__ = ["Track", "TRACK_PRESETS", "latent_track", "preset_track", "decode_track"]

# The paper's four tracks. Directions are axis expressions (1-based, "VAE1" is the first axis).
# Star formation edges are the paper's; the others are ours (the paper says only "top
# percentiles" for the extreme emitters and gives the number of points of each track).
TRACK_PRESETS = {
    "star_formation": dict(prefix="S", classes=("quiescent", "emission"), direction="VAE1",
                           percentile_edges=(0, 30, 60, 90, 95, 100)),
    "extreme_emitters": dict(prefix="E", classes=("emission",), direction="VAE3+VAE4",
                             percentile_edges=(80, 90, 95, 99, 100)),
    "post_starburst": dict(prefix="P", classes=("quiescent",), direction="VAE2",
                           percentile_edges=(0, 5, 25, 75, 95, 100)),
    "active_galaxies": dict(prefix="A", classes=("nlagn", "blagn"), direction="VAE5-VAE6",
                            percentile_edges=(0, 25, 50, 75, 95, 100)),
}


@dataclass
class Track:
    """One track: B points in latent space and what made them.

    Attributes
    ----------
    name : str, e.g. "star_formation"; point names are prefix + 1..B ("S1".."S5").
    centroids : (B, Z) mean latent point of each bin (NaN for an empty bin).
    counts : (B,) spectra in each bin.
    edges : (B+1,) bin edges in projection units (the percentiles of the projection).
    direction : (Z,) unit vector the spectra were projected on.
    selected : (N,) bool, the spectra of the chosen classes.
    bin_index : (N,) int, the bin of each spectrum, -1 outside the track.
    """

    name: str
    point_names: list
    centroids: np.ndarray
    counts: np.ndarray
    edges: np.ndarray
    direction: np.ndarray
    selected: np.ndarray
    bin_index: np.ndarray


def _select(labels, classes, n):
    """Boolean mask (N,) of the spectra whose label is in ``classes`` (None = all)."""
    if classes is None:
        return np.ones(n, dtype=bool)
    labels = np.asarray(labels).astype(str)
    if labels.shape != (n,):
        raise NpvaeError(f"labels has shape {labels.shape}, expected ({n},) like mu")
    return np.isin(labels, np.asarray(classes, dtype=str))


def _check_edges(percentile_edges):
    """Percentile edges as a float array (B+1,), increasing, in [0, 100], at least 2."""
    edges = np.asarray(percentile_edges, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) \
            or edges[0] < 0 or edges[-1] > 100:
        raise NpvaeError(f"percentile_edges must increase within 0..100 with at least two values, "
                         f"got {list(percentile_edges)}")
    return edges


def latent_track(mu, labels, classes, direction, percentile_edges, axes=None, name="track",
                 prefix="T"):
    """Bin the chosen spectra along a direction and return each bin's latent centroid.

    With u the unit direction and t_n = (mu_n - mean) . u the projection of spectrum n, the
    edges are the percentiles q_0 < ... < q_B of t over the selected spectra; bin b holds
    q_b <= t < q_{b+1} (the last bin closed), and its point is c_b = mean_{n in b} mu_n.

    Parameters
    ----------
    mu : (N, Z) latent means.
    labels : (N,) str class labels, or None with ``classes=None``.
    classes : sequence of str, or None for all spectra.
    direction : int (0-based axis), str ("VAE1", "VAE3+VAE4") or (Z,) vector; see
        :func:`npvae.analysis.axes.resolve_direction`.
    percentile_edges : (B+1,) increasing percentiles in [0, 100].
    axes : LatentAxes, needed when ``direction`` names axes.

    Returns
    -------
    Track
    """
    mu = check_latent(mu)
    n, z = mu.shape
    edges_pct = _check_edges(percentile_edges)
    u = resolve_direction(direction, axes, n_latent=z)            # (Z,)
    selected = _select(labels, classes, n)                         # (N,)
    if not selected.any():
        raise NpvaeError(f"no spectra of classes {list(classes)} for track {name!r}")
    origin = mu[selected].mean(axis=0) if axes is None else axes.mean_
    t = (mu - origin) @ u                                          # (N,)
    edges = np.percentile(t[selected], edges_pct)                  # (B+1,)
    inner = np.searchsorted(edges, t, side="right") - 1            # (N,)
    inner[t == edges[-1]] = len(edges) - 2
    inside = selected & (inner >= 0) & (inner < len(edges) - 1) & (t <= edges[-1])
    bin_index = np.where(inside, inner, -1)                        # (N,)
    n_bins = len(edges) - 1
    counts = np.bincount(bin_index[inside], minlength=n_bins)      # (B,)
    sums = np.zeros((n_bins, z))
    np.add.at(sums, bin_index[inside], mu[inside])                 # (B, Z)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = sums / counts[:, None]                         # (B, Z)
    names = [f"{prefix}{b + 1}" for b in range(n_bins)]
    return Track(name, names, centroids, counts, edges, u, selected, bin_index)


def preset_track(preset, mu, labels, axes):
    """One of :data:`TRACK_PRESETS` ("star_formation", ...) computed on ``mu`` with ``axes``."""
    if preset not in TRACK_PRESETS:
        raise NpvaeError(f"unknown track preset {preset!r}; known: {sorted(TRACK_PRESETS)}")
    spec = TRACK_PRESETS[preset]
    return latent_track(mu, labels, spec["classes"], spec["direction"], spec["percentile_edges"],
                        axes=axes, name=preset, prefix=spec["prefix"])


def decode_track(decode, centroids):
    """Decode the points of a track: spectra (B, D) = decode(centroids (B, Z)).

    Empty bins (NaN centroids) give NaN spectra instead of being sent to the decoder.
    """
    centroids = np.atleast_2d(np.asarray(centroids, dtype=np.float64))   # (B, Z)
    ok = np.isfinite(centroids).all(axis=1)                                # (B,)
    if not ok.any():
        raise NpvaeError("every point of the track is empty (NaN); nothing to decode")
    decoded = np.asarray(decode(centroids[ok]), dtype=np.float64)         # (B_ok, D)
    if decoded.ndim != 2 or decoded.shape[0] != ok.sum():
        raise NpvaeError(f"decode returned shape {decoded.shape} for {ok.sum()} latent points")
    out = np.full((centroids.shape[0], decoded.shape[1]), np.nan)        # (B, D)
    out[ok] = decoded
    return out
