"""What the explorer shows, gathered in Python: latent means, axes, colours, spectra, layers.

:func:`gather` encodes every spectrum of a dataset with a trained model and collects, per
spectrum, its latent mean, its ID (PLATE-MJD-FIBER), the catalogue columns, the reduced chi^2
of its reconstruction and its local outlier factor in latent space; once, the latent axes VAE
1..Z (the PCA of the training latent means, as the paper's Fig. 8), the paper's tracks and the
top outliers. Only up to ``max_spectra`` spectra themselves are kept (the outliers first, then
a random sample); the page shows the decoded reconstruction for the others.

Shapes: N spectra, S kept spectra, D pixels, Z latent dimensions, B points of a track.
"""
from dataclasses import dataclass, field

import numpy as np

from ..analysis.axes import LatentAxes, fit_latent_axes
from ..analysis.outliers import lof_scores, top_outliers
from ..analysis.tracks import TRACK_PRESETS, preset_track
from ..baselines.metrics import reduced_chi2
from ..data.dataset import pipeline_stars
from ..paper import LOF_K
from ..utils import NpvaeError, as_generator

__all__ = ["ExplorerData", "gather", "MAX_SPECTRA", "N_OUTLIERS"]

MAX_SPECTRA = 1000        # spectra embedded in the page by default (the others: reconstruction only)
N_OUTLIERS = 10           # top outliers by LOF shown as a layer (the paper's Table 2)
CHUNK = 4096              # spectra per reconstruction pass (bounds the float64 temporaries)
ID_COLUMNS = ("PLATE", "MJD", "FIBERID")
MAX_LEVELS = 32           # a string column with more distinct values is not offered as a colour


@dataclass
class ExplorerData:
    """Everything the page embeds, as NumPy arrays.

    Attributes
    ----------
    mu : (N, Z) float32 latent means.
    axes : LatentAxes, the axes VAE 1..Z.
    ids : dict PLATE / MJD / FIBERID -> (N,) int.
    numeric : dict name -> (N,) float32: catalogue columns, ``chi2`` and ``LOF``.
    categorical : dict name -> (codes (N,) uint8, levels list of str).
    class_column : name of the categorical column of classes (the default colour).
    rows : (S,) int, the rows whose spectra are kept; flux, weight (S, D) their arrays.
    wave : (D,) rest-frame wavelength in Angstrom.
    tracks : list of dict name, points (B names), centroids (B, Z) (NaN for an empty bin).
    outliers : (K,) int rows of the highest LOF, highest first.
    """

    mu: np.ndarray
    axes: LatentAxes
    ids: dict
    numeric: dict
    categorical: dict
    class_column: str
    rows: np.ndarray
    flux: np.ndarray
    weight: np.ndarray
    wave: np.ndarray
    tracks: list = field(default_factory=list)
    outliers: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def __len__(self):
        return len(self.mu)


def _chi2(model, mu, flux, weight):
    """Reduced chi^2 of each reconstruction decode(mu), in chunks.  mu (N, Z) -> (N,)."""
    out = np.empty(len(flux))                                               # (N,)
    for s in range(0, len(flux), CHUNK):
        x = np.asarray(flux[s:s + CHUNK], np.float32)                       # (C, D)
        out[s:s + CHUNK] = reduced_chi2(x, model.decode(mu[s:s + CHUNK]), weight[s:s + CHUNK], model.n_latent)
    return out


def _stars(catalog):
    """(N,) bool: pipeline CLASS STAR (none when the catalogue has no CLASS column)."""
    return pipeline_stars(catalog) if "CLASS" in catalog.colnames else np.zeros(len(catalog), bool)


def _axes(mu, catalog):
    """The axes VAE 1..Z fitted on the training galaxies and quasars (all rows if too few)."""
    keep = ~_stars(catalog)
    if "SPLIT" in catalog.colnames:
        keep &= np.asarray(catalog["SPLIT"], dtype=str) == "train"
    return fit_latent_axes(mu[keep] if keep.sum() >= 2 else mu)


def _columns(catalog):
    """Numeric columns (name -> (N,) float32) and string columns with few levels (codes, levels)."""
    numeric, categorical = {}, {}
    for name in catalog.colnames:
        col = np.asarray(catalog[name])
        if col.ndim != 1 or name in ID_COLUMNS:
            continue
        if col.dtype.kind in "fiub":
            numeric[name] = col.astype(np.float32)
        elif col.dtype.kind in "US":
            levels, codes = np.unique(np.char.strip(col.astype(str)), return_inverse=True)
            if len(levels) <= MAX_LEVELS:
                categorical[name] = (codes.astype(np.uint8), [str(v) for v in levels])
    return numeric, categorical


def _tracks(mu, catalog, axes):
    """The paper's tracks on the galaxies and quasars; a track whose classes are absent is left out."""
    if "LABEL" not in catalog.colnames:
        return []
    gal = ~_stars(catalog)
    labels = np.asarray(catalog["LABEL"], dtype=str)[gal]
    tracks = []
    for preset in TRACK_PRESETS:
        try:
            track = preset_track(preset, mu[gal], labels, axes)
        except NpvaeError:
            continue
        tracks.append({"name": preset, "points": track.point_names, "centroids": track.centroids})
    return tracks


def _kept_rows(n, max_spectra, first, rng):
    """Rows whose spectra are kept: ``first`` (the outliers), then a random sample, sorted.  (S,)."""
    first = np.unique(np.asarray(first, dtype=int))[:max_spectra]
    rest = np.setdiff1d(np.arange(n), first)
    extra = rng.choice(rest, size=min(len(rest), max_spectra - len(first)), replace=False)
    return np.sort(np.concatenate([first, extra])).astype(np.int64)


def gather(model, dataset, max_spectra=MAX_SPECTRA, rng=0, n_outliers=N_OUTLIERS):
    """Encode a dataset and collect what the explorer shows.

    Parameters
    ----------
    model : a trained InfoVAE or Autoencoder (``encode``, ``reconstruct``, ``n_latent``).
    dataset : npvae.data.dataset.Dataset with the model's number of pixels.
    max_spectra : int, spectra kept in the page (>= 0): the top outliers by LOF and by chi^2
        first, then a random sample.
    rng : Generator, int or None. Draws the sample of kept spectra.
    n_outliers : int, rows of the outlier layer.

    Returns
    -------
    ExplorerData
    """
    if int(max_spectra) < 0:
        raise NpvaeError(f"max_spectra must be >= 0, got {max_spectra}")
    rng = as_generator(rng)
    flux, weight = dataset.flux, dataset.weight
    if flux.shape[1] != model.n_features:
        raise NpvaeError(f"{dataset.path}: spectra have {flux.shape[1]} pixels, the model "
                         f"expects {model.n_features}")
    catalog = dataset.catalog
    mu = model.encode(flux)[0].astype(np.float32)                           # (N, Z)
    axes = _axes(mu, catalog)
    numeric, categorical = _columns(catalog)
    chi2 = _chi2(model, mu, flux, weight)                                       # (N,)
    numeric["chi2"] = chi2.astype(np.float32)
    lof = lof_scores(mu, k=LOF_K) if len(mu) > LOF_K else np.full(len(mu), np.nan)
    numeric["LOF"] = lof.astype(np.float32)
    outliers = top_outliers(lof, n_outliers)
    rows = _kept_rows(len(mu), int(max_spectra), np.concatenate([outliers, top_outliers(chi2, n_outliers)]), rng)
    class_column = "LABEL" if "LABEL" in categorical else next(iter(categorical), "")
    ids = {name: np.asarray(catalog[name], np.int64) if name in catalog.colnames else np.zeros(len(mu), np.int64)
           for name in ID_COLUMNS}
    return ExplorerData(mu=mu, axes=axes, ids=ids, numeric=numeric, categorical=categorical,
                        class_column=class_column, rows=rows,
                        flux=np.asarray(flux[rows], np.float32), weight=np.asarray(weight[rows], np.float32),
                        wave=np.asarray(dataset.wave, np.float64), tracks=_tracks(mu, catalog, axes),
                        outliers=np.asarray(outliers, np.int64))
