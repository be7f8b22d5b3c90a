"""A non-finite loss or gradient stops training at once; the model keeps its best finite epoch.

The bad step is planted by wrapping ``loss_and_grads`` (a NaN in one gradient entry, an
infinite loss term) or comes from real blow-ups (a huge learning rate, a pixel of 1e30).
"""
import json

import numpy as np
import pytest

import npvae
from npvae.train import TrainingDiverged
from npvae.utils import NotFittedError, NpvaeError
from _poison import poisoned

OPTIONS = dict(batch_size=32, max_epochs=4, lr=3e-3, verbose=False)     # 150 rows = 5 steps per epoch


def _vae():
    return npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50)


def _poison(model, at_call, gradient=False, term="kl", value=np.nan):
    """Make call number ``at_call`` of loss_and_grads plant a bad gradient entry (``value``, in the
    first layer's weights) or return an infinite term."""
    if gradient:
        model.loss_and_grads = poisoned(model.loss_and_grads, at_call, "enc1.W", (3, 2), value)
        return
    inner, calls = model.loss_and_grads, []

    def wrapped(*args, **kwargs):
        calls.append(1)
        terms, grads = inner(*args, **kwargs)
        if len(calls) == at_call:
            terms = dict(terms, **{term: np.inf, "total": np.inf})
        return terms, grads

    model.loss_and_grads = wrapped


def test_nan_gradient_stops_the_run_at_that_step_and_keeps_the_best_epoch(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "ckpt.npz"
    model = _vae()
    _poison(model, at_call=7, gradient=True)                     # epoch 2, step 2
    with pytest.raises(TrainingDiverged, match="epoch 2, step 2: gradient") as info:
        model.fit(X, W, Xv, Wv, checkpoint=path, **OPTIONS)
    assert (info.value.epoch, info.value.step, info.value.best_epoch) == (2, 2, 1)
    assert "learning rate" in str(info.value) and "\n" not in str(info.value)
    with np.load(path) as ckpt:                                  # the end of epoch 1, untouched
        meta = json.loads(str(ckpt["__meta__"]))
        assert meta["epoch"] == 1 and meta["pos"] == 0
        np.testing.assert_array_equal(model.flat_params, ckpt["best_flat"])
    assert np.isfinite(model.flat_params).all() and model.is_fitted and len(model.history_) == 1
    reference = _vae().fit(X, W, Xv, Wv, **dict(OPTIONS, max_epochs=1))
    np.testing.assert_array_equal(model.flat_params, reference.flat_params)


def test_finite_gradient_too_large_for_adams_second_moment_is_caught(tiny_data):
    X, W, Xv, Wv = tiny_data
    model = _vae()                                               # float32: (1e22)^2 overflows
    _poison(model, at_call=2, gradient=True, value=1e22)
    with pytest.raises(TrainingDiverged, match="epoch 1, step 2: gradient is inf"):
        model.fit(X, W, Xv, Wv, **OPTIONS)
    assert np.isfinite(model.flat_params).all() and not model.is_fitted


def test_infinite_loss_term_in_the_first_epoch_leaves_the_model_unfitted(tiny_data):
    X, W, Xv, Wv = tiny_data
    model = _vae()
    _poison(model, at_call=3, term="mmd")
    with pytest.raises(TrainingDiverged, match="epoch 1, step 3: mmd is inf") as info:
        model.fit(X, W, Xv, Wv, **OPTIONS)
    assert info.value.best_epoch == 0 and not model.is_fitted
    with pytest.raises(NotFittedError):
        model.transform(Xv)


@pytest.mark.parametrize("where", ["learning rate", "pixel"])
def test_real_blow_ups_are_caught(tiny_data, where):
    X, W, Xv, Wv = tiny_data
    lr = 10.0 if where == "learning rate" else 1e-3
    X = X.copy()
    if where == "pixel":
        X[17, 5] = 1e30
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="epoch 1") as info:
        _vae().fit(X, W, Xv, Wv, **dict(OPTIONS, lr=lr))
    assert ("pixel of 1e+30" in str(info.value)) == (where == "pixel")


def test_non_finite_validation_objective_stops_the_run(tiny_data):
    X, W, Xv, Wv = tiny_data
    Wv = Wv.copy()
    Wv[4, :] = 3e38                                               # finite, but the sum overflows
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged, match="validation"):
        _vae().fit(X, W, Xv, Wv.astype(np.float32), **OPTIONS)


@pytest.mark.parametrize("change, message", [
    (lambda X, W: (X[:0], W[:0]), "no rows"),
    (lambda X, W: (np.where(np.arange(X.size).reshape(X.shape) == 45, np.nan, X), W), "X row 1 has non-finite"),
    (lambda X, W: (X, np.where(np.arange(W.size).reshape(W.shape) == 85, np.inf, W)), "weights row 2 has non-finite"),
    (lambda X, W: (X, -W), "weights row 0 has negative"),
    (lambda X, W: (X, np.zeros_like(W)), "all zero"),
    (lambda X, W: (X, W[:-1]), "weights has shape"),
])
def test_fit_validates_its_input_like_scikit_learn(tiny_data, change, message):
    X, W, Xv, Wv = tiny_data
    Xb, Wb = change(X, W)
    with pytest.raises(NpvaeError, match=message):
        _vae().fit(Xb, Wb, Xv, Wv, **OPTIONS)


def test_fit_refuses_a_non_integer_batch_size_and_a_bad_learning_rate(tiny_data):
    X, W, Xv, Wv = tiny_data
    for bad in (dict(batch_size=2.5), dict(lr=0.0), dict(lr=np.nan)):
        with pytest.raises(NpvaeError, match="batch_size|lr"):
            _vae().fit(X, W, Xv, Wv, **dict(OPTIONS, **bad))


def test_search_records_a_diverged_configuration_and_carries_on(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    with np.errstate(all="ignore"):
        rows = npvae.search(X, W, Xv, Wv, n_latent=2, out_dir=tmp_path, n_configs=2, n_workers=0,
                            max_epochs=2, batch_size=32, lr=10.0, verbose=False)
    assert len(rows) == 2 and all(np.isnan(r["val_recon"]) and r["model"] == "" for r in rows)
    assert not (tmp_path / "best_model.npz").exists()


def test_a_batch_larger_than_the_data_set_allocates_one_data_set_worth(tiny_data):
    X, W, Xv, Wv = tiny_data
    huge = _vae().fit(X, W, Xv, Wv, **dict(OPTIONS, batch_size=10**8))      # 10^8 x 40 would be 16 GB
    whole = _vae().fit(X, W, Xv, Wv, **dict(OPTIONS, batch_size=len(X)))
    np.testing.assert_array_equal(huge.flat_params, whole.flat_params)
