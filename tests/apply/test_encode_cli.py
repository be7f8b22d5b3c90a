"""``npvae encode`` end to end on synthetic spec-lite files."""
import csv
import shutil
import subprocess
import sys

import numpy as np
from astropy.io import fits
from astropy.table import Table

from npvae import nn
from npvae.apply import encode_spectra
from npvae.cli import main
from npvae.commands.encode import write_latents
from npvae.synthetic.dataset import write_raw


def latents(path):
    with fits.open(path) as hdul:
        return {h.name: (h.data.copy() if h.data is not None else None) for h in hdul}, dict(hdul[0].header)


def test_encode_folder_matches_the_python_api_and_lists_skipped_files(bundle, survey, tmp_path, capsys):
    path, model = bundle
    raw = write_raw(survey[:5], tmp_path / "raw")
    (raw / "broken.fits").write_bytes(b"not a FITS file at all")
    out = tmp_path / "latents.fits"
    assert main(["encode", str(raw), "--model", str(path), "--out", str(out), "--quiet",
                 "--chunk", "2", "--jobs", "2"]) == 0
    hdus, header = latents(out)
    api = encode_spectra(model, survey[:5])
    assert header["NSPEC"] == 5 and header["INFILL"] == model.preprocessing.infill
    assert np.abs(hdus["LATENTS"]["MU"] - api["MU"]).max() <= 1e-4
    assert np.allclose(hdus["LATENTS"]["RCHI2"], api["RCHI2"], rtol=1e-3)
    assert list(hdus["LATENTS"]["FIBERID"]) == [r.fiber for r in survey[:5]]
    assert [s.endswith("broken.fits") for s in hdus["SKIPPED"]["SOURCE"]] == [True]
    assert hdus["SKIPPED"]["REASON"][0].startswith("unreadable file")
    with open(f"{out}.skipped.csv") as fh:
        assert len(list(csv.reader(fh))) == 2
    assert "encoded 5 spectra, skipped 1" in capsys.readouterr().out


def test_encode_one_spectrum_with_reconstructions_and_a_model_folder(bundle, survey, tmp_path):
    path, model = bundle
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(path, folder / "model.npz")
    one = write_raw(survey[7:8], tmp_path / "raw") / f"{survey[7].name}.fits"
    out = tmp_path / "one.fits"
    assert main(["encode", str(one), "--model", str(folder), "--out", str(out), "--reconstructions",
                 "--infill", "pca"]) == 0
    hdus, header = latents(out)
    assert len(hdus["LATENTS"]) == 1 and header["INFILL"] == "pca"
    assert hdus["FLUX"].shape == hdus["RECON"].shape == (1, 1000) and hdus["WAVE"].shape == (1000,)
    assert np.allclose(hdus["RECON"][0], model.decode(hdus["LATENTS"]["MU"])[0], atol=1e-5)


def test_model_without_recipe_is_one_line_error(survey, tmp_path, capsys):
    old = nn.InfoVAE(hidden=(16,), n_latent=2)
    old.is_fitted = True                                          # as if trained
    old.save(tmp_path / "old.npz")
    raw = write_raw(survey[:1], tmp_path / "raw")
    out = tmp_path / "x.fits"
    assert main(["encode", str(raw), "--model", str(tmp_path / "old.npz"), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert "no preprocessing recipe" in err and "\n" not in err
    assert not out.exists()


def test_bad_output_name_is_refused_before_any_work(bundle, tmp_path, capsys):
    path, _ = bundle
    assert main(["encode", str(tmp_path), "--model", str(path), "--out", str(tmp_path / "x.csv")]) == 1
    assert "must be a .fits file" in capsys.readouterr().err


def test_latents_table_is_written_as_astropy_writes_its_str_columns(tmp_path):
    table = Table({"PLATE": np.arange(4), "CLASS": np.array(["GALAXY", "QSO", "", "STAR"]),
                   "SOURCE": np.array(["/a/shard-0.fits", "b", "/c/d e.fits", "/long/" * 9 + "x.fits"]),
                   "MU": np.ones((4, 2), np.float32)})
    for rows in (slice(0, 3), slice(0, 4), slice(0, 0)):
        part = table[rows]
        write_latents(tmp_path / "t.fits", part, [], {})
        ref = fits.table_to_hdu(Table(part, meta={}))                  # astropy encodes the str columns
        ref.name = "LATENTS"
        fits.HDUList([fits.PrimaryHDU(), ref]).writeto(tmp_path / "ref.fits", overwrite=True)
        with fits.open(tmp_path / "t.fits") as hdul, fits.open(tmp_path / "ref.fits") as ref:
            got, want = hdul["LATENTS"], ref[1]
            assert got.data.tobytes() == want.data.tobytes() and got.header.tostring() == want.header.tostring()
            assert list(got.data["SOURCE"]) == list(part["SOURCE"])


def test_a_local_cluster_writes_the_bytes_of_the_loop(bundle, survey, tmp_path):
    """--scheduler local (one worker; the LOF reference fitted while it starts) against --scheduler none."""
    path, _ = bundle
    raw = write_raw(survey[:12], tmp_path / "raw")
    files = {}
    for tag, extra in (("none", ["--scheduler", "none"]), ("local", ["--scheduler", "local", "--workers", "1"])):
        out = tmp_path / f"{tag}.fits"
        assert main(["encode", str(raw), "--model", str(path), "--out", str(out), "--quiet", "--chunk", "2",
                     "--top", "4", *extra]) == 0
        files[tag] = out.read_bytes(), out.with_suffix(".top.csv").read_bytes()
    assert files["local"] == files["none"]


SKLEARN_PROBE = """
import sys
from npvae.cli import main
assert main(sys.argv[1:]) == 0
print(sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"))
"""


def test_encode_with_outlier_scores_never_imports_scikit_learn(bundle, survey, tmp_path):
    """The LOF is fitted and queried by npvae's kd-tree: no scikit-learn in the client or a task."""
    path, _ = bundle
    raw = write_raw(survey[:30], tmp_path / "raw")
    out = tmp_path / "latents.fits"
    argv = ["encode", str(raw), "--model", str(path), "--out", str(out), "--quiet", "--top", "5",
            "--scheduler", "none"]
    proc = subprocess.run([sys.executable, "-c", SKLEARN_PROBE, *argv], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert np.isfinite(Table.read(out, hdu="LATENTS")["OUTLIER"]).all()
