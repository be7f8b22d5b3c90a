"""Small dataset files for the tests (never used by the package)."""
import numpy as np
from astropy.table import Table

from npvae.data.dataset import write_dataset


def write_small_dataset(path, flux, weight, split, classes):
    """A dataset file of flux, weight (N, D) with a minimal catalogue: SPLIT and pipeline CLASS per row."""
    n = len(flux)
    catalog = Table({"PLATE": np.ones(n, int), "MJD": np.ones(n, int), "FIBERID": np.arange(n),
                     "Z": np.full(n, 0.1), "CLASS": classes, "LABEL": ["other"] * n,
                     "SN_MEDIAN": np.ones(n), "SPLIT": split})
    write_dataset(path, flux, weight, np.zeros(flux.shape, np.uint8), catalog,
                  wave=np.linspace(3000, 9000, flux.shape[1]))
    return path
