"""The paper's comparison methods and its metric: PCA, NMF and their weighted forms.

:mod:`~npvae.baselines.models` holds the estimators (same interface as the VAE: ``fit``,
``transform``, ``reconstruct``); :mod:`~npvae.baselines.metrics` the weighted MSE of the paper's
Fig. 3 and the reduced chi^2. Docs: docs/baselines.md.
"""
from .metrics import per_class, reconstruction_table, reduced_chi2, weighted_mse, weighted_mse_per_spectrum
from .models import NMF, PCA, WeightedNMF, WeightedPCA, nnls_codes

__all__ = ["PCA", "WeightedPCA", "NMF", "WeightedNMF", "nnls_codes", "weighted_mse", "weighted_mse_per_spectrum",
           "reduced_chi2", "per_class", "reconstruction_table"]
