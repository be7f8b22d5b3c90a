"""A corrupt or mismatched checkpoint gives an NpvaeError naming the file and the problem."""
import numpy as np
import pytest

import npvae
from npvae.utils import NpvaeError

OPTIONS = dict(batch_size=32, max_epochs=2, verbose=False)


@pytest.fixture
def saved(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "good.ckpt.npz"
    npvae.InfoVAE(40, (16, 8), 2, seed=0, n_prior=50).fit(X, W, Xv, Wv, checkpoint=path, **OPTIONS)
    return path


def _resume(model, path, data, **kw):
    X, W, Xv, Wv = data
    return model.fit(X, W, Xv, Wv, checkpoint=path, resume=True, **dict(OPTIONS, **kw))


def _vae():
    return npvae.InfoVAE(40, (16, 8), 2, seed=0, n_prior=50)


def test_truncated_checkpoint(saved, tiny_data):
    raw = saved.read_bytes()
    saved.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NpvaeError, match=rf"{saved.name}.*(truncated|corrupt)"):
        _resume(_vae(), saved, tiny_data)


def test_garbage_file(tmp_path, tiny_data):
    path = tmp_path / "junk.npz"
    path.write_bytes(b"this is not a zip file at all" * 10)
    with pytest.raises(NpvaeError, match="junk.npz"):
        _resume(_vae(), path, tiny_data)


def test_model_file_is_not_a_checkpoint(tmp_path, tiny_data):
    path = tmp_path / "model.npz"
    model = _vae()
    model.is_fitted = True
    model.save(path)
    with pytest.raises(NpvaeError, match="model.npz.*not an npvae checkpoint"):
        _resume(_vae(), path, tiny_data)


def test_other_architecture(saved, tiny_data):
    other = npvae.InfoVAE(40, (20, 8), 2, seed=0, n_prior=50)
    with pytest.raises(NpvaeError, match=r"good.ckpt.npz.*configuration"):
        _resume(other, saved, tiny_data)


def test_other_model_class(saved, tiny_data):
    with pytest.raises(NpvaeError, match=r"good.ckpt.npz.*InfoVAE.*Autoencoder"):
        _resume(npvae.Autoencoder(40, (16, 8), 2, seed=0), saved, tiny_data)


def test_other_data_and_batch_size(saved, tiny_data):
    X, W, Xv, Wv = tiny_data
    with pytest.raises(NpvaeError, match="other data"):
        _resume(_vae(), saved, (X[::-1], W, Xv, Wv))
    with pytest.raises(NpvaeError, match="batch_size"):
        _resume(_vae(), saved, tiny_data, batch_size=16)


def test_missing_checkpoint_and_missing_path(tmp_path, tiny_data):
    with pytest.raises(NpvaeError, match="nothere.npz.*not found"):
        _resume(_vae(), tmp_path / "nothere.npz", tiny_data)
    X, W, Xv, Wv = tiny_data
    with pytest.raises(NpvaeError, match="checkpoint=PATH"):
        _vae().fit(X, W, Xv, Wv, resume=True, **OPTIONS)


def test_checkpoint_written_atomically_leaves_no_temporaries(saved):
    assert sorted(p.name for p in saved.parent.iterdir()) == ["good.ckpt.npz"]
    with np.load(saved) as data:
        assert "__meta__" in data.files and data["flat"].dtype == np.float32
