"""``npvae redshift`` end to end on synthetic spec-lite files, and its one-line errors."""
import numpy as np
import pytest
from astropy.io import fits

from npvae import nn
from npvae.apply import redshift_spectra
from npvae.cli import main
from npvae.synthetic.dataset import write_raw


def test_redshift_folder_matches_the_python_api(bundle, survey, tmp_path, capsys):
    path, model = bundle
    raw = write_raw(survey[:3], tmp_path / "raw")
    (raw / "broken.fits").write_bytes(b"not a FITS file at all")
    out = tmp_path / "z.fits"
    assert main(["redshift", str(raw), "--model", str(path), "--out", str(out), "--quiet", "--curves",
                 "--z-max", "0.3", "--threads", "2"]) == 0
    api = redshift_spectra(model, survey[:3], z_range=(0.0, 0.3))
    with fits.open(out) as hdul:
        table, grid = hdul["REDSHIFTS"].data, hdul["Z_GRID"].data
        assert hdul[0].header["NSPEC"] == 3 and hdul[0].header["ZWBIT1"] == "AT_EDGE"
        assert np.allclose(table["Z"], api["Z"], rtol=1e-9) and np.array_equal(table["ZWARN"], api["ZWARN"])
        assert np.allclose(table["Z_CAT"], [r.z for r in survey[:3]], atol=1e-6)
        assert table["RCHI2_SCAN"].shape == (3, grid.size)
        assert hdul["SKIPPED"].data["SOURCE"][0].endswith("broken.fits")
    assert "redshifts for 3 spectra, skipped 1" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--out", "{tmp}/z.csv"], "must be a .fits file"),
    (["--out", "{tmp}/nowhere/z.fits"], "does not exist"),
    (["--out", "{tmp}/z.fits", "--z-min", "0.3", "--z-max", "0.2"], "must be below --z-max"),
    (["--out", "{tmp}/z.fits", "--pca-vectors", "3"], "need --method pca"),
    (["--out", "{tmp}/z.fits", "--method", "pca", "--templates-from", "{tmp}/raw"], "not a dataset file"),
])
def test_bad_arguments_are_one_line_errors_before_any_work(bundle, survey, tmp_path, capsys, extra, message):
    path, _ = bundle
    raw = write_raw(survey[:1], tmp_path / "raw")
    args = ["redshift", str(raw), "--model", str(path)] + [a.format(tmp=tmp_path) for a in extra]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not (tmp_path / "z.fits").exists()


def test_model_without_recipe_and_missing_input_are_one_line_errors(survey, bundle, tmp_path, capsys):
    old = nn.InfoVAE(hidden=(16,), n_latent=2)
    old.is_fitted = True
    old.save(tmp_path / "old.npz")
    raw = write_raw(survey[:1], tmp_path / "raw")
    assert main(["redshift", str(raw), "--model", str(tmp_path / "old.npz"), "--out", str(tmp_path / "z.fits")]) == 1
    assert "no preprocessing recipe" in capsys.readouterr().err
    assert main(["redshift", str(tmp_path / "missing"), "--model", str(bundle[0]),
                 "--out", str(tmp_path / "z.fits")]) == 1
    err = capsys.readouterr().err.strip()
    assert "no such file or folder" in err and "\n" not in err


def test_templates_from_the_training_data_equal_the_model_basis(bundle, survey, prepared, tmp_path):
    from _datafiles import write_small_dataset

    path, model = bundle
    n = 240                                                          # the rows the recipe's basis came from
    data = write_small_dataset(tmp_path / "train.fits", prepared.flux[:n], prepared.weight[:n],
                               ["train"] * n, ["GALAXY"] * n)
    raw = write_raw(survey[:2], tmp_path / "raw")
    common = ["redshift", str(raw), "--model", str(path), "--method", "pca", "--quiet", "--z-max", "0.3"]
    assert main(common + ["--out", str(tmp_path / "own.fits")]) == 0
    assert main(common + ["--out", str(tmp_path / "data.fits"), "--templates-from", str(data)]) == 0
    with fits.open(tmp_path / "own.fits") as own, fits.open(tmp_path / "data.fits") as other:
        assert np.allclose(own["REDSHIFTS"].data["Z"], other["REDSHIFTS"].data["Z"], rtol=1e-7)
