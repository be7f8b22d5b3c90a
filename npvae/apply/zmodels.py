"""The two models a redshift scan compares: the VAE, and PCA templates as the SDSS pipelines use.

A scan (:mod:`npvae.apply.redshift`) prepares each spectrum at T trial redshifts with the
model's preprocessing recipe and asks a *scorer* how well each of the T rest-frame spectra is
reconstructed. Both scorers here take the same rows and return the same things, so only the
model differs between them:

``scorer(flux, weight, mask) -> (rchi2 (T,), params (T, Z))``

- :class:`VaeScorer`: masked pixels filled (the recipe's basis, or the model itself), then
  :func:`npvae.apply.encode.encode_chunk`: latent means and the reduced chi^2 of their decode,
  sum_d w_d (x_d - xhat_d)^2 / (n_good - Z) over the good pixels.
- :class:`PcaScorer`: the weighted linear least-squares fit of the good pixels by K + 1
  templates, the training set's mean spectrum and its top K eigenvectors, each with a free
  amplitude, as the SDSS (spZbest) and DESI (redrock) pipelines fit their PCA templates:

  (T_^T G T_) a = T_^T G x,   G = diag(w on good pixels),   rchi2 = sum G (x - T_ a)^2 / (n_good - K - 1).

Templates come from the model's recipe (its infill basis: the mean and top eigenvectors of its
own training spectra) or from a dataset file (:func:`templates_from_data`).
Shapes: T trial rows, D pixels, Z latent, K eigenvectors.
"""
import numpy as np

from ..data.dataset import load_training_rows
from ..data.infill import WeightedFit, fit_infill_basis, work_arrays
from ..utils import NpvaeError
from .encode import encode_chunk, vae_infill
from .ztrials import BasisFill

__all__ = ["VaeScorer", "PcaScorer", "templates_from_data"]


class VaeScorer:
    """Reduced chi^2 of the VAE's reconstruction; params = latent means.

    Parameters
    ----------
    model : InfoVAE or Autoencoder with a preprocessing recipe
    infill : "pca" (the recipe's basis, one linear solve per row) or "vae" (the model's own
        reconstruction iterated to convergence: slower by the iterations)
    """

    name = "vae"

    def __init__(self, model, infill="pca"):
        if infill not in ("pca", "vae"):
            raise NpvaeError(f"infill must be 'pca' or 'vae', not {infill!r}")
        self.model, self.infill, self.n_params = model, infill, model.n_latent
        self.fill = BasisFill.from_recipe(model.preprocessing)                # the recipe's fill, stacked

    def __call__(self, flux, weight, mask):
        filled = self.fill(np.array(flux, np.float32), weight, mask)          # (T, D) float32
        if self.infill == "vae":
            filled = vae_infill(self.model, filled, mask, weight=weight)[0]
        mu, _, rchi2 = encode_chunk(self.model, filled, weight)
        return rchi2, mu


class PcaScorer:
    """Reduced chi^2 of the weighted least-squares fit by K + 1 templates; params = amplitudes.

    Parameters
    ----------
    mean : ndarray (D,), vectors : ndarray (D, K)
        The templates: a mean spectrum and eigenvectors (columns).
    """

    name = "pca"

    def __init__(self, mean, vectors):
        self.templates = np.column_stack([mean, vectors]).astype(np.float64)   # (D, K+1)
        self.n_params = self.templates.shape[1]
        self.fit = WeightedFit(self.templates, ridge=1e-9)

    @classmethod
    def from_recipe(cls, recipe, n_vectors=None):
        """Templates = the recipe's infill basis, its first ``n_vectors`` eigenvectors (all: None)."""
        vectors = recipe.infill_vectors if n_vectors is None else recipe.infill_vectors[:, :int(n_vectors)]
        return cls(recipe.infill_mean, vectors)

    def __call__(self, flux, weight, mask):
        g, gx, resid = work_arrays(3, np.shape(flux))                         # (T, D) float64 each
        np.copyto(g, weight)
        np.copyto(g, 0.0, where=np.asarray(mask, bool))                       # weights of the good pixels
        np.multiply(g, flux, out=gx)
        amp = self.fit.coefficients(g, gx)                                    # (T, K+1)
        np.matmul(amp, self.templates.T, out=resid)                           # (T, D)
        resid -= flux
        resid *= resid
        chi2 = np.einsum("td,td->t", g, resid)                                # (T,)
        dof = np.count_nonzero(g, axis=1) - self.n_params                     # (T,) weights are >= 0
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(dof > 0, chi2 / np.maximum(dof, 1), np.nan), amp.astype(np.float32)


def templates_from_data(path, n_vectors):
    """(mean (D,), vectors (D, K)) of a dataset file's training rows, as ``npvae train`` takes them.

    The GALAXY and QSO rows of the SPLIT "train" (of every row when no row is marked "train").
    """
    data = load_training_rows(path)
    if np.any(data.split == "train"):
        data = data.subset("train")
    return fit_infill_basis(data.flux, n_vectors)
