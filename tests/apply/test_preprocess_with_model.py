"""``npvae preprocess`` of a few spectra: honest without a model, the model's basis with one."""
import numpy as np

from npvae.cli import main
from npvae.data.dataset import load_dataset
from npvae.data.preprocess import preprocess
from npvae.synthetic.dataset import write_raw


def test_too_few_spectra_are_not_infilled_and_say_so(survey, tmp_path, capsys):
    res = preprocess(survey[:5], verbose=False)
    assert res.infill == "none" and res.mask.any()
    assert np.all(res.flux[res.mask != 0] == 0)
    raw = write_raw(survey[:5], tmp_path / "raw")
    out = tmp_path / "few.fits"
    assert main(["preprocess", str(raw), "--out", str(out), "--quiet", "--jobs", "1"]) == 0
    assert "too few" in capsys.readouterr().out
    meta = load_dataset(out).meta
    assert meta["infill"] is False and meta["infill_method"] == "none"


def test_preprocess_with_a_model_fills_each_spectrum_from_its_basis(bundle, survey, tmp_path):
    path, model = bundle
    raw = write_raw(survey[:6], tmp_path / "raw")
    out = tmp_path / "few.fits"
    assert main(["preprocess", str(raw), "--out", str(out), "--quiet", "--jobs", "1", "--model", str(path)]) == 0
    data = load_dataset(out)
    assert data.meta["infill"] is True and data.meta["infill_method"] == "basis"
    assert data.meta["sn_cap"] == model.preprocessing.sn_cap
    for i in (0, 5):                                        # each row as if preprocessed alone
        flux = model.preprocessing.prepare([survey[i]])[0]
        assert np.abs(data.flux[i] - flux[0]).max() <= 1e-5
    assert np.abs(data.flux[data.mask != 0]).min() > 0     # filled, not zero


def test_options_that_contradict_the_model_are_refused(bundle, survey, tmp_path, capsys):
    path, _ = bundle
    raw = write_raw(survey[:2], tmp_path / "raw")
    assert main(["preprocess", str(raw), "--out", str(tmp_path / "x.fits"), "--model", str(path),
                 "--sn-cap", "10"]) == 1
    assert "conflicts with the model's" in capsys.readouterr().err
