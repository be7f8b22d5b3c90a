"""Data files for the command-line tests, made from ``tiny_data`` (tests/conftest.py)."""
import numpy as np
import pytest
from _datafiles import write_small_dataset


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
    X, W, Xv, Wv = tiny_data
    return write_small_dataset(tmp_path / "d.fits", np.vstack([Xv, X]), np.vstack([Wv, W]),
                               ["valid"] * 70 + ["train"] * 150, ["GALAXY"] * 220)
