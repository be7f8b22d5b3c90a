"""Kill-and-resume gives bit-identical weights; Ctrl-C saves a checkpoint and says how to resume."""
import os
import signal

import numpy as np
import pytest

import npvae
from npvae.train.loop import TrainingInterrupted

MODELS = {
    "vae": lambda: npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50),
    "ae": lambda: npvae.Autoencoder(40, (16, 8), 2, seed=11),
    # trained on degraded minibatches: their noise comes from the same generator (npvae.train.degrade)
    "noise-aware": lambda: npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50, noise_aware=True),
}
OPTIONS = dict(batch_size=32, max_epochs=6, lr=3e-3, verbose=False)   # 150 = 4 x 32 + 22


def _uninterrupted(kind, data):
    X, W, Xv, Wv = data
    return MODELS[kind]().fit(X, W, Xv, Wv, **OPTIONS)


def _assert_same_run(a, b):
    assert np.array_equal(a.flat_params, b.flat_params)
    assert np.array_equal(a.mean_, b.mean_)
    strip = lambda h: [{k: v for k, v in rec.items() if k != "seconds"} for rec in h]
    assert strip(a.history_) == strip(b.history_)


def test_stop_at_epoch_boundary_then_resume_is_bit_identical(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "run.ckpt.npz"
    reference = _uninterrupted("vae", tiny_data)

    def stop_after_third(model, record):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="resume"):
        MODELS["vae"]().fit(X, W, Xv, Wv, checkpoint=path, callback=stop_after_third, **OPTIONS)
    assert path.exists()
    resumed = MODELS["vae"]().fit(X, W, Xv, Wv, checkpoint=path, resume=True, **OPTIONS)
    _assert_same_run(reference, resumed)
    assert len(resumed.history_) == OPTIONS["max_epochs"]


@pytest.mark.parametrize("kind", ["vae", "ae", "noise-aware"])
def test_sigint_mid_epoch_saves_and_resumes_bit_identically(tmp_path, tiny_data, kind):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "run.ckpt.npz"
    reference = _uninterrupted(kind, tiny_data)
    model = MODELS[kind]()
    inner, calls = model.loss_and_grads, []

    def step_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 11:                       # epoch 3, second step
            os.kill(os.getpid(), signal.SIGINT)
        return inner(*args, **kwargs)

    model.loss_and_grads = step_then_ctrl_c
    with pytest.raises(TrainingInterrupted) as info:
        model.fit(X, W, Xv, Wv, checkpoint=path, **OPTIONS)
    assert info.value.checkpoint == path
    assert len(calls) < 6 * 5                      # it stopped early, after the current step
    resumed = MODELS[kind]().fit(X, W, Xv, Wv, checkpoint=path, resume=True, **OPTIONS)
    _assert_same_run(reference, resumed)
    assert not np.array_equal(reference.flat_params, model.flat_params)


def test_resume_of_a_finished_run_keeps_the_best_weights(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    path = tmp_path / "run.ckpt.npz"
    first = MODELS["vae"]().fit(X, W, Xv, Wv, checkpoint=path, **OPTIONS)
    again = MODELS["vae"]().fit(X, W, Xv, Wv, checkpoint=path, resume=True, **OPTIONS)
    _assert_same_run(first, again)


def test_same_seed_same_numbers_other_seed_other_numbers(tiny_data):
    X, W, Xv, Wv = tiny_data
    a, b = _uninterrupted("vae", tiny_data), _uninterrupted("vae", tiny_data)
    c = npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=12, n_prior=50).fit(X, W, Xv, Wv, **OPTIONS)
    assert np.array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, c.flat_params)
