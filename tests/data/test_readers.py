"""Readers: real SDSS DR18 spec-lite files, round trips of both formats, bad files."""
import numpy as np
import pytest

from npvae.data.fitsfast import verify_fits
from npvae.data.readers import (read_spec_lite, read_spec_lite_astropy, read_spectrum,
                                read_spspec_dr7, write_spec_lite, write_spspec_dr7)
from npvae.utils import NpvaeError


def test_real_spec_lite_files_read_with_their_catalogue_values(real_files):
    s = read_spec_lite(real_files[1])                # NGC 3522: plate 2488, MJD 54149, fibre 1
    assert (s.plate, s.mjd, s.fiber, s.cls) == (2488, 54149, 1, "GALAXY")
    assert s.z == pytest.approx(0.004018, abs=1e-5)
    assert 3800 < 10 ** s.loglam[0] < 3830 and 9100 < 10 ** s.loglam[-1] < 9300
    assert np.allclose(np.diff(s.loglam), 1e-4, atol=1e-9)      # refined float64 grid
    names = list(s.lines["name"])
    for name in ("H_alpha", "H_beta", "[N_II] 6583", "[O_III] 5007"):
        assert name in names
    ha = s.lines[names.index("H_alpha")]
    assert ha["area"] == pytest.approx(507.14, rel=1e-4) and ha["area_err"] > 0
    assert read_spec_lite(real_files[0]).cls == "STAR"


def test_fast_reader_matches_astropy_reader(real_files):
    for path in real_files:
        fast, ref = read_spec_lite(path), read_spec_lite_astropy(path)
        for key in ("flux", "ivar", "and_mask", "loglam"):
            np.testing.assert_array_equal(getattr(fast, key), getattr(ref, key))
        assert (fast.plate, fast.mjd, fast.fiber, fast.z, fast.cls) == \
            (ref.plate, ref.mjd, ref.fiber, ref.z, ref.cls)
        assert (fast.lines == ref.lines).all()


def test_spec_lite_round_trip(tmp_path, record_factory):
    rec = record_factory(np.random.default_rng(0), z=0.123, fiber=77)
    rec.and_mask[10] = 1 << 23
    path = tmp_path / "spec.fits"
    write_spec_lite(path, rec)
    back = read_spectrum(path)
    assert (back.plate, back.mjd, back.fiber, back.cls) == (1000, 52000, 77, "GALAXY")
    assert back.z == pytest.approx(0.123, rel=1e-6)
    np.testing.assert_array_equal(back.flux, rec.flux)
    np.testing.assert_array_equal(back.ivar, rec.ivar)
    np.testing.assert_array_equal(back.and_mask, rec.and_mask)
    np.testing.assert_allclose(back.loglam, rec.loglam, atol=1e-9)
    np.testing.assert_allclose(back.lines["area"], rec.lines["area"], rtol=1e-6)
    assert list(back.lines["name"]) == list(rec.lines["name"])


def test_spspec_dr7_round_trip(tmp_path, record_factory):
    rec = record_factory(np.random.default_rng(1), z=0.05, cls="QSO", fiber=12)
    rec.ivar[5:9] = 0
    rec.and_mask[20] = 1 << 22
    path = tmp_path / "spSpec-52000-1000-012.fit"
    write_spspec_dr7(path, rec)
    back = read_spectrum(path)                       # detects the DR7 format
    direct = read_spspec_dr7(path)
    np.testing.assert_array_equal(direct.flux, back.flux)
    assert back.meta["format"] == "spSpec" and back.cls == "QSO" and back.fiber == 12
    assert back.z == pytest.approx(0.05)
    np.testing.assert_allclose(back.flux, rec.flux, rtol=1e-6)
    np.testing.assert_allclose(back.ivar, rec.ivar, rtol=1e-5)
    assert (back.ivar[5:9] == 0).all() and back.and_mask[20] == 1 << 22
    np.testing.assert_allclose(back.loglam, rec.loglam, atol=1e-8)
    # line areas survive the height/sigma conversion; names come back from restWave
    np.testing.assert_allclose(back.lines["area"], rec.lines["area"], rtol=1e-4)
    assert list(back.lines["name"]) == list(rec.lines["name"])
    np.testing.assert_allclose(np.abs(back.lines["area"]) / back.lines["area_err"],
                               np.abs(rec.lines["area"]) / rec.lines["area_err"], rtol=1e-4)


def test_truncated_file_is_rejected(tmp_path, real_files):
    raw = open(real_files[1], "rb").read()
    cut = tmp_path / "cut.fits"
    cut.write_bytes(raw[:20000])                     # inside the COADD data
    with pytest.raises(NpvaeError, match="truncated"):
        read_spec_lite(cut)
    with pytest.raises(NpvaeError, match="truncated"):
        verify_fits(cut)
    tail = tmp_path / "tail.fits"
    tail.write_bytes(raw[:-5000])                    # only the last exposure HDU is cut
    with pytest.raises(NpvaeError, match="truncated"):
        verify_fits(tail)
    assert verify_fits(real_files[1]) == 10


def test_corrupt_and_incomplete_files_raise_named_errors(tmp_path, record_factory):
    junk = tmp_path / "junk.fits"
    junk.write_bytes(b"hello world" * 500)
    with pytest.raises(NpvaeError, match="junk.fits.*not a FITS"):
        read_spectrum(junk)
    from astropy.io import fits
    no_specobj = tmp_path / "nospecobj.fits"
    coadd = fits.BinTableHDU.from_columns([fits.Column("flux", "E", array=np.ones(3))], name="COADD")
    fits.HDUList([fits.PrimaryHDU(), coadd]).writeto(no_specobj)
    with pytest.raises(NpvaeError, match="nospecobj.fits.*(HDU COADD has no column loglam|missing HDU)"):
        read_spec_lite(no_specobj)
    rec = record_factory(np.random.default_rng(2))
    good = tmp_path / "good.fits"
    write_spec_lite(good, rec)
    with fits.open(good) as hdul:
        cols = [c for c in hdul["COADD"].columns if c.name != "ivar"]
        hdul["COADD"] = fits.BinTableHDU.from_columns(cols, name="COADD")
        hdul.writeto(tmp_path / "noivar.fits")
    with pytest.raises(NpvaeError, match="HDU COADD has no column ivar"):
        read_spec_lite(tmp_path / "noivar.fits")


def test_fast_table_reader_applies_tzero_and_tscal(tmp_path):
    from astropy.io import fits

    from npvae.data.fitsfast import read_tables

    unsigned = np.array([0, 1, 2 ** 32 - 1], np.uint32)           # J + TZERO 2^31 = uint32
    raw = fits.Column("s", "I", array=np.array([10, 20, 30], np.int16))
    hdu = fits.BinTableHDU.from_columns([fits.Column("u", "J", array=unsigned, bzero=2 ** 31), raw], name="T")
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp_path / "t.fits")
    with fits.open(tmp_path / "t.fits", mode="update") as hdul:    # s = 0.5 * raw + 3
        hdul["T"].header["TSCAL2"], hdul["T"].header["TZERO2"] = 0.5, 3.0
    cols = read_tables(tmp_path / "t.fits", {"T": ["u", "s"]})["T"][1]
    ref = fits.getdata(tmp_path / "t.fits", "T")
    np.testing.assert_array_equal(cols["u"], unsigned)
    np.testing.assert_allclose(cols["s"], ref["s"])
    np.testing.assert_allclose(cols["s"], [8.0, 13.0, 18.0])
