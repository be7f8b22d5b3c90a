"""The configuration of ``npvae reproduce``: its presets and the versions a run records.

Presets:

- ``quick``: an 8,000-spectrum synthetic survey, VAE and AE at 2, 4, 6, 10 latents with the
  paper's Table 1 architectures for at most 30 epochs, every baseline;
- ``full``: the paper's scale, 64,000 spectra, up to 200 epochs with early stopping;
  ``search_configs=100`` adds the paper's random search (``search_halving=True``: with successive
  halving).

Both presets also run the ``beyond`` stage (npvae.reproduce.stages_beyond): a noise-aware VAE
trained on ``beyond_train`` training spectra for at most ``beyond_epochs`` epochs, and redshift
scans of ``redshift_spectra`` new synthetic spectra with the VAE and with PCA templates. Sized to
add about 1.5 minutes to ``quick`` and 5 to ``full`` on 2 cores (benchmarks/README.md).

Measured times: benchmarks/README.md.
"""
import platform

import astropy
import numba
import numpy as np
import scipy

from .._version import __version__
from ..paper import ANALYSIS_LATENT

__all__ = ["PRESETS", "LATENT_FOR_ANALYSIS", "versions"]

PRESETS = {
    "quick": {"n_spectra": 8000, "latents": (2, 4, 6, 10), "max_epochs": 30, "noise_draws": 1000,
              "baseline_iter": 300, "search_configs": 0, "search_halving": False,
              "model_workers": 2, "est_minutes": 8, "minutes_per_config": 0.1,
              "beyond_train": 8000, "beyond_epochs": 30, "redshift_spectra": 200},
    "full": {"n_spectra": 64000, "latents": (2, 4, 6, 10), "max_epochs": 200, "noise_draws": 10000,
             "baseline_iter": 300, "search_configs": 0, "search_halving": False,
             "model_workers": 2, "est_minutes": 90, "minutes_per_config": 3,
             "beyond_train": 16000, "beyond_epochs": 40, "redshift_spectra": 400},
}
LATENT_FOR_ANALYSIS = ANALYSIS_LATENT      # the paper analyses the 6-latent model (Sections 3.2 to 3.4)


def versions():
    """Versions of Python and the packages the results depend on."""
    return {"npvae": __version__, "python": platform.python_version(), "numpy": np.__version__,
            "scipy": scipy.__version__, "numba": numba.__version__, "astropy": astropy.__version__,
            "machine": platform.machine(), "platform": platform.platform()}
