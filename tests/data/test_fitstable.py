"""The NumPy FITS writer (npvae.data.fitstable) against astropy's own writer: the same bytes."""
import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from npvae.data.fitstable import BLOCK, FitsImage, FitsTable, write_fits
from npvae.utils import NpvaeError


def every_kind(n, rng):
    """A table with a column of every kind the writer takes, NaN and empty strings included."""
    z = rng.standard_normal(n)                                            # (N,)
    z[::3] = np.nan
    return {"I2": rng.integers(-300, 300, n).astype(np.int16), "I4": rng.integers(-9, 9, n).astype(np.int32),
            "I8": rng.integers(-2**40, 2**40, n), "U1B": rng.integers(0, 255, n).astype(np.uint8),
            "F4": z.astype(np.float32), "F8": z, "F8LE": z.astype("<f8"), "F8BE": z.astype(">f8"),
            "VEC": rng.standard_normal((n, 3)).astype(np.float32), "VEC8": rng.standard_normal((n, 2)),
            "STR": np.array(["GALAXY", "", "QSO", "a b"] * n)[:n],
            "BYTES": np.array([b"x", b"/long/path/to/shard-0.fits", b""] * n)[:n]}


def astropy_bytes(tmp_path, primary, tables, images=()):
    """The file astropy writes for the same HDUs (table_to_hdu + writeto)."""
    hdus = [primary]
    for name, columns in tables:
        hdus.append(fits.table_to_hdu(Table(columns)))
        hdus[-1].name = name
    for name, data, cards in images:
        hdus.append(fits.ImageHDU(data, name=name))
        for key, value in cards.items():
            hdus[-1].header[key] = value
    fits.HDUList(hdus).writeto(tmp_path / "astropy.fits")
    return (tmp_path / "astropy.fits").read_bytes()


def primary():
    hdu = fits.PrimaryHDU()
    hdu.header["NPVFMT"] = ("test", "a comment")
    return hdu


@pytest.mark.parametrize("n, rows", [(0, 4), (1, 4), (7, 3), (50, 7), (50, 64)])
def test_tables_and_images_are_written_byte_for_byte_as_astropy_writes_them(tmp_path, n, rows):
    rng = np.random.default_rng(n)
    columns = every_kind(n, rng)
    small = {"SOURCE": np.array(["s1", "s22"] * n)[:n], "REASON": np.array(["why"] * n)}
    image = rng.standard_normal((n, 5)).astype(np.float32)               # (N, 5)
    wave = np.linspace(3000.0, 9000.0, 5)                                # (5,) float64
    write_fits(tmp_path / "fast.fits", primary(),
               [FitsTable("LATENTS", columns), FitsTable("SKIPPED", small), FitsImage("FLUX", image),
                FitsImage("WAVE", wave, {"BUNIT": "Angstrom"})], rows=rows)
    want = astropy_bytes(tmp_path, primary(), [("LATENTS", columns), ("SKIPPED", small)],
                         [("FLUX", image, {}), ("WAVE", wave, {"BUNIT": "Angstrom"})])
    got = (tmp_path / "fast.fits").read_bytes()
    assert len(got) % BLOCK == 0 and got == want
    with fits.open(tmp_path / "fast.fits") as hdul:                      # and astropy reads it back
        data = hdul["LATENTS"].data
        for name, column in columns.items():
            if column.dtype.kind in "US":                                # read back as str
                np.testing.assert_array_equal(data[name].astype(str), column.astype(str))
            else:
                np.testing.assert_array_equal(data[name], column)
        np.testing.assert_array_equal(hdul["FLUX"].data, image)
        assert hdul["WAVE"].header["BUNIT"] == "Angstrom"


def test_a_non_ascii_string_is_a_one_line_error_naming_column_and_row(tmp_path):
    table = FitsTable("LATENTS", {"SOURCE": np.array(["a", "b", "caf\u00e9"]), "ROW": np.arange(3)})
    with pytest.raises(NpvaeError, match=r"LATENTS column SOURCE row 2: 'caf\u00e9' is not ASCII"):
        write_fits(tmp_path / "x.fits", primary(), [table], rows=2)
    assert not (tmp_path / "x.fits").exists()                            # nothing half written


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint16, np.complex64, object])
def test_a_dtype_fits_does_not_store_as_is_is_refused(dtype):
    with pytest.raises(NpvaeError, match="column X: cannot write dtype"):
        FitsTable("T", {"X": np.zeros(3, dtype)})


def test_columns_of_different_lengths_are_refused():
    with pytest.raises(NpvaeError, match="different lengths"):
        FitsTable("T", {"A": np.zeros(3), "B": np.zeros(4)})
