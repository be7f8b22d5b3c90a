"""The genuine SDSS spectra the synthetic survey is judged against, found offline in ppxf packages.

Three SDSS spec-lite files of nearby galaxies ship with ppxf (Cappellari 2023, MNRAS 526,
3273) as example data; pip can fetch them, nothing else on the package index carries SDSS
galaxy spectra that read as spec-lite files (astroML downloads from the internet; the
specutils distributions hold no SDSS galaxy spectra; ppxf's NGC4550_SAURON and LEGA-C files
are not SDSS spectra). The spectra themselves are SDSS public data (cite the data release;
SDSS asks for its standard acknowledgement); ppxf's licence covers its code, grants use for
non-commercial purposes and forbids redistribution, so npvae does not copy them: the wheel's
two files are read where ppxf is installed (the test extra) and the third from the ppxf 8.2.6
source distribution, fetched once with pip into ``get_data_home()/ppxf-8.2.6``
(:func:`npvae.synthetic.build_templates.download_sdist`). docs/synthetic.md.
"""
import glob
import os
import tarfile
import tempfile
from pathlib import Path

from ..utils import NpvaeError, get_data_home
from .build_templates import download_sdist

__all__ = ["GENUINE", "genuine_files"]

# name -> (file, where it ships, SDSS data release, what the galaxy is)
GENUINE = {
    "NGC3522": ("NGC3522_SDSS_DR18.fits", "ppxf 9.5 wheel", "DR18", "early-type (S0/E), quiescent"),
    "NGC3073": ("NGC3073_SDSS_DR18.fits", "ppxf 9.5 wheel", "DR18", "star-forming dwarf S0 (SDSS class STAR)"),
    "NGC4636": ("NGC4636_SDSS_DR12.fits", "ppxf 8.2.6 sdist", "DR12", "massive elliptical, LINER"),
}


def _sdist_spectrum(name, data_home, download_if_missing):
    """Path of a spectrum of the ppxf 8.2.6 sdist under data_home, fetched once with pip."""
    folder = Path(data_home) / "ppxf-8.2.6"
    path = folder / name
    if path.is_file():
        return path
    if not download_if_missing:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        download_sdist_spectra(tmp, folder)
    return path if path.is_file() else None


def download_sdist_spectra(tmp, folder):
    """pip-download the ppxf 8.2.6 sdist into ``tmp`` and copy its SDSS spectra to ``folder``."""
    try:
        download_sdist(tmp, extract=False)
    except Exception as err:  # pip absent, offline, ...: the caller goes on without the file
        raise NpvaeError(f"could not fetch the ppxf 8.2.6 sdist with pip: {err}") from err
    with tarfile.open(glob.glob(os.path.join(tmp, "ppxf-8.2.6.tar.gz"))[0]) as tf:
        for member in tf.getmembers():
            if "/spectra/" in member.name and member.name.endswith("_SDSS_DR12.fits"):
                member.name = os.path.basename(member.name)
                tf.extract(member, folder, filter="data")


def genuine_files(data_home=None, download_if_missing=True):
    """{name: path} of the genuine SDSS spectra available here (see :data:`GENUINE`).

    The ppxf wheel's files need ppxf installed; NGC4636 is fetched with pip once (skipped,
    with no error, when that fails or ``download_if_missing`` is False and it is not cached).
    """
    out = {}
    try:
        import ppxf
        wheel = Path(ppxf.__file__).parent / "spectra"
    except ImportError:
        wheel = None
    for name, (file, where, _, _) in GENUINE.items():
        if where.endswith("wheel"):
            path = wheel / file if wheel is not None else None
        else:
            try:
                path = _sdist_spectrum(file, data_home or get_data_home(), download_if_missing)
            except NpvaeError:
                path = None
        if path is not None and Path(path).is_file():
            out[name] = Path(path)
    return out
