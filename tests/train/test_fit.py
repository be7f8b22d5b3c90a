"""fit's contract: history fields, silence with verbose=False, summary line, input errors,
no validation set, and that the loop gathers the batches it was told (last partial batch)."""
import numpy as np
import pytest

import npvae
from npvae.utils import NpvaeError


def test_history_fields_and_silence(tiny_data, capsys):
    X, W, Xv, Wv = tiny_data
    model = npvae.InfoVAE(40, (16, 8), 2, seed=0, n_prior=40).fit(X, W, Xv, Wv, max_epochs=2, verbose=False)
    assert capsys.readouterr().err == ""
    rec = model.history_[-1]
    for key in ("train_recon", "train_kl", "train_mmd", "train_total", "val_recon", "val_kl",
                "val_mmd", "val_total", "lr", "seconds"):
        assert np.isfinite(rec[key])
    assert np.allclose(model.mean_, X.mean(axis=0), atol=1e-6)


def test_summary_line_when_verbose(tiny_data, capsys):
    X, W, Xv, Wv = tiny_data
    npvae.Autoencoder(40, (16, 8), 2, seed=0).fit(X, W, Xv, Wv, max_epochs=1, verbose=True)
    assert "best epoch 1" in capsys.readouterr().err


def test_every_spectrum_once_per_epoch_with_a_partial_last_batch(tiny_data):
    X, W, _, _ = tiny_data
    model = npvae.Autoencoder(40, (16, 8), 2, seed=0)
    inner, seen = model.loss_and_grads, []
    model.loss_and_grads = lambda x, w, *a, **k: seen.append(x.copy()) or inner(x, w, *a, **k)
    model.fit(X, W, max_epochs=2, batch_size=32, verbose=False)
    sizes = [len(b) for b in seen]
    assert sizes == [32, 32, 32, 32, 22] * 2
    first, second = np.vstack(seen[:5]), np.vstack(seen[5:])
    key = lambda a: a[np.lexsort(a.T[::-1])]
    assert np.array_equal(key(first), key(X)) and np.array_equal(key(second), key(X))
    assert not np.array_equal(first, second)                         # reshuffled


def test_without_validation_the_training_objective_drives_the_schedule(tiny_data):
    X, W, _, _ = tiny_data
    model = npvae.InfoVAE(40, (16, 8), 2, seed=0, n_prior=40)
    model.fit(X, None, max_epochs=4, lr=1e-6, lr_patience=1, lr_threshold=0.5, verbose=False)
    # epoch 1 sets the best; epochs 2 and 3 gain less than 50%: 2 > patience, cut after epoch 3
    assert [rec["lr"] for rec in model.history_] == pytest.approx([1e-6, 1e-6, 1e-6, 1e-7])
    assert "val_total" not in model.history_[0]


def test_bad_inputs(tiny_data):
    X, W, Xv, Wv = tiny_data
    model = npvae.InfoVAE(40, (16, 8), 2, seed=0)
    with pytest.raises(NpvaeError, match=r"X must be \(N, 40\)"):
        model.fit(X[:, :30], verbose=False)
    with pytest.raises(NpvaeError, match="weights"):
        model.fit(X, W[:10], verbose=False)
    with pytest.raises(NpvaeError, match="batch_size"):
        model.fit(X, W, batch_size=0, verbose=False)
