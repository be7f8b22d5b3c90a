"""Streaming training: ``fit`` on lazy rows of a sharded dataset is the in-memory run, bit for bit.

The anchor is the in-memory path itself: the same rows as ordinary arrays, the same seed. Lazy
rows (``ShardedArray``) are never read whole: a guarded subclass refuses ``np.asarray`` and any
read of more rows than a batch, a chunk or an encoding piece.
"""
import os
import signal

import numpy as np
import pytest

import npvae
from npvae.cli import main
from npvae.data import load_dataset
from npvae.data.shards import READ_ROWS, ShardedArray, column_mean
from npvae.nn.model import ENCODE_CHUNK
from npvae.train.loop import TrainingInterrupted

OPTIONS = dict(batch_size=32, max_epochs=3, lr=3e-3, verbose=False)
MODELS = {
    "vae32": lambda d: npvae.InfoVAE(d, (16, 8), 2, lam=3.0, seed=11, n_prior=50),
    "vae64": lambda d: npvae.InfoVAE(d, (16, 8), 2, lam=3.0, seed=11, n_prior=50, dtype=np.float64),
    "ae32": lambda d: npvae.Autoencoder(d, (16, 8), 2, seed=11),
}


@pytest.fixture(scope="module")
def lazy_data(tmp_path_factory):
    """Training and validation flux and weight of a 200-spectrum, 3-shard synthetic dataset, lazy."""
    folder = tmp_path_factory.mktemp("streaming") / "shards"
    assert main(["synth", "--n", "200", "--shard-size", "70", "--out", str(folder), "--scheduler", "none",
                 "--seed", "3", "--quiet"]) == 0
    ds = load_dataset(folder)
    assert isinstance(ds.flux, ShardedArray) and len(ds.flux.parts) == 3
    train, valid = ds.split == "train", ds.split == "valid"
    return ds.flux.select(train), ds.weight.select(train), ds.flux.select(valid), ds.weight.select(valid)


def _in_memory(arrays):
    return [np.asarray(a) for a in arrays]


def _assert_same_run(a, b):
    assert np.array_equal(a.flat_params, b.flat_params)
    assert np.array_equal(a.mean_, b.mean_)
    assert np.array_equal(a.train_latents_, b.train_latents_)
    strip = lambda h: [{k: v for k, v in rec.items() if k != "seconds"} for rec in h]
    assert strip(a.history_) == strip(b.history_) and len(a.history_) == OPTIONS["max_epochs"]


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_fit_on_shards_is_fit_in_memory(lazy_data, kind):
    width = lazy_data[0].shape[1]
    streamed = MODELS[kind](width).fit(*lazy_data, **OPTIONS)
    in_memory = MODELS[kind](width).fit(*_in_memory(lazy_data), **OPTIONS)
    _assert_same_run(streamed, in_memory)
    assert not np.array_equal(streamed.flat_params, MODELS[kind](width).flat_params)   # it trained


@pytest.mark.parametrize("stop", ["after epoch 2", "mid-epoch Ctrl-C"])
@pytest.mark.parametrize("resume_from", ["shards", "memory"])
def test_interrupted_streaming_run_resumes_bit_identically(tmp_path, lazy_data, stop, resume_from):
    width, path = lazy_data[0].shape[1], tmp_path / "run.ckpt.npz"
    reference = MODELS["vae64"](width).fit(*_in_memory(lazy_data), **OPTIONS)
    model, calls = MODELS["vae64"](width), []
    inner = model.loss_and_grads

    def step_then_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 7:                        # epoch 2 (5 steps an epoch), second step
            os.kill(os.getpid(), signal.SIGINT)
        return inner(*args, **kwargs)

    def stop_after_second(model, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    if stop == "mid-epoch Ctrl-C":
        model.loss_and_grads = step_then_ctrl_c
    callback = stop_after_second if stop == "after epoch 2" else None
    with pytest.raises(TrainingInterrupted):
        model.fit(*lazy_data, checkpoint=path, callback=callback, **OPTIONS)
    data = lazy_data if resume_from == "shards" else _in_memory(lazy_data)
    resumed = MODELS["vae64"](width).fit(*data, checkpoint=path, resume=True, **OPTIONS)
    _assert_same_run(reference, resumed)


class _Guarded(ShardedArray):
    """Lazy rows that fail if read whole, or more than ``limit`` rows at once."""

    limit = 0
    largest = 0            # the most rows read at once, over all instances

    def __array__(self, dtype=None, copy=None):
        raise AssertionError("the whole array was read into memory")

    def _take(self, idx):
        assert len(idx) <= self.limit, f"{len(idx)} rows read at once, more than {self.limit}"
        _Guarded.largest = max(_Guarded.largest, len(idx))
        return super()._take(idx)


def test_streaming_fit_never_holds_the_data_whole():
    rng = np.random.default_rng(5)
    n_train, n_val, width, batch = 5000, 1100, 32, 100
    X = rng.normal(size=(n_train + n_val, width)).astype(np.float32)     # (N, D)
    W = rng.uniform(0.5, 2.0, size=X.shape).astype(np.float32)         # (N, D)
    shards = lambda A, cuts: _Guarded([A[a:b] for a, b in zip(cuts[:-1], cuts[1:])])
    train, valid = [0, 1700, 3400, n_train], [n_train, n_train + n_val]   # 3 training shards, 1 validation
    lazy = [shards(X, train), shards(W, train), shards(X, valid), shards(W, valid)]
    _Guarded.limit = max(batch, READ_ROWS, ENCODE_CHUNK)                # batch, chunk, encoding piece
    assert _Guarded.limit < n_train
    options = dict(OPTIONS, batch_size=batch, max_epochs=2)
    streamed = MODELS["vae32"](width).fit(*lazy, **options)
    assert _Guarded.largest > batch                                     # the chunked passes were guarded too
    in_memory = MODELS["vae32"](width).fit(X[:n_train], W[:n_train], X[n_train:], W[n_train:], **options)
    assert np.array_equal(streamed.flat_params, in_memory.flat_params)
    assert np.array_equal(streamed.mean_, in_memory.mean_)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chunked_column_mean_is_numpy_mean_bit_for_bit(dtype):
    rng = np.random.default_rng(6)
    scale = 10.0 ** rng.integers(-6, 7, size=(2500, 1))                 # rows of very different size
    X = (rng.normal(size=(2500, 17)) * scale).astype(dtype)             # (N, M)
    expected = X.mean(axis=0, dtype=np.float64)                         # (M,)
    for chunk in (1, 7, 1000, READ_ROWS, 5000):
        np.testing.assert_array_equal(column_mean(X, chunk=chunk), expected, err_msg=f"chunk {chunk}")
    lazy = ShardedArray([X[:1200], X[1200:1300], X[1300:]])
    np.testing.assert_array_equal(column_mean(lazy), expected)
    naive = sum(X[s:s + 1000].sum(axis=0, dtype=np.float64) for s in range(0, 2500, 1000)) / 2500
    assert not np.array_equal(naive, expected)         # summing chunk totals would not be the same
