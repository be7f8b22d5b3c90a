"""``npvae train`` and ``npvae search`` end to end on tiny files; bad data files give one-line errors."""
import csv

import numpy as np
import pytest

import npvae
from npvae.cli import main
from npvae.commands.train import read_training_data

from _datafiles import write_small_dataset

TINY = ["--latent", "2", "--hidden", "16", "8", "--lam", "3", "--epochs", "2", "--batch-size", "32", "--quiet"]


def test_train_writes_model_history_and_curve_then_resumes(tmp_path, npz_file):
    out = tmp_path / "run"
    assert main(["train", "--data", str(npz_file), "--out", str(out)] + TINY) == 0
    model = npvae.load(out / "model.npz")
    with open(out / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and "val_total" in rows[0]
    assert (out / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert model.n_latent == 2 and model.hidden == (16, 8)
    more = TINY[:-4] + ["4", "--batch-size", "32", "--quiet", "--resume"]
    assert main(["train", "--data", str(npz_file), "--out", str(out)] + more) == 0
    assert len(npvae.load(out / "model.npz").history_) == 4


def test_npz_split_seeded_and_explicit(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "d.npz"
    np.savez(path, flux=np.vstack([X, Xv]), weight=np.vstack([W, Wv]))
    a, b = read_training_data(path, seed=1), read_training_data(path, seed=1)
    assert len(a[2]) == 55 and all(np.array_equal(u, v) for u, v in zip(a, b))
    split = np.array(["train"] * 150 + ["valid"] * 70)
    np.savez(path, flux=np.vstack([X, Xv]), weight=np.vstack([W, Wv]), split=split)
    Xt, _, Xval, _ = read_training_data(path)
    assert np.array_equal(Xt, X) and np.array_equal(Xval, Xv)


def test_dataset_fits_file_uses_its_split(dataset_fits, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = dataset_fits
    Xt, Wt, Xval, Wval = read_training_data(path)
    assert np.array_equal(Xt, X) and np.array_equal(Wval, Wv)


def test_train_and_search_use_only_galaxies_and_quasars_unless_all_classes(tmp_path, tiny_data,
                                                                             monkeypatch):
    """As the paper: rows whose pipeline CLASS is STAR, UNKNOWN or SKY are not trained on."""
    X, W, Xv, Wv = tiny_data
    flux, weight = np.vstack([X, Xv]), np.vstack([W, Wv])                # 150 train, 70 valid
    classes = np.array(["GALAXY", "QSO", "STAR", "UNKNOWN", "SKY"] * 44)
    split = ["train"] * 150 + ["valid"] * 70
    path = write_small_dataset(tmp_path / "d.fits", flux, weight, split, classes)
    keep = np.isin(classes, ["GALAXY", "QSO"])
    is_val = np.array(split) == "valid"
    Xt, Wt, Xval, Wval = read_training_data(path)
    assert np.array_equal(Xt, flux[keep & ~is_val]) and np.array_equal(Wval, weight[keep & is_val])
    Xt, _, Xval, _ = read_training_data(path, all_classes=True)
    assert np.array_equal(Xt, X) and np.array_equal(Xval, Xv)
    seen = []
    fake = lambda X, *a, **k: seen.append(len(X)) or []                  # record the training size
    monkeypatch.setattr("npvae.commands.search.search", fake)
    base = ["search", "--data", str(path), "--out", str(tmp_path / "s"), "--latent", "2", "--quiet"]
    main(base)
    main(base + ["--all-classes"])
    assert seen == [int((keep & ~is_val).sum()), 150]
    for extra, rows in (([], keep & ~is_val), (["--all-classes"], ~is_val)):
        out = tmp_path / f"t{len(extra)}"
        assert main(["train", "--data", str(path), "--out", str(out)] + TINY + extra) == 0
        mean = npvae.load(out / "model.npz").mean_                       # mean training spectrum
        np.testing.assert_allclose(mean, flux[rows].mean(axis=0, dtype=np.float64), rtol=1e-5)


@pytest.mark.parametrize("arrays, message", [
    ({"flux": np.ones((10, 4))}, "missing array.*weight"),
    ({"flux": np.ones((10, 4)), "weight": np.ones((10, 5))}, "same"),
    ({"flux": np.where(np.arange(40).reshape(10, 4) == 21, np.nan, 1.0), "weight": np.ones((10, 4))},
     "flux row 5 has non-finite"),
    ({"flux": np.ones((10, 4)), "weight": -np.ones((10, 4))}, "weight row 0"),
    ({"flux": np.ones((4, 4)), "weight": np.ones((4, 4)), "split": np.array(["train"] * 3 + ["test"])},
     "split row 3"),
])
def test_bad_data_file_is_a_one_line_error(tmp_path, capsys, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "o")] + TINY) == 1
    err = capsys.readouterr().err
    assert "bad.npz" in err and "Traceback" not in err
    with pytest.raises(npvae.utils.NpvaeError, match=message):
        read_training_data(path)


def test_search_command(tmp_path, npz_file, capsys):
    out = tmp_path / "s"
    args = ["search", "--data", str(npz_file), "--out", str(out), "--latent", "2", "--n-configs", "2",
            "--epochs", "1", "--batch-size", "32", "--workers", "0", "--quiet"]
    assert main(args) == 0
    assert (out / "best_model.npz").exists() and "best:" in capsys.readouterr().out


def test_search_command_with_halving(tmp_path, npz_file, capsys):
    out = tmp_path / "h"
    args = ["search", "--data", str(npz_file), "--out", str(out), "--latent", "2", "--n-configs", "3",
            "--epochs", "3", "--halving", "--min-epochs", "1", "--batch-size", "32", "--workers", "0", "--quiet"]
    assert main(args) == 0
    assert sorted(p.name for p in out.glob("rung_*.csv")) == ["rung_0.csv", "rung_1.csv"]   # 3 x 1 epoch, 1 x 3
    assert len(npvae.load(out / "best_model.npz").history_) == 3 and "best:" in capsys.readouterr().out


def test_ctrl_c_in_train_saves_and_tells_how_to_resume(tmp_path, npz_file, capsys, monkeypatch):
    import os
    import signal

    inner, calls = npvae.InfoVAE.loss_and_grads, []

    def step_then_ctrl_c(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return inner(self, *args, **kwargs)

    monkeypatch.setattr(npvae.InfoVAE, "loss_and_grads", step_then_ctrl_c)
    out = tmp_path / "run"
    assert main(["train", "--data", str(npz_file), "--out", str(out)] + TINY) == 130
    err = capsys.readouterr().err
    assert "checkpoint saved" in err and "--resume" in err and "Traceback" not in err
    assert (out / "checkpoint.npz").exists() and not (out / "model.npz").exists()
    monkeypatch.setattr(npvae.InfoVAE, "loss_and_grads", inner)
    assert main(["train", "--data", str(npz_file), "--out", str(out), "--resume"] + TINY) == 0
    assert len(npvae.load(out / "model.npz").history_) == 2


def test_train_noise_aware_flag_writes_a_noise_aware_model(tmp_path, npz_file):
    out = tmp_path / "run"
    assert main(["train", "--data", str(npz_file), "--out", str(out), "--noise-aware"] + TINY) == 0
    model = npvae.load(out / "model.npz")
    assert model.noise_aware and model.params["enc1.W"].shape == (2 * model.n_features, 16)
    assert main(["train", "--data", str(npz_file), "--out", str(tmp_path / "ae"), "--noise-aware",
                 "--model", "ae"] + TINY) == 1
    assert not (tmp_path / "ae").exists()
