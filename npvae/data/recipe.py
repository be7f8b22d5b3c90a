"""The preprocessing recipe a trained model carries: raw spectrum -> model input, as in training.

A model sees spectra on the paper's rest-frame grid, normalised over a fixed window, with
S/N-capped weights and its bad pixels infilled. :class:`Preprocessing` holds every setting of
that path (:mod:`npvae.data.preprocess` steps 1-6) and the training set's infill basis (its mean
spectrum and top eigenvectors), so that a new spectrum is made ready exactly as the training
spectra were, and its infill is a function of that one spectrum and the stored basis, never of
the other spectra it comes with. The model file stores it (:meth:`Preprocessing.to_file`, keys in
docs/encode.md); :func:`npvae.load` gives it back as ``model.preprocessing``.

Shapes: N spectra, D = M rest pixels, K infill eigenvectors.
"""
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..paper import INFILL_EIGENVECTORS, N_PIXELS, REST_DLOGLAM, REST_LOGLAM0, SN_CAP
from ..utils import NpvaeError
from .dataset import dataset_meta
from .infill import BASIS_RIDGE, WeightedFit, basis_infill, fit_infill_basis
from .preprocess import MIN_COVERAGE, MIN_PIXEL_COVERAGE, NORM_WINDOW, prepare_chunk

__all__ = ["Preprocessing", "INFILL_METHODS", "DEFAULT_INFILL", "preprocessing_for_data_file"]

INFILL_METHODS = ("pca", "vae")   # training-set basis; the model itself (npvae.apply.infill)
DEFAULT_INFILL = "vae"            # the better of the two on masked synthetic truth (docs/encode.md)
_PREFIX = "preprocessing."        # array keys in the model file
DILATE = 2                        # observed pixels added on each side of a bad one (preprocess default)


@dataclass
class Preprocessing:
    """Everything that takes a raw spectrum to a model's input.

    Attributes
    ----------
    loglam0, dloglam, n_pixels : rest grid log10(lambda) = loglam0 + dloglam i, i < n_pixels
    norm_window : (lo, hi) Angstrom, rest frame, where the flux is normalised to mean 1
    sn_cap : float or None, pixel S/N cap of the weights
    min_coverage : float, fraction of good rest pixels below which a spectrum is skipped
    min_pixel_coverage : float, fraction of a rest pixel that good data must cover
    dilate : int, observed pixels added on each side of a bad pixel
    infill_mean : ndarray (D,), mean of the (infilled) training spectra
    infill_vectors : ndarray (D, K), their top K eigenvectors
    infill : "pca" or "vae", the default infill of new spectra
    """

    infill_mean: np.ndarray
    infill_vectors: np.ndarray
    sn_cap: float = SN_CAP
    min_coverage: float = MIN_COVERAGE
    dilate: int = DILATE
    infill: str = DEFAULT_INFILL
    loglam0: float = REST_LOGLAM0
    dloglam: float = REST_DLOGLAM
    n_pixels: int = N_PIXELS
    norm_window: tuple = NORM_WINDOW
    min_pixel_coverage: float = MIN_PIXEL_COVERAGE

    @classmethod
    def from_training(cls, X, meta=None, n_ev=INFILL_EIGENVECTORS, infill=DEFAULT_INFILL):
        """The recipe of a training set: its settings (dataset ``meta``) and X's infill basis.

        X (N, D) are the training spectra as the model saw them (infilled); ``meta`` the
        dataset's metadata (``sn_cap``, ``min_coverage``; 0 or None means no cap).
        """
        meta = meta or {}
        mean, vectors = fit_infill_basis(X, n_ev)
        sn_cap = meta.get("sn_cap", SN_CAP)
        return cls(infill_mean=mean, infill_vectors=vectors, sn_cap=float(sn_cap) if sn_cap else None,
                   min_coverage=float(meta.get("min_coverage", MIN_COVERAGE)),
                   dilate=int(meta.get("dilate", DILATE)), infill=infill)

    # --- the model file -------------------------------------------------------------------
    def to_file(self):
        """(arrays, meta) for ``model.save(path, extra_arrays=..., extra_meta=...)``."""
        arrays = {_PREFIX + "infill_mean": np.asarray(self.infill_mean, np.float64),
                  _PREFIX + "infill_vectors": np.asarray(self.infill_vectors, np.float64)}
        settings = {"loglam0": self.loglam0, "dloglam": self.dloglam, "n_pixels": self.n_pixels,
                    "norm_window": list(self.norm_window), "sn_cap": self.sn_cap,
                    "min_coverage": self.min_coverage, "min_pixel_coverage": self.min_pixel_coverage,
                    "dilate": self.dilate, "infill": self.infill}
        return arrays, {"preprocessing": settings}

    @classmethod
    def from_file(cls, arrays, meta, where=""):
        """The recipe stored by :meth:`to_file`, or None when the file has none (older files)."""
        if meta.get("preprocessing") is None:
            return None
        settings = dict(meta["preprocessing"])
        try:
            recipe = cls(infill_mean=arrays[_PREFIX + "infill_mean"],
                         infill_vectors=arrays[_PREFIX + "infill_vectors"],
                         norm_window=tuple(settings.pop("norm_window")), **settings)
        except (KeyError, TypeError) as err:
            raise NpvaeError(f"{where}: incomplete preprocessing recipe in the model file ({err})") from err
        recipe.check(where)
        return recipe

    def check(self, where=""):
        """NpvaeError unless this code can follow the recipe (same grid, window, pixel rule)."""
        ours = (REST_LOGLAM0, REST_DLOGLAM, N_PIXELS, *NORM_WINDOW, MIN_PIXEL_COVERAGE)
        theirs = (self.loglam0, self.dloglam, self.n_pixels, *self.norm_window, self.min_pixel_coverage)
        if len(theirs) != len(ours) or not np.allclose(ours, theirs, rtol=1e-12, atol=0):
            raise NpvaeError(f"{where}: the model's preprocessing (grid, window, pixel coverage) {theirs} "
                             f"differs from this npvae's {ours}")
        if self.infill not in INFILL_METHODS:
            raise NpvaeError(f"{where}: infill must be one of {INFILL_METHODS}, not {self.infill!r}")
        if self.infill_mean.shape != (self.n_pixels,) or self.infill_vectors.ndim != 2 \
                or self.infill_vectors.shape[0] != self.n_pixels:
            raise NpvaeError(f"{where}: infill basis shapes {self.infill_mean.shape}, "
                             f"{self.infill_vectors.shape} do not fit {self.n_pixels} pixels")

    # --- applying it ------------------------------------------------------------------------
    @cached_property
    def infill_fit(self):
        """The weighted fit by the infill basis (:class:`npvae.data.infill.WeightedFit`), made once."""
        return WeightedFit(self.infill_vectors, BASIS_RIDGE)

    def __getstate__(self):
        """Pickled without the cached fit (made again where it is used)."""
        return {k: v for k, v in self.__dict__.items() if k != "infill_fit"}

    def fill(self, flux, weight, mask, overwrite=False):
        """Masked pixels of each spectrum filled from the training basis.  (N, D) -> (N, D) float32.

        ``overwrite``: fill ``flux`` itself when it is a C-ordered float32 array (no copy).
        """
        return basis_infill(flux, mask, self.infill_mean, self.infill_fit, weight=weight, overwrite=overwrite)

    def prepare(self, records, fill=True):
        """Raw records -> model input, one spectrum at a time.

        Returns (flux (N, D) float32, weight (N, D) float32, mask (N, D) bool, rows, skipped):
        steps 1-6 of :func:`npvae.data.preprocess.prepare_chunk` with this recipe's settings,
        then (``fill``) the basis infill of masked pixels; ``rows`` are catalogue dicts of the
        kept records and ``skipped`` (source, reason) pairs.
        """
        flux, weight, mask, rows, skipped = prepare_chunk(records, sn_cap=self.sn_cap,
                                                          min_coverage=self.min_coverage, dilate=self.dilate)
        if fill:
            flux = self.fill(flux, weight, mask)
        return flux, weight, mask, rows, skipped


def preprocessing_for_data_file(path, X):
    """The recipe of training data: a dataset file's (or sharded folder's) settings and X's basis.

    ``X`` (N, D) are the training rows read from it. An .npz (no recorded settings) or data
    off the paper's grid gives None: the model is then saved without a recipe.
    """
    name = str(path).lower()
    is_dataset = Path(path).is_dir() or name.endswith((".fits", ".fit", ".fits.gz"))
    if not is_dataset or np.shape(X)[1] != N_PIXELS:
        return None
    return Preprocessing.from_training(X, dataset_meta(path))
