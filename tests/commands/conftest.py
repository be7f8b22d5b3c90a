"""Data files for the command-line tests, made from ``tiny_data`` (tests/conftest.py)."""
import numpy as np
import pytest


@pytest.fixture
def npz_file(tmp_path, tiny_data):
    """data.npz with ``flux`` and ``weight`` (220, 40) and no split."""
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "data.npz"
    np.savez(path, flux=np.vstack([X, Xv]), weight=np.vstack([W, Wv]))
    return path


@pytest.fixture
def dataset_fits(tmp_path, tiny_data):
    """d.fits, a dataset file: the 70 validation rows first (SPLIT "valid"), then the 150 training rows."""
    from astropy.table import Table

    from npvae.data.dataset import write_dataset

    X, W, Xv, Wv = tiny_data
    n = 220
    catalog = Table({"PLATE": np.ones(n, int), "MJD": np.ones(n, int), "FIBERID": np.arange(n),
                     "Z": np.full(n, 0.1), "CLASS": ["GALAXY"] * n, "LABEL": ["other"] * n,
                     "SN_MEDIAN": np.ones(n), "SPLIT": ["valid"] * 70 + ["train"] * 150})
    path = tmp_path / "d.fits"
    write_dataset(path, np.vstack([Xv, X]), np.vstack([Wv, W]), np.zeros((n, 40), np.uint8), catalog,
                  wave=np.linspace(3000, 9000, 40))
    return path
