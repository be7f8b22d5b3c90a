"""``npvae preprocess`` and ``npvae fetch-sdss`` from the command line (local server only)."""
import shutil

import numpy as np

from npvae.cli import main
from npvae.data import load_dataset, write_spec_lite, write_spspec_dr7


def test_preprocess_command_writes_dataset_and_reports_skips(tmp_path, real_files, record_factory, capsys):
    raw = tmp_path / "raw"
    (raw / "sub").mkdir(parents=True)
    for p in real_files:
        shutil.copy(p, raw)
    rng = np.random.default_rng(40)
    for i in range(12):
        write_spec_lite(raw / "sub" / f"spec-1000-52000-{i:04d}.fits", record_factory(rng, fiber=i, z=0.02 * i + 0.01))
    write_spspec_dr7(raw / "spSpec-52000-1000-099.fit", record_factory(rng, fiber=99, cls="QSO"))
    (raw / "broken.fits").write_bytes(open(real_files[0], "rb").read()[:9000])
    nan = record_factory(rng, fiber=50)
    nan.flux[:] = np.nan
    write_spec_lite(raw / "nan.fits", nan)
    out = tmp_path / "ds.fits"
    code = main(["preprocess", str(raw), "--out", str(out), "--quiet", "--jobs", "1"])
    text = capsys.readouterr().out
    assert code == 0, text
    ds = load_dataset(out)
    assert len(ds) == 15 and "blagn" in set(ds.labels) and set(ds.split) == {"train", "valid"}
    assert "skipped 2" in text and "unreadable file" in text and "non-finite flux" in text
    assert (tmp_path / "ds.fits.skipped.csv").read_text().count("\n") == 3
    assert ds.meta["n_files"] == 17


def test_preprocess_command_on_an_empty_folder_fails_cleanly(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "ds.fits"
    assert main(["preprocess", str(tmp_path / "empty"), "--out", str(out), "--quiet"]) == 1
    assert "no spectrum files" in capsys.readouterr().err and not out.exists()
