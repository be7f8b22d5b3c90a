"""Rebuild the shipped SSP template file from the E-MILES models in the ppxf 8.2.6 sdist.

Run ``python -m npvae.synthetic.build_templates [--sdist DIR] [--out FILE]``. It downloads
(``pip download --no-deps --no-binary :all: ppxf==8.2.6``) the source distribution if no
folder is given, reads the 150 ``Eun1.30Z*T*_iPp0.00_baseFe_linear_FWHM_variable.fits``
SSPs (air wavelengths, 0.9 A linear sampling), converts to vacuum, rebins them
flux-conservingly onto the rest grid of :mod:`npvae.synthetic.templates` (log10 step 1e-4)
and writes a float32 cube with provenance and citation in the header. Only whoever rebuilds
the file needs ppxf; docs/synthetic.md explains the choices.

Shapes: A ages, M metallicities, S source pixels, W rest pixels.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from ..utils import NpvaeError, atomic_write
from .templates import LOGLAM_STEP, TEMPLATE_FILE, rest_loglam

PATTERN = "Eun1.30Z*T*_iPp0.00_baseFe_linear_FWHM_variable.fits"
CITATION = ("Vazdekis A., Koleva M., Ricciardelli E., Roeck B., Falcon-Barroso J., 2016, "
            "MNRAS 463, 3409 (E-MILES)")


def air_to_vacuum(wave_air):
    """Vacuum wavelength from air wavelength (Angstrom), Ciddor 1996 / Morton 2000.

    .. math:: \\lambda_{vac} = n \\lambda_{air},\\;
              n = 1 + 8.336624e\\!-\\!5 + \\frac{2.408927e\\!-\\!2}{130.1065924 - s^2}
                  + \\frac{1.599740894e\\!-\\!4}{38.92568793 - s^2},\\; s = 10^4/\\lambda_{air}
    """
    s2 = (1e4 / wave_air) ** 2
    n = 1 + 8.336624212083e-5 + 2.408926869968e-2 / (130.1065924522 - s2) \
        + 1.599740894897e-4 / (38.92568793293 - s2)
    return wave_air * n


def rebin_flux_density(edges_in, flux_in, edges_out):
    """Flux-conserving rebin of a piecewise-constant flux density.

    C(lambda) = integral of f up to lambda (linear inside a source pixel);
    f_out_j = (C(e_{j+1}) - C(e_j)) / (e_{j+1} - e_j).  edges_in (S+1,), flux_in (S,),
    edges_out (W+1,) -> (W,).
    """
    cum = np.concatenate([[0.0], np.cumsum(flux_in * np.diff(edges_in))])     # (S+1,)
    c_out = np.interp(edges_out, edges_in, cum)                               # (W+1,)
    return np.diff(c_out) / np.diff(edges_out)                                # (W,)


def read_ssp(path, edges_out):
    """One E-MILES SSP file -> its flux density on the rest grid (W,), L_sun/A/M_sun."""
    from astropy.io import fits

    with fits.open(path) as hdul:
        hdr = hdul[0].header
        flux = np.asarray(hdul[0].data, dtype=np.float64)                     # (S,)
    wave = hdr["CRVAL1"] + hdr["CDELT1"] * (np.arange(flux.size) + 1 - hdr["CRPIX1"])
    edges_air = np.concatenate([wave - hdr["CDELT1"] / 2, [wave[-1] + hdr["CDELT1"] / 2]])
    edges_vac = air_to_vacuum(edges_air)                                      # (S+1,)
    # flux density per vacuum Angstrom: same integral per pixel
    flux_vac = flux * np.diff(edges_air) / np.diff(edges_vac)                 # (S,)
    return rebin_flux_density(edges_vac, flux_vac, edges_out)


def find_ssp_files(folder):
    """The 150 SSP paths, parsed into (path, age Gyr, [M/H])."""
    paths = sorted(glob.glob(os.path.join(folder, "**", PATTERN), recursive=True))
    rows = []
    for p in paths:
        m = re.search(r"Z([mp])(\d\.\d\d)T(\d+\.\d+)_", os.path.basename(p))
        rows.append((p, float(m.group(3)), (-1 if m.group(1) == "m" else 1) * float(m.group(2))))
    if len(rows) != 150:
        raise NpvaeError(f"{folder}: expected 150 E-MILES SSP files {PATTERN}, found {len(rows)}")
    return rows


def download_sdist(dest, extract=True):
    """pip-download the ppxf 8.2.6 sdist into ``dest`` and (``extract``) unpack it; return the folder."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "ppxf==8.2.6", "-d", dest], check=True)
    tar = glob.glob(os.path.join(dest, "ppxf-8.2.6.tar.gz"))
    if not tar:
        raise NpvaeError(f"{dest}: ppxf-8.2.6.tar.gz not found after pip download")
    if not extract:
        return dest
    with tarfile.open(tar[0]) as tf:
        tf.extractall(dest, filter="data")
    return dest


def fill_red_gaps(cube, ages):
    """Extend SSPs that stop at 8950 A (the youngest E-MILES models) to the red end.

    The gap is filled with the spectrum of the youngest complete SSP of the same metallicity,
    scaled to match the mean flux of the 50 pixels before the gap. cube (A, M, W), in place.
    Returns the number of filled spectra.
    """
    n_filled = 0
    for m in range(cube.shape[1]):
        complete = [a for a in range(ages.size) if np.all(cube[a, m] > 0)]
        donor = cube[complete[0], m]                                           # (W,)
        for a in range(ages.size):
            bad = np.flatnonzero(cube[a, m] <= 0)
            if bad.size == 0:
                continue
            start = bad[0] - 2                     # drop the partially covered pixels too
            ref = slice(start - 50, start)
            scale = cube[a, m, ref].mean() / donor[ref].mean()
            cube[a, m, start:] = scale * donor[start:]
            n_filled += 1
    return n_filled


def build(folder, out):
    """Rebin all SSPs in ``folder`` and write the cube (A, M, W) to ``out``."""
    from astropy.io import fits

    rows = find_ssp_files(folder)
    ages = np.array(sorted({r[1] for r in rows}))                              # (A,)
    metals = np.array(sorted({r[2] for r in rows}))                            # (M,)
    loglam = rest_loglam()                                                     # (W,)
    edges = 10 ** np.concatenate([loglam - LOGLAM_STEP / 2, [loglam[-1] + LOGLAM_STEP / 2]])
    cube = np.zeros((ages.size, metals.size, loglam.size), np.float32)        # (A, M, W)
    for path, age, met in rows:
        cube[np.searchsorted(ages, age), np.searchsorted(metals, met)] = read_ssp(path, edges)
    n_filled = fill_red_gaps(cube, ages)
    hdr = fits.Header()
    hdr["CRVAL1"], hdr["CDELT1"], hdr["CRPIX1"] = loglam[0], LOGLAM_STEP, 1
    hdr["CTYPE1"] = ("LOG10-WAVE", "log10 vacuum rest wavelength, Angstrom, pixel centres")
    hdr["BUNIT"] = ("Lsun/Angstrom/Msun", "per solar mass formed")
    hdr["ORIGIN"] = ("E-MILES SSP models via ppxf 8.2.6 sdist", "pypi.org/project/ppxf/8.2.6")
    hdr["FILES"] = (PATTERN[:60], "source files")
    hdr["IMF"] = ("unimodal 1.30", "Padova+00 isochrones, baseFe")
    hdr["AIR2VAC"] = (True, "air wavelengths converted to vacuum (Ciddor 1996)")
    hdr["REBIN"] = ("flux-conserving", "cumulative integral, linear in source pixel")
    hdr["RESOL"] = ("FWHM 2.51 A 3540-8950 A", "native E-MILES resolution")
    hdr["REDFILL"] = (n_filled, "young SSPs extended past 8950 A, see build_templates")
    hdr["CITATION"] = CITATION
    hdr["BUILDER"] = "python -m npvae.synthetic.build_templates"
    hdr["LICENSE"] = ("MILES: free for non-commercial use", "miles.iac.es")
    hdus = fits.HDUList([fits.PrimaryHDU(),
                         fits.ImageHDU(cube, hdr, name="SSP"),
                         fits.ImageHDU(ages, name="AGES"),
                         fits.ImageHDU(metals, name="METALS")])
    with atomic_write(out) as tmp:
        hdus.writeto(tmp, overwrite=True)
    return cube, ages, metals


def main(argv=None):
    here = os.path.join(os.path.dirname(__file__), "data", TEMPLATE_FILE)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", help="unpacked ppxf 8.2.6 sdist (downloaded if not given)")
    parser.add_argument("--out", default=here, help="output FITS file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.sdist or download_sdist(tmp)
        cube, ages, metals = build(folder, args.out)
    print(f"wrote {args.out}: {cube.shape} float32, ages {ages[0]}-{ages[-1]} Gyr, "
          f"[M/H] {metals[0]}-{metals[-1]}, {os.path.getsize(args.out) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
