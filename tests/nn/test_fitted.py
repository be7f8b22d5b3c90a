"""The engine model refuses to be used before fit or load, checks its sizes, and refuses NaN files."""
import numpy as np
import pytest

import npvae
from npvae.utils import NotFittedError, NpvaeError

D, HIDDEN, Z = 20, (8, 5), 2


@pytest.mark.parametrize("cls", [npvae.InfoVAE, npvae.Autoencoder])
@pytest.mark.parametrize("call", ["transform", "reconstruct", "encode", "decode", "save"])
def test_use_before_fit_or_load_raises_not_fitted(tmp_path, cls, call):
    model = cls(D, HIDDEN, Z)
    args = {"decode": np.zeros((3, Z)), "save": tmp_path / "m.npz"}.get(call, np.zeros((3, D)))
    with pytest.raises(NotFittedError, match="not fitted: call fit"):
        getattr(model, call)(args)
    assert not (tmp_path / "m.npz").exists()
    assert isinstance(NotFittedError("x"), NpvaeError) and isinstance(NotFittedError("x"), AttributeError)


def test_fit_and_load_make_a_model_usable(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    model = npvae.InfoVAE(40, (16, 8), 2, n_prior=50).fit(X, W, Xv, Wv, max_epochs=1, verbose=False)
    model.save(tmp_path / "m.npz")
    loaded = npvae.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.transform(Xv), model.transform(Xv))


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_latent=2.5), "n_latent must be an integer"),
    (dict(n_latent=0), "n_latent must be >= 1"),
    (dict(n_latent=True), "n_latent must be an integer"),
    (dict(hidden=(8, 0)), "hidden width must be >= 1"),
    (dict(hidden=(8.5,)), "hidden width must be an integer"),
    (dict(n_features="20"), "n_features must be an integer"),
    (dict(lam=-1.0), "lam must be a finite number >= 0"),
    (dict(lam=np.inf), "lam must be a finite number >= 0"),
    (dict(alpha=2.0), "alpha must be in"),
    (dict(n_prior=0), "n_prior must be >= 1"),
])
def test_constructor_refuses_non_integer_sizes_and_bad_weights(kwargs, message):
    args = dict(dict(n_features=D, hidden=HIDDEN, n_latent=Z), **kwargs)
    with pytest.raises(NpvaeError, match=message):
        npvae.InfoVAE(**args)


def test_numpy_integers_are_sizes():
    model = npvae.InfoVAE(np.int64(D), (np.int32(8),), np.int64(Z))
    assert model.n_latent == Z and type(model.n_latent) is int


def test_model_file_with_nan_weights_is_refused_at_load(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    model = npvae.Autoencoder(40, (16, 8), 2).fit(X, W, Xv, Wv, max_epochs=1, verbose=False)
    model.params["dec1.W"][1, 3] = np.nan
    model.save(tmp_path / "nan.npz")
    with pytest.raises(NpvaeError, match="nan.npz: 'dec1.W' has non-finite values"):
        npvae.load(tmp_path / "nan.npz")
