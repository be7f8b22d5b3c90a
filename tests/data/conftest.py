"""Fixtures for the data-path tests: the real SDSS files shipped with ppxf and a record factory."""
import os

import numpy as np
import pytest

from npvae.data.record import LINE_DTYPE, Spectrum


@pytest.fixture(scope="session")
def real_files():
    """The two genuine SDSS DR18 spec-lite files in the ppxf wheel."""
    ppxf = pytest.importorskip("ppxf")
    folder = os.path.join(os.path.dirname(ppxf.__file__), "spectra")
    paths = [os.path.join(folder, f"{name}_SDSS_DR18.fits") for name in ("NGC3073", "NGC3522")]
    for p in paths:
        if not os.path.exists(p):
            pytest.skip(f"{p} missing from the ppxf package")
    return paths


def make_lines(ha=(100.0, 5.0), hb=(30.0, 5.0), nii=30.0, oiii=20.0):
    """A line table with the four diagnostic lines: (area, err) for the Balmer lines."""
    lines = np.zeros(4, LINE_DTYPE)
    lines["name"] = ["H_alpha", "H_beta", "[N_II] 6583", "[O_III] 5007"]
    lines["wave"] = [6564.614, 4862.683, 6585.268, 5008.240]
    lines["area"] = [ha[0], hb[0], nii, oiii]
    lines["area_err"] = [ha[1], hb[1], 5.0, 5.0]
    lines["ew"] = [10.0, 3.0, 3.0, 2.0]
    lines["sigma"] = [100.0, 100.0, 100.0, 100.0]
    return lines


def make_record(rng, *, z=0.1, n_pix=3850, loglam0=3.5793, sn=20.0, cls="GALAXY", fiber=1,
                lines=None, meta=None):
    """An SDSS-like observed spectrum: smooth continuum, white noise of known ivar."""
    loglam = loglam0 + 1e-4 * np.arange(n_pix)                       # (P,)
    wave = 10 ** loglam / (1 + z)
    continuum = 10.0 * (1 + 0.3 * np.sin(wave / 700.0))              # (P,)
    sigma = continuum / sn
    flux = continuum + sigma * rng.standard_normal(n_pix)
    return Spectrum(plate=1000, mjd=52000, fiber=fiber, z=z, cls=cls, loglam=loglam,
                    flux=flux.astype(np.float32), ivar=(1 / sigma ** 2).astype(np.float32),
                    and_mask=np.zeros(n_pix, np.int32),
                    lines=make_lines() if lines is None else lines,
                    source=f"synthetic-{fiber}", meta=meta or {})


@pytest.fixture
def record_factory():
    return make_record
