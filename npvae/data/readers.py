"""Readers and writers of SDSS spectrum files: DR8+ spec-lite and DR7 spSpec.

Both formats become one :class:`npvae.data.record.Spectrum` (observed frame). The spec-lite
reader uses the fast table reader of :mod:`npvae.data.fitsfast` (about 1 ms per file);
:func:`read_spec_lite_astropy` does the same through astropy and is the reference it is tested
against. The writers make files of the same layout (used by the tests and by the synthetic
survey to export raw files). Data model: docs/data.md. Shapes: P observed pixels, L lines.

spec-lite (DR8+): HDU 1 COADD (flux, loglam, ivar, and_mask, ...), HDU 2 SPECOBJ (PLATE, MJD,
FIBERID, Z, CLASS, ...), HDU 3 SPZLINE (LINENAME, LINEWAVE, LINEAREA, LINEAREA_ERR, LINEEW,
LINESIGMA, ...). spSpec (DR7): primary image rows flux / continuum-subtracted flux / error /
mask, log-wavelength ``loglam = COEFF0 + COEFF1 * i``, keywords Z and SPEC_CLN; HDU 2 the
measured lines (restWave, sigma [A], height, nsigma, ew).
"""
from pathlib import Path

import numpy as np

from ..utils import NpvaeError, atomic_write
from .fitsfast import iter_hdus, read_tables
from .record import LINE_DTYPE, Spectrum

__all__ = ["read_spec_lite", "read_spec_lite_astropy", "read_spspec_dr7", "read_spectrum",
           "write_spec_lite", "write_spspec_dr7", "SPZLINE_WAVES", "SPEC_CLN_CLASS"]

C_KMS = 299792.458
# SDSS SPZLINE line list: LINENAME -> LINEWAVE (vacuum, Angstrom), as in the DR18 files
SPZLINE_WAVES = {
    "Ly_alpha": 1215.67, "N_V 1240": 1240.81, "C_IV 1549": 1549.48, "He_II 1640": 1640.42,
    "C_III] 1908": 1908.734, "Mg_II 2799": 2800.315, "[O_II] 3725": 3727.092,
    "[O_II] 3727": 3729.875, "[Ne_III] 3868": 3869.857, "H_epsilon": 3890.151,
    "[Ne_III] 3970": 3971.123, "H_delta": 4102.892, "H_gamma": 4341.684, "[O_III] 4363": 4364.435,
    "He_II 4685": 4686.991, "H_beta": 4862.683, "[O_III] 4959": 4960.295, "[O_III] 5007": 5008.240,
    "He_II 5411": 5413.024, "[O_I] 5577": 5578.888, "[O_I] 6300": 6302.046,
    "[S_III] 6312": 6313.806, "[O_I] 6363": 6365.535, "[N_II] 6548": 6549.859,
    "H_alpha": 6564.614, "[N_II] 6583": 6585.268, "[S_II] 6716": 6718.294,
    "[S_II] 6730": 6732.678, "[Ar_III] 7135": 7137.757,
}
# DR7 SPEC_CLN -> DR8+ CLASS
SPEC_CLN_CLASS = {0: "UNKNOWN", 1: "STAR", 2: "GALAXY", 3: "QSO", 4: "QSO", 5: "SKY",
                  6: "STAR", 7: "GALAXY"}
_COADD_COLS = ["flux", "loglam", "ivar", "and_mask"]
_SPECOBJ_COLS = ["PLATE", "MJD", "FIBERID", "Z", "CLASS"]
_LINE_COLS = ["LINENAME", "LINEWAVE", "LINEAREA", "LINEAREA_ERR", "LINEEW", "LINESIGMA"]


def _text(value):
    return value.decode("ascii", "replace").strip() if isinstance(value, bytes) else str(value).strip()


def refine_loglam(loglam):
    """Replace a float32 log-lambda column by its float64 least-squares line when it is uniform.

    SDSS grids are ``c0 + c1 * i`` exactly; the file stores them as float32 (5e-7 dex noise).
    A grid that is not uniform to 1e-5 dex is returned unchanged (as float64).
    """
    loglam = np.asarray(loglam, dtype=np.float64)                  # (P,)
    n = loglam.size
    if n < 3:
        return loglam
    i = np.arange(n, dtype=np.float64)
    c1 = ((i - i.mean()) * (loglam - loglam.mean())).sum() / ((i - i.mean()) ** 2).sum()
    c0 = loglam.mean() - c1 * i.mean()
    fit = c0 + c1 * i                                                # (P,)
    return fit if np.abs(fit - loglam).max() < 1e-5 else loglam


def _lines_from_columns(cols):
    """LINE_DTYPE array (L,) from SPZLINE columns."""
    lines = np.zeros(len(cols["LINENAME"]), LINE_DTYPE)
    lines["name"] = [_text(v) for v in cols["LINENAME"]]
    lines["wave"] = cols["LINEWAVE"]
    lines["area"] = cols["LINEAREA"]
    lines["area_err"] = cols["LINEAREA_ERR"]
    lines["ew"] = cols["LINEEW"]
    lines["sigma"] = cols["LINESIGMA"]
    return lines


def _spectrum_from_tables(path, coadd, specobj, lines):
    if len(specobj["Z"]) < 1:
        raise NpvaeError(f"{path}: HDU SPECOBJ has no rows")
    flux = np.asarray(coadd["flux"], np.float32)
    if flux.size == 0:
        raise NpvaeError(f"{path}: HDU COADD has no rows")
    return Spectrum(
        plate=int(specobj["PLATE"][0]), mjd=int(specobj["MJD"][0]), fiber=int(specobj["FIBERID"][0]),
        z=float(specobj["Z"][0]), cls=_text(specobj["CLASS"][0]).upper(),
        loglam=refine_loglam(coadd["loglam"]), flux=flux,
        ivar=np.asarray(coadd["ivar"], np.float32),
        and_mask=np.asarray(coadd["and_mask"], np.int32),
        lines=lines, source=str(path), meta={"format": "spec-lite"})


def read_spec_lite(path):
    """Read a DR8+ spec-lite file (fast path). Raises NpvaeError naming a missing HDU/column."""
    path = str(path)
    wanted = {"COADD": _COADD_COLS, "SPECOBJ": _SPECOBJ_COLS, "SPZLINE": _LINE_COLS}
    try:
        tables = read_tables(path, wanted)
    except NpvaeError as err:
        if "missing HDU SPZLINE" not in str(err):
            raise
        tables = read_tables(path, {"COADD": _COADD_COLS, "SPECOBJ": _SPECOBJ_COLS})
    lines = (_lines_from_columns(tables["SPZLINE"][1]) if "SPZLINE" in tables
             else np.zeros(0, LINE_DTYPE))
    return _spectrum_from_tables(path, tables["COADD"][1], tables["SPECOBJ"][1], lines)


def _astropy_columns(hdul, path, extname, names):
    if extname not in hdul:
        raise NpvaeError(f"{path}: missing HDU {extname}")
    data = hdul[extname].data
    have = {n.lower(): n for n in (data.columns.names if data is not None else [])}
    out = {}
    for name in names:
        if name.lower() not in have:
            raise NpvaeError(f"{path}: HDU {extname} has no column {name}")
        out[name] = np.array(data[have[name.lower()]])
    return out


def read_spec_lite_astropy(path):
    """Read a spec-lite file through astropy (the slow reference of :func:`read_spec_lite`)."""
    from astropy.io import fits

    path = str(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            coadd = _astropy_columns(hdul, path, "COADD", _COADD_COLS)
            specobj = _astropy_columns(hdul, path, "SPECOBJ", _SPECOBJ_COLS)
            lines = (_lines_from_columns(_astropy_columns(hdul, path, "SPZLINE", _LINE_COLS))
                     if "SPZLINE" in hdul else np.zeros(0, LINE_DTYPE))
    except (OSError, TypeError) as err:
        raise NpvaeError(f"{path}: unreadable FITS file ({err})") from err
    return _spectrum_from_tables(path, coadd, specobj, lines)


def _dr7_lines(path, table, z):
    """LINE_DTYPE array from the DR7 line table: area = sqrt(2 pi) sigma height, err = area/nsigma."""
    names = {n.lower(): n for n in table.columns.names}
    for need in ("restwave", "sigma", "height", "nsigma", "ew"):
        if need not in names:
            raise NpvaeError(f"{path}: HDU 2 (line table) has no column {need}")
    rest = np.asarray(table[names["restwave"]], np.float64)          # (L,)
    sigma_a = np.asarray(table[names["sigma"]], np.float64)          # (L,) Angstrom, observed
    height = np.asarray(table[names["height"]], np.float64)
    nsigma = np.asarray(table[names["nsigma"]], np.float64)
    known_names = np.array(list(SPZLINE_WAVES))
    known_waves = np.array(list(SPZLINE_WAVES.values()))
    nearest = np.abs(rest[:, None] - known_waves[None, :]).argmin(axis=1) if rest.size else rest
    lines = np.zeros(rest.size, LINE_DTYPE)
    for k in range(rest.size):
        j = int(nearest[k])
        lines["name"][k] = known_names[j] if abs(rest[k] - known_waves[j]) < 1.5 else f"{rest[k]:.2f}"
    lines["wave"] = rest
    lines["area"] = np.sqrt(2 * np.pi) * sigma_a * height
    with np.errstate(divide="ignore", invalid="ignore"):
        lines["area_err"] = np.where(nsigma > 0, np.abs(lines["area"]) / nsigma, -1.0)
        lines["sigma"] = np.where(rest > 0, sigma_a / (rest * (1 + z)) * C_KMS, 0.0)
    lines["ew"] = table[names["ew"]]
    return lines


def read_spspec_dr7(path):
    """Read a DR7 spSpec file. ivar = 1/error^2 where error > 0, else 0."""
    from astropy.io import fits

    path = str(path)
    try:
        with fits.open(path, memmap=False) as hdul:
            hdr, image = hdul[0].header, hdul[0].data
            for key in ("COEFF0", "COEFF1", "Z", "SPEC_CLN"):
                if key not in hdr:
                    raise NpvaeError(f"{path}: primary header has no keyword {key}")
            if image is None or image.ndim != 2 or image.shape[0] < 4:
                raise NpvaeError(f"{path}: primary image must have 4 rows (flux, continuum-"
                                 f"subtracted, error, mask), got {None if image is None else image.shape}")
            z = float(hdr["Z"])
            lines = (_dr7_lines(path, hdul[2].data, z) if len(hdul) > 2 and hdul[2].data is not None
                     else np.zeros(0, LINE_DTYPE))
            image = np.asarray(image, np.float64)
            spec_cln = int(hdr["SPEC_CLN"])
            plate, mjd, fiber = (int(hdr.get(k, -1)) for k in ("PLATEID", "MJD", "FIBERID"))
            coeff0, coeff1 = float(hdr["COEFF0"]), float(hdr["COEFF1"])
    except (OSError, TypeError, IndexError) as err:
        raise NpvaeError(f"{path}: unreadable FITS file ({err})") from err
    error = image[2]                                                 # (P,)
    with np.errstate(divide="ignore"):
        ivar = np.where(error > 0, 1.0 / np.where(error > 0, error, 1.0) ** 2, 0.0)
    return Spectrum(plate=plate, mjd=mjd, fiber=fiber, z=z,
                    cls=SPEC_CLN_CLASS.get(spec_cln, "UNKNOWN"),
                    loglam=coeff0 + coeff1 * np.arange(image.shape[1], dtype=np.float64),
                    flux=image[0].astype(np.float32), ivar=ivar.astype(np.float32),
                    and_mask=image[3].astype(np.int64).astype(np.int32), lines=lines,
                    source=path, meta={"format": "spSpec", "SPEC_CLN": spec_cln})


def read_spectrum(path):
    """Read either format: a primary header with COEFF0 and SPEC_CLN is spSpec, else spec-lite."""
    path = str(path)
    for _, header, _ in iter_hdus(path):                 # the primary header only
        if "COEFF0" in header.cards and "SPEC_CLN" in header.cards:
            return read_spspec_dr7(path)
        return read_spec_lite(path)
    raise NpvaeError(f"{path}: empty file")


def write_spec_lite(path, spectrum):
    """Write ``spectrum`` as a spec-lite file (PRIMARY, COADD, SPECOBJ, SPZLINE), atomically."""
    from astropy.io import fits

    s = spectrum
    primary = fits.PrimaryHDU()
    primary.header["PLATEID"], primary.header["MJD"], primary.header["FIBERID"] = s.plate, s.mjd, s.fiber
    p = len(s.flux)
    zeros = np.zeros(p, np.float32)
    coadd = fits.BinTableHDU.from_columns([
        fits.Column("flux", "E", array=np.asarray(s.flux, np.float32)),
        fits.Column("loglam", "E", array=np.asarray(s.loglam, np.float32)),
        fits.Column("ivar", "E", array=np.asarray(s.ivar, np.float32)),
        fits.Column("and_mask", "J", array=np.asarray(s.and_mask, np.int32)),
        fits.Column("or_mask", "J", array=np.asarray(s.and_mask, np.int32)),
        fits.Column("wdisp", "E", array=zeros), fits.Column("sky", "E", array=zeros),
        fits.Column("model", "E", array=zeros)], name="COADD")
    specobj = fits.BinTableHDU.from_columns([
        fits.Column("PLATE", "J", array=[s.plate]), fits.Column("MJD", "J", array=[s.mjd]),
        fits.Column("FIBERID", "J", array=[s.fiber]), fits.Column("Z", "E", array=[s.z]),
        fits.Column("CLASS", "6A", array=[s.cls]),
        fits.Column("SUBCLASS", "21A", array=[str(s.meta.get("SUBCLASS", ""))]),
        fits.Column("RUN2D", "8A", array=[str(s.meta.get("RUN2D", "26"))])], name="SPECOBJ")
    lines, n = s.lines, len(s.lines)
    spzline = fits.BinTableHDU.from_columns([
        fits.Column("PLATE", "J", array=np.full(n, s.plate)),
        fits.Column("MJD", "J", array=np.full(n, s.mjd)),
        fits.Column("FIBERID", "J", array=np.full(n, s.fiber)),
        fits.Column("LINENAME", "13A", array=lines["name"]),
        fits.Column("LINEWAVE", "D", array=lines["wave"]),
        fits.Column("LINEZ", "E", array=np.full(n, s.z)),
        fits.Column("LINESIGMA", "E", array=lines["sigma"]),
        fits.Column("LINEAREA", "E", array=lines["area"]),
        fits.Column("LINEAREA_ERR", "E", array=lines["area_err"]),
        fits.Column("LINEEW", "E", array=lines["ew"])], name="SPZLINE")
    with atomic_write(path) as tmp:
        fits.HDUList([primary, coadd, specobj, spzline]).writeto(tmp, overwrite=True)
    return Path(path)


def write_spspec_dr7(path, spectrum):
    """Write ``spectrum`` as a DR7 spSpec file (4-row image + COEFF0/COEFF1, line table in HDU 2).

    The log-wavelength grid must be uniform (COEFF0 + COEFF1 i). Error = 1/sqrt(ivar), 0 where
    ivar = 0. The continuum-subtracted row is written as the flux (no continuum model here).
    """
    from astropy.io import fits

    s = spectrum
    loglam = np.asarray(s.loglam, np.float64)
    coeff1 = (loglam[-1] - loglam[0]) / (len(loglam) - 1)
    if np.abs(loglam - (loglam[0] + coeff1 * np.arange(len(loglam)))).max() > 1e-6:
        raise NpvaeError(f"{path}: spSpec needs a uniform log-wavelength grid")
    ivar = np.asarray(s.ivar, np.float64)
    error = np.where(ivar > 0, 1.0 / np.sqrt(np.where(ivar > 0, ivar, 1.0)), 0.0)
    image = np.vstack([s.flux, s.flux, error, s.and_mask]).astype(np.float32)      # (4, P)
    primary = fits.PrimaryHDU(image)
    hdr = primary.header
    hdr["COEFF0"], hdr["COEFF1"], hdr["Z"], hdr["Z_ERR"], hdr["Z_CONF"] = loglam[0], coeff1, s.z, 0.0, 1.0
    cls_to_cln = {"STAR": 1, "GALAXY": 2, "QSO": 3}
    hdr["SPEC_CLN"] = cls_to_cln.get(s.cls.upper(), 0)
    hdr["PLATEID"], hdr["MJD"], hdr["FIBERID"] = s.plate, s.mjd, s.fiber
    hdr["NAME"] = f"{s.mjd:05d}-{s.plate:04d}-{s.fiber:03d}"
    lines = s.lines
    sigma_a = lines["sigma"] / C_KMS * lines["wave"] * (1 + s.z)
    with np.errstate(divide="ignore", invalid="ignore"):
        height = np.where(sigma_a > 0, lines["area"] / (np.sqrt(2 * np.pi) * sigma_a), 0.0)
        nsigma = np.where(lines["area_err"] > 0, np.abs(lines["area"]) / lines["area_err"], 0.0)
    found = fits.BinTableHDU.from_columns([fits.Column("wave", "E", array=np.zeros(0))])
    measured = fits.BinTableHDU.from_columns([
        fits.Column("wave", "E", array=lines["wave"] * (1 + s.z)),
        fits.Column("sigma", "E", array=sigma_a), fits.Column("height", "E", array=height),
        fits.Column("ew", "E", array=lines["ew"]), fits.Column("nsigma", "E", array=nsigma),
        fits.Column("restWave", "E", array=lines["wave"])])
    with atomic_write(path) as tmp:
        fits.HDUList([primary, found, measured]).writeto(tmp, overwrite=True)
    return Path(path)
