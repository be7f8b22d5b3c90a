"""The dataset file: round trip, memory map, subsets, named errors, atomic writes."""
import mmap

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from npvae.data import load_dataset, write_dataset
from npvae.data.dataset import load_training_rows
from npvae.data.preprocess import REST_WAVE
from npvae.utils import NpvaeError


def _catalog(n):
    return Table({"PLATE": np.arange(n), "MJD": np.full(n, 52000), "FIBERID": np.arange(n) + 1,
                  "Z": np.linspace(0.01, 0.3, n), "CLASS": ["GALAXY"] * n,
                  "LABEL": (["quiescent", "emission", "nlagn", "blagn"] * n)[:n],
                  "SN_MEDIAN": np.full(n, 10.0), "SPLIT": (["train", "train", "train", "valid"] * n)[:n],
                  "ODDITY": [""] * n})


def _arrays(n, rng):
    flux = rng.normal(size=(n, 1000)).astype(np.float32)
    mask = (rng.random((n, 1000)) < 0.1).astype(np.uint8)
    weight = np.where(mask, 0, rng.uniform(1, 2, (n, 1000))).astype(np.float32)
    return flux, weight, mask


def test_round_trip_memmap_and_subsets(tmp_path):
    rng = np.random.default_rng(20)
    flux, weight, mask = _arrays(8, rng)
    path = tmp_path / "ds.fits"
    write_dataset(path, flux, weight, mask, _catalog(8), meta={"sn_cap": 50.0, "source": "test"})
    for memmap in (True, False):
        ds = load_dataset(path, memmap=memmap)
        np.testing.assert_array_equal(ds.flux, flux)
        np.testing.assert_array_equal(ds.weight, weight)
        np.testing.assert_array_equal(ds.mask, mask)
        np.testing.assert_allclose(ds.wave, REST_WAVE)
        assert ds.meta == {"sn_cap": 50.0, "source": "test"}
        assert list(ds.labels[:4]) == ["quiescent", "emission", "nlagn", "blagn"]
        assert ds.catalog["ODDITY"][0] == "" and ds.catalog["CLASS"][0] == "GALAXY"
        train, valid = ds.subset("train"), ds.subset("valid")
        assert len(train) == 6 and len(valid) == 2
        np.testing.assert_array_equal(valid.flux, flux[[3, 7]])
        assert valid.flux.dtype == np.float32
        ds.close()
    base = load_dataset(path, memmap=True).flux
    while isinstance(base, np.ndarray) and not isinstance(base, np.memmap):
        base = base.base
    assert isinstance(base, (np.memmap, mmap.mmap))                 # not read into memory


def test_missing_hdu_and_column_are_named(tmp_path):
    rng = np.random.default_rng(21)
    flux, weight, mask = _arrays(4, rng)
    path = tmp_path / "ds.fits"
    write_dataset(path, flux, weight, mask, _catalog(4))
    with fits.open(path) as hdul:
        fits.HDUList([h for h in hdul if h.name != "WEIGHT"]).writeto(tmp_path / "noweight.fits")
        cat = Table(hdul["CATALOG"].data)
        cat.remove_column("SPLIT")
        hdus = [h for h in hdul if h.name != "CATALOG"] + [fits.table_to_hdu(cat)]
        hdus[-1].name = "CATALOG"
        fits.HDUList(hdus).writeto(tmp_path / "nosplit.fits")
    with pytest.raises(NpvaeError, match="noweight.fits: missing HDU WEIGHT"):
        load_dataset(tmp_path / "noweight.fits")
    with pytest.raises(NpvaeError, match="nosplit.fits: HDU CATALOG has no column SPLIT"):
        load_dataset(tmp_path / "nosplit.fits")
    with pytest.raises(NpvaeError, match="no such dataset"):
        load_dataset(tmp_path / "absent.fits")


def test_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    rng = np.random.default_rng(22)
    flux, weight, mask = _arrays(4, rng)
    path = tmp_path / "ds.fits"
    write_dataset(path, flux, weight, mask, _catalog(4))
    before = path.read_bytes()
    with pytest.raises(NpvaeError, match="CATALOG has 3 rows"):
        write_dataset(path, flux, weight, mask, _catalog(3))

    def crash(self, name, **kwargs):                   # writes half a file, then dies
        open(name, "wb").write(b"SIMPLE  =" + b" " * 100)
        raise OSError("disk full")

    monkeypatch.setattr(fits.HDUList, "writeto", crash)
    with pytest.raises(OSError, match="disk full"):
        write_dataset(path, flux * 2, weight, mask, _catalog(4))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds.fits"]      # no temporary left behind


def test_galaxies_and_quasars_drop_stars_unknown_and_sky_in_order(tmp_path):
    """The paper keeps spectra the pipeline classed as galaxies or quasars, nothing else."""
    rng = np.random.default_rng(4)
    flux, weight, mask = _arrays(8, rng)
    cat = _catalog(8)
    cat["CLASS"] = ["GALAXY", "STAR", "QSO", "STAR  ", "UNKNOWN", "GALAXY", "SKY", "galaxy"]
    write_dataset(tmp_path / "d.fits", flux, weight, mask, cat)
    ds = load_dataset(tmp_path / "d.fits")
    assert ds.is_star.tolist() == [False, True, False, True, False, False, False, False]
    for kept in (ds.galaxies_and_quasars(), ds.without_stars()):         # the former name too
        assert len(kept) == 4
        np.testing.assert_array_equal(kept.flux, flux[[0, 2, 5, 7]])
        assert kept.flux.dtype == np.float32 and kept.flux.dtype.isnative
        assert list(kept.catalog["CLASS"]) == ["GALAXY", "QSO", "GALAXY", "galaxy"]


def test_load_training_rows_keeps_galaxies_and_quasars_unless_all_classes(tmp_path):
    rng = np.random.default_rng(5)
    flux, weight, mask = _arrays(4, rng)
    cat = _catalog(4)
    cat["CLASS"] = ["GALAXY", "SKY", "QSO", "UNKNOWN"]
    write_dataset(tmp_path / "d.fits", flux, weight, mask, cat)
    np.testing.assert_array_equal(load_training_rows(tmp_path / "d.fits").flux, flux[[0, 2]])
    np.testing.assert_array_equal(load_training_rows(tmp_path / "d.fits", all_classes=True).flux, flux)
    cat["CLASS"] = ["STAR", "SKY", "STAR", "UNKNOWN"]
    write_dataset(tmp_path / "s.fits", flux, weight, mask, cat)
    with pytest.raises(NpvaeError, match=r"s.fits: .*CLASS has no GALAXY or QSO.*--all-classes"):
        load_training_rows(tmp_path / "s.fits")


def test_read_rows_gives_the_rows_astropy_reads(tmp_path):
    """fitsfast.read_rows (an encoding task's reader) against astropy for slices, clipping and errors."""
    from astropy.io import fits

    from npvae.data.fitsfast import read_rows
    rng = np.random.default_rng(11)
    flux, weight, mask = _arrays(37, rng)
    catalog = _catalog(37)
    catalog["CLASS"][::3], catalog["CLASS"][1::3] = "QSO  ", " STAR"             # padded, as in SDSS files
    path = write_dataset(tmp_path / "d.fits", flux, weight, mask, catalog)
    columns = ("PLATE", "MJD", "Z", "CLASS", "LABEL", "SN_MEDIAN")
    with fits.open(path) as hdul:
        for lo, hi in ((0, 37), (5, 6), (30, 99), (36, 37), (40, 50)):
            arrays, cols = read_rows(path, lo, hi, ("FLUX", "WEIGHT", "MASK"), "CATALOG", columns)
            for name in ("FLUX", "WEIGHT", "MASK"):
                np.testing.assert_array_equal(arrays[name], hdul[name].data[lo:hi], err_msg=name)
                assert arrays[name].dtype.isnative and arrays[name].flags.writeable   # filled in place
            for col in columns:
                expected = hdul["CATALOG"].data[col][lo:hi]
                if expected.dtype.kind in "SU":
                    expected = np.char.strip(np.asarray(expected, str))
                np.testing.assert_array_equal(cols[col], expected, err_msg=col)
    with pytest.raises(NpvaeError, match="d.fits: HDU CATALOG has no column NOPE"):
        read_rows(path, 0, 3, (), "CATALOG", ("NOPE",))
    with pytest.raises(NpvaeError, match="d.fits: missing HDU NOPE"):
        read_rows(path, 0, 3, ("NOPE",))
    (tmp_path / "cut.fits").write_bytes(path.read_bytes()[:20000])
    with pytest.raises(NpvaeError, match="cut.fits: truncated"):
        read_rows(tmp_path / "cut.fits", 0, 37, ("FLUX",))
