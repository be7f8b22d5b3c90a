"""Tests of npvae.nn.model_file: save/load round trips, atomic writing, and unreadable files.

A round trip must give identical outputs for both model classes and both dtypes; a failed
write must leave the old file untouched and no temporary behind; a corrupt, truncated or
incomplete file must raise NpvaeError naming the file. Shapes: N spectra, D pixels, Z latent.
"""
import json

import numpy as np
import pytest

import npvae
from npvae.utils import NpvaeError

D, HIDDEN, Z = 30, (12, 7), 3


def _model(cls, dtype, seed=0):
    kw = {"lam": 2.5, "alpha": 0.1, "n_prior": 10} if cls is npvae.InfoVAE else {}
    model = cls(D, HIDDEN, Z, activation="leaky_relu", dtype=dtype, seed=seed, **kw)
    model.mean_[...] = np.random.default_rng(seed + 100).standard_normal(D)
    model.history_ = [{"epoch": 0, "loss": 1.5}]
    model.is_fitted = True                          # random weights saved as if trained
    return model


@pytest.mark.parametrize("cls", [npvae.InfoVAE, npvae.Autoencoder])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, cls, dtype):
    model = _model(cls, dtype, seed=1)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = npvae.load(path)
    assert type(loaded) is cls
    assert loaded.config() == model.config()
    assert loaded.dtype == dtype and loaded.history_ == model.history_
    assert list(loaded.params) == list(model.params)
    for k in model.params:
        np.testing.assert_array_equal(loaded.params[k], model.params[k], err_msg=k)
    np.testing.assert_array_equal(loaded.mean_, model.mean_)
    X = np.random.default_rng(2).standard_normal((7, D))
    for a, b in zip(model.encode(X), loaded.encode(X)):
        np.testing.assert_array_equal(a, b)
    C = np.random.default_rng(3).standard_normal((5, Z))
    np.testing.assert_array_equal(loaded.decode(C), model.decode(C))
    np.testing.assert_array_equal(loaded.reconstruct(X), model.reconstruct(X))


def test_saved_file_is_plain_npz_with_params_names_and_json_meta(tmp_path):
    model = _model(npvae.InfoVAE, np.float64)
    path = tmp_path / "m.npz"
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == set(model.params) | {"mean", "__meta__"}
        meta = json.loads(str(data["__meta__"]))
    assert meta["class"] == "InfoVAE" and meta["config"]["lam"] == 2.5
    assert meta["npvae_version"] == npvae.__version__


def test_failed_write_leaves_old_file_untouched_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    _model(npvae.InfoVAE, np.float64, seed=4).save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        _model(npvae.InfoVAE, np.float64, seed=5).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_failed_first_write_leaves_no_file(tmp_path, monkeypatch):
    def half_then_fail(fh, **arrays):
        fh.write(b"PK\x03\x04 partial")
        raise OSError("interrupted")

    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(OSError):
        _model(npvae.Autoencoder, np.float32).save(tmp_path / "new.npz")
    assert list(tmp_path.iterdir()) == []


def _saved(tmp_path, name="model.npz"):
    path = tmp_path / name
    _model(npvae.InfoVAE, np.float64).save(path)
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "flipped"])
def test_corrupt_or_truncated_file_raises_npvae_error_naming_it(tmp_path, damage):
    path = _saved(tmp_path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"this is not a model" * 20)
    elif damage == "empty":
        path.write_bytes(b"")
    else:                                       # flip bytes inside the stored arrays
        mid = bytearray(data)
        for i in range(len(mid) // 3, len(mid) // 3 + 64):
            mid[i] ^= 0xFF
        path.write_bytes(bytes(mid))
    with pytest.raises(NpvaeError, match="model.npz"):
        npvae.load(path)


def test_missing_file_raises_npvae_error_naming_it(tmp_path):
    with pytest.raises(NpvaeError, match="nothere.npz"):
        npvae.load(tmp_path / "nothere.npz")


def _rewrite(path, drop=(), replace=None):
    """Rewrite an npz without some entries (and with some replaced)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k not in drop}
    arrays.update(replace or {})
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


@pytest.mark.parametrize("key", ["enc1.W", "logvar.b", "out.W"])
def test_file_missing_a_parameter_raises_npvae_error_naming_file_and_key(tmp_path, key):
    path = _saved(tmp_path)
    _rewrite(path, drop=[key])
    with pytest.raises(NpvaeError, match=f"model.npz.*{key}"):
        npvae.load(path)


def test_parameter_of_wrong_shape_raises_npvae_error(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, replace={"mu.W": np.zeros((Z, 7))})
    with pytest.raises(NpvaeError, match="model.npz.*mu.W"):
        npvae.load(path)


def test_file_without_metadata_raises_npvae_error(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, drop=["__meta__"])
    with pytest.raises(NpvaeError, match="model.npz"):
        npvae.load(path)


def test_file_missing_the_mean_spectrum_raises_npvae_error(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, drop=["mean"])
    with pytest.raises(NpvaeError, match="model.npz.*mean"):
        npvae.load(path)


def test_corrupt_metadata_raises_npvae_error_naming_file(tmp_path):
    path = _saved(tmp_path)
    _rewrite(path, replace={"__meta__": np.array("{not json")})
    with pytest.raises(NpvaeError, match="model.npz"):
        npvae.load(path)


def test_atomic_write_gives_files_the_usual_permissions(tmp_path):
    import os

    from npvae.utils import atomic_write

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
