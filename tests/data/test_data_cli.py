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
        write_spec_lite(raw / "sub" / f"spec-1000-52000-{i:04d}.fits",
                        record_factory(rng, fiber=i, z=0.02 * i + 0.01))
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


def test_parallel_file_preprocessing_equals_in_memory_preprocessing(tmp_path, record_factory):
    from npvae.data.files import preprocess_files
    from npvae.data.preprocess import preprocess
    from npvae.data.readers import read_spectrum

    rng = np.random.default_rng(41)
    for i in range(10):
        write_spec_lite(tmp_path / f"spec-{i:02d}.fits", record_factory(rng, fiber=i, z=0.03 * i + 0.01))
    (tmp_path / "bad.fits").write_bytes(b"SIMPLE  =" + b" " * 71)
    par = preprocess_files(tmp_path, n_jobs=2, chunk=3, verbose=False, rng=1)
    mem = preprocess([read_spectrum(tmp_path / f"spec-{i:02d}.fits") for i in range(10)],
                     verbose=False, rng=1)
    np.testing.assert_array_equal(par.flux, mem.flux)
    np.testing.assert_array_equal(par.weight, mem.weight)
    assert list(par.catalog["SPLIT"]) == list(mem.catalog["SPLIT"])
    assert len(par.skipped) == 1 and par.skipped[0][1].startswith("unreadable file")
