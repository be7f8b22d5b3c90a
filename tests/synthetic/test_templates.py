"""The shipped E-MILES template file: shape, grid, provenance, physics, and that bad files are refused."""
import os

import numpy as np
import pytest
from astropy.io import fits

from npvae.synthetic.templates import N_REST, load_templates, read_templates, rest_loglam
from npvae.utils import NpvaeError


def test_template_file_integrity():
    t = load_templates()
    assert t.flux.shape == (25, 6, N_REST) and t.flux.dtype == np.float32
    assert np.all(np.isfinite(t.flux)) and np.all(t.flux > 0)
    assert t.ages[0] == pytest.approx(0.0631) and t.ages[-1] == pytest.approx(15.8489)
    np.testing.assert_allclose(t.metals, [-1.71, -1.31, -0.71, -0.40, 0.0, 0.22])
    np.testing.assert_allclose(t.loglam, rest_loglam())
    assert 10 ** t.loglam[0] < 2800 and 10 ** t.loglam[-1] > 9400
    assert "Vazdekis" in t.header["CITATION"] and "8.2.6" in t.header["ORIGIN"]
    from importlib import resources
    path = resources.files("npvae.synthetic") / "data" / "emiles_ssp.fits"
    assert os.path.getsize(path) < 5e6


def test_templates_age_like_stellar_populations():
    """Old populations: redder, stronger 4000 A break, weaker Balmer lines than young ones."""
    t = load_templates()
    wave = 10 ** t.loglam
    solar = t.flux[:, 4]                                                       # (A, W)
    d4000 = solar[:, (wave > 4000) & (wave < 4100)].mean(1) / solar[:, (wave > 3850) & (wave < 3950)].mean(1)
    assert np.all(np.diff(d4000[5:]) > -0.02) and d4000[-1] > 1.8 > 1.2 > d4000[0]
    colour = solar[:, (wave > 6000) & (wave < 6200)].mean(1) / solar[:, (wave > 4400) & (wave < 4600)].mean(1)
    assert colour[-1] > 2 * colour[0]
    # Mg b (5175 A, vacuum 5177) deeper at high metallicity for an old population
    old = t.flux[-3]                                                           # (M, W)
    band = (wave > 5165) & (wave < 5195)
    side = ((wave > 5145) & (wave < 5160)) | ((wave > 5200) & (wave < 5215))
    depth = 1 - old[:, band].mean(1) / old[:, side].mean(1)
    assert depth[-1] > depth[0] + 0.03


def test_read_templates_refuses_a_broken_file(tmp_path):
    t = load_templates()
    bad = tmp_path / "bad.fits"
    cube = t.flux[:, :5].copy()                                                # one metallicity short
    hdr = fits.Header({"CRVAL1": t.loglam[0], "CDELT1": 1e-4})
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, hdr, name="SSP"), fits.ImageHDU(t.ages, name="AGES"),
                  fits.ImageHDU(t.metals, name="METALS")]).writeto(bad)
    with pytest.raises(NpvaeError, match="does not match"):
        read_templates(bad)
    missing = tmp_path / "missing.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(cube, hdr, name="SSP")]).writeto(missing)
    with pytest.raises(NpvaeError, match="AGES missing"):
        read_templates(missing)
