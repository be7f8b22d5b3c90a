"""One observed spectrum, as read from an SDSS file or made by the synthetic survey.

Every reader (spec-lite, DR7 spSpec) and the synthetic generator return :class:`Spectrum`
records; the preprocessing (:mod:`npvae.data.preprocess`) takes a list of them. Shapes:
P observed pixels.
"""
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Spectrum", "LINE_DTYPE"]

# pipeline line measurements, one row per line (SDSS SPZLINE-like)
LINE_DTYPE = np.dtype([
    ("name", "U16"),          # e.g. "H_alpha", "[N_II] 6583" (SDSS LINENAME spelling)
    ("wave", "f8"),           # rest vacuum wavelength, Angstrom
    ("area", "f8"),           # line flux, same flux units as `flux` times Angstrom
    ("area_err", "f8"),       # 1-sigma error of `area`; <= 0 means not measured
    ("ew", "f8"),             # equivalent width, Angstrom
    ("sigma", "f8"),          # Gaussian sigma, km/s
])


@dataclass
class Spectrum:
    """An observed-frame spectrum with its catalogue data.

    Attributes
    ----------
    plate, mjd, fiber : int
        SDSS identifiers (the synthetic survey numbers its objects the same way).
    z : float
        Catalogue redshift.
    cls : str
        Pipeline class: "GALAXY", "QSO" or "STAR".
    loglam : ndarray (P,)
        log10 of the observed vacuum wavelength in Angstrom, increasing.
    flux, ivar : ndarray (P,)
        Flux density (1e-17 erg/s/cm^2/A) and its inverse variance (0 = no data).
    and_mask : ndarray (P,) int32
        SDSS AND_MASK bits (0 = clean).
    lines : structured ndarray (L,) of LINE_DTYPE
        Pipeline line measurements.
    source : str
        Where it came from (file path, or "synthetic").
    meta : dict
        Anything else (e.g. the synthetic truth, SUBCLASS).
    """

    plate: int
    mjd: int
    fiber: int
    z: float
    cls: str
    loglam: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    and_mask: np.ndarray
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, LINE_DTYPE))
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def name(self):
        """``spec-PLATE-MJD-FIBER``, the SDSS file stem."""
        return f"spec-{self.plate:04d}-{self.mjd:05d}-{self.fiber:04d}"
