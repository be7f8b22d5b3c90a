"""Apply a trained model to new spectra: encode, infill, score (docs/encode.md).

:func:`~npvae.apply.encode.encode_chunk` maps one chunk of model inputs to latent means,
log-variances and the reduced chi^2 of the reconstruction; every path calls it.
:func:`~npvae.apply.encode.vae_infill` fills masked pixels with the model itself.
:func:`~npvae.apply.spectra.encode_spectra` takes Spectrum records, a Dataset or file paths
through the model's preprocessing recipe to a Table of results (``npvae encode`` writes it).
:func:`~npvae.apply.zcatalog.redshift_spectra` finds the redshift of observed spectra by the
trial redshift the model reconstructs best (``npvae redshift``; docs/redshift.md).
"""
from .encode import encode_chunk, vae_infill
from .spectra import encode_spectra
from .zcatalog import redshift_spectra

__all__ = ["encode_chunk", "vae_infill", "encode_spectra", "redshift_spectra"]
