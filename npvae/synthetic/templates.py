"""The E-MILES stellar-population templates shipped with npvae, on the synthetic rest-frame grid.

The file ``npvae/synthetic/data/emiles_ssp.fits`` holds 150 single stellar population (SSP)
spectra of Vazdekis et al. (2016) (25 ages x 6 metallicities, unimodal IMF of slope 1.30 = Salpeter,
Padova+00 isochrones), rebuilt by :mod:`npvae.synthetic.build_templates` from the ppxf 8.2.6
source distribution. See docs/synthetic.md for the provenance and the citation.

Shapes: A ages, M metallicities, W rest-frame pixels.
"""
import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

from ..utils import NpvaeError

__all__ = ["REST_LOGLAM0", "LOGLAM_STEP", "N_REST", "rest_loglam", "Templates", "load_templates",
           "TEMPLATE_FILE"]

LOGLAM_STEP = 1e-4            # log10 pixel step, the SDSS sampling (69.0 km/s)
REST_LOGLAM0 = 3.4390         # first rest pixel centre, 2748 A (covers 3802 A / 1.36)
N_REST = 5391                 # last rest pixel centre 3.9780, 9506 A
TEMPLATE_FILE = "emiles_ssp.fits"


def rest_loglam():
    """log10 rest wavelengths of the template grid, (W,): 3.4390 + 1e-4 i."""
    return REST_LOGLAM0 + LOGLAM_STEP * np.arange(N_REST)      # (W,)


@dataclass(frozen=True)
class Templates:
    """SSP spectra on the rest grid.

    Attributes
    ----------
    loglam : ndarray (W,)
        log10 vacuum rest wavelength, Angstrom.
    flux : ndarray (A, M, W) float32
        L_sun / A per solar mass formed.
    ages : ndarray (A,)
        Gyr, increasing.
    metals : ndarray (M,)
        [M/H], increasing.
    header : dict
        Provenance cards of the file.
    """

    loglam: np.ndarray
    flux: np.ndarray
    ages: np.ndarray
    metals: np.ndarray
    header: dict


def _check(flux, ages, metals, loglam, where):
    """Raise NpvaeError unless the template arrays are consistent and finite."""
    if flux.ndim != 3 or flux.shape != (ages.size, metals.size, loglam.size):
        raise NpvaeError(f"{where}: SSP cube shape {flux.shape} does not match "
                         f"{ages.size} ages x {metals.size} metallicities x {loglam.size} pixels")
    if not np.all(np.isfinite(flux)) or np.any(flux <= 0):
        raise NpvaeError(f"{where}: SSP fluxes must be finite and positive")
    if np.any(np.diff(ages) <= 0) or np.any(np.diff(metals) <= 0):
        raise NpvaeError(f"{where}: AGES and METALS must increase")
    if not np.allclose(loglam, rest_loglam()):
        raise NpvaeError(f"{where}: wavelength grid differs from the synthetic rest grid")


def read_templates(path):
    """Read a template file written by :mod:`npvae.synthetic.build_templates`."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        names = [h.name for h in hdul]
        for need in ("SSP", "AGES", "METALS"):
            if need not in names:
                raise NpvaeError(f"{path}: HDU {need} missing (found {names})")
        hdr = hdul["SSP"].header
        flux = np.asarray(hdul["SSP"].data, dtype=np.float32)                 # (A, M, W)
        ages = np.asarray(hdul["AGES"].data, dtype=np.float64)                # (A,)
        metals = np.asarray(hdul["METALS"].data, dtype=np.float64)            # (M,)
        loglam = hdr["CRVAL1"] + hdr["CDELT1"] * np.arange(hdr["NAXIS1"])     # (W,)
        header = {k: hdr[k] for k in hdr if k not in ("COMMENT", "HISTORY", "")}
    _check(flux, ages, metals, loglam, path)
    return Templates(loglam, flux, ages, metals, header)


@functools.lru_cache(maxsize=1)
def load_templates():
    """The shipped templates (read once per process)."""
    path = resources.files("npvae.synthetic") / "data" / TEMPLATE_FILE
    if not path.is_file():
        raise NpvaeError(f"template file {path} is missing; rebuild it with "
                         "`python -m npvae.synthetic.build_templates`")
    return read_templates(str(path))
