"""Helpers of the explorer tests and benchmark: a tiny model and dataset, a headless Chromium.

The browser runs headless with a fresh profile and no background networking; Selenium drives it
through /usr/bin/chromedriver (Debian packages chromium and chromium-driver).
"""
import shutil
import tempfile
from pathlib import Path

import numpy as np
from astropy.table import Table

from npvae import InfoVAE
from npvae.data.dataset import Dataset
from npvae.paper import CLASSES

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")
N_SPECTRA, N_PIXELS = 300, 40


def make_tiny_dataset(n=N_SPECTRA, d=N_PIXELS, seed=11):
    """n spectra of d pixels with a catalogue (PLATE, MJD, FIBERID, Z, LABEL, ...), in memory."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(3, d))                                          # (K, D)
    flux = (1.0 + 0.5 * np.tanh(rng.normal(size=(n, 3)) @ basis)).astype(np.float32)   # (N, D)
    weight = rng.uniform(20.0, 200.0, size=(n, d)).astype(np.float32)        # (N, D)
    weight[rng.random((n, d)) < 0.03] = 0.0
    catalog = Table({"PLATE": rng.integers(266, 3000, n), "MJD": rng.integers(51600, 55000, n),
                     "FIBERID": np.arange(n) % 640 + 1, "Z": rng.uniform(0.01, 0.3, n),
                     "CLASS": np.where(rng.random(n) < 0.9, "GALAXY", "QSO"),
                     "LABEL": rng.choice(CLASSES, n), "SN_MEDIAN": rng.uniform(2, 40, n),
                     "SPLIT": np.where(rng.random(n) < 0.8, "train", "valid")})
    wave = np.geomspace(3400.0, 7200.0, d)
    return Dataset(flux=flux, weight=weight, mask=(weight == 0).astype(np.uint8), wave=wave, catalog=catalog)


def make_tiny_model(dataset, activation="leaky_relu", seed=5, epochs=3):
    """A 4-latent InfoVAE of d-24-12-4 trained a few epochs on the dataset."""
    model = InfoVAE(n_features=dataset.flux.shape[1], hidden=(24, 12), n_latent=4, lam=3.0,
                    activation=activation, seed=seed, dtype=np.float32)
    return model.fit(dataset.flux, dataset.weight, max_epochs=epochs, verbose=False)


def chromium_missing():
    """Why the browser tests cannot run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing (install the Debian packages chromium and chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def start_chromium():
    """A headless Chromium driven by Selenium, with a fresh profile and the console log kept."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="npvae-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.profile_dir = profile
    return driver


def stop_chromium(driver):
    driver.quit()
    shutil.rmtree(driver.profile_dir, ignore_errors=True)
