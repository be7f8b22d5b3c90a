"""Successive halving: rung sizes and promotions, the best of each rung go on, resume after an
interruption, and a configuration continued across rungs equal to one trained straight through."""
import csv
import importlib

import numpy as np
import pytest

import npvae
from npvae.train import make_model, search_halving
from npvae.train.halving import rung_plan
from npvae.utils import NpvaeError

search_module = importlib.import_module("npvae.train.search")
loop_module = importlib.import_module("npvae.train.loop")

# 10 configurations, eta 3, rungs at 1, 3 and 9 epochs
OPTIONS = dict(n_latent=2, n_configs=10, seed=2, eta=3, min_epochs=1, max_epochs=9, batch_size=32,
               n_workers=0, verbose=False)


def _rung(path, k):
    with open(path / f"rung_{k}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _counting(monkeypatch):
    """Record (config id, max_epochs) of every training call."""
    calls = []
    real = search_module._run_config
    monkeypatch.setattr(search_module, "_run_config",
                        lambda cfg, opt: calls.append((cfg["id"], opt["max_epochs"])) or real(cfg, opt))
    return calls


def test_rung_plan_counts_by_hand():
    # 27 configurations for up to 30 epochs: 27 for 1 epoch, 9 for 3, 3 for 9, 1 for 30
    assert rung_plan(27, 30) == ([1, 3, 9, 30], [27, 9, 3, 1])
    # 10 configurations, eta 3, first rung 1 epoch, up to 9: 10 -> 3 -> 1
    assert rung_plan(10, 9, 3, 1) == ([1, 3, 9], [10, 3, 1])
    # eta 2, 5 configurations, 2 to 10 epochs: 2, 4, 8 fit (8 * 2 > 10 stops), then 10; 5 -> 2 -> 1 -> 1
    assert rung_plan(5, 10, 2, 2) == ([2, 4, 10], [5, 2, 1])
    with pytest.raises(NpvaeError, match="eta"):
        rung_plan(5, 10, 1)
    with pytest.raises(NpvaeError, match="min_epochs"):
        rung_plan(5, 10, 3, 11)


def test_rungs_train_the_right_configurations_for_the_right_epochs(tmp_path, tiny_data, monkeypatch):
    calls = _counting(monkeypatch)
    epochs = []
    real_epoch = loop_module._train_epoch
    monkeypatch.setattr(loop_module, "_train_epoch", lambda run, opt: epochs.append(1) or real_epoch(run, opt))
    X, W, Xv, Wv = tiny_data
    rows = search_halving(X, W, Xv, Wv, out_dir=tmp_path, **OPTIONS)
    assert len(calls) == 10 + 3 + 1
    # the cost: 10 configurations x 1 epoch, 3 continued from 1 to 3, 1 continued from 3 to 9
    assert len(epochs) == 10 * 1 + 3 * 2 + 1 * 6
    assert [e for _, e in calls] == [1] * 10 + [3] * 3 + [9]
    for k, size in enumerate([10, 3, 1]):
        assert len(_rung(tmp_path, k)) == size
    # the best 3 of rung 0 by validation reconstruction loss are rung 1; the best of rung 1 is rung 2
    for k, keep in [(0, 3), (1, 1)]:
        previous = sorted(_rung(tmp_path, k), key=lambda r: float(r["val_recon"]))
        assert {r["id"] for r in previous[:keep]} == {r["id"] for r in _rung(tmp_path, k + 1)}
    # a configuration trained to 9 epochs has the history of 9 epochs (or stopped early)
    assert rows[0]["epochs"] == 9 and [int(r["epochs"]) for r in _rung(tmp_path, 0)] == [1] * 10
    assert len(rows) == 10 and len({r["id"] for r in rows}) == 10
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [f"config_{rows[0]['id']:03d}.npz"]
    assert not list((tmp_path / "checkpoints").iterdir())


def test_continued_configuration_equals_one_trained_straight(tmp_path, tiny_data):
    """Rungs at 1, 3, 9, 27 epochs: the winner's learning rate drops and it stops early on the
    way, so the schedule and early stopping must carry across rungs for the two to agree."""
    X, W, Xv, Wv = tiny_data
    rows = search_halving(X, W, Xv, Wv, out_dir=tmp_path, **dict(OPTIONS, max_epochs=27))
    best = rows[0]
    straight = make_model("vae", 2, n_features=X.shape[1], hidden=(best["h1"], best["h2"]), lam=best["lam"],
                          seed=best["seed"])
    straight.fit(X, W, Xv, Wv, batch_size=32, max_epochs=27, verbose=False)
    assert len({r["lr"] for r in straight.history_}) > 1 and 9 < len(straight.history_) < 27
    halved = npvae.load(tmp_path / "best_model.npz")
    np.testing.assert_array_equal(halved.flat_params, straight.flat_params)
    untimed = [[{k: v for k, v in r.items() if k != "seconds"} for r in m.history_] for m in (halved, straight)]
    assert untimed[0] == untimed[1]


def test_resume_after_interruption_gives_the_same_ranking(tmp_path, tiny_data, monkeypatch):
    X, W, Xv, Wv = tiny_data
    whole = search_halving(X, W, Xv, Wv, out_dir=tmp_path / "whole", **OPTIONS)
    real = search_module._run_config
    calls, interrupted = [], []

    def interrupt_in_rung_1(cfg, opt):
        calls.append(cfg["id"])
        if len(calls) == 12 and not interrupted:  # rung 0 (10) and one of rung 1 done
            interrupted.append(True)
            raise KeyboardInterrupt
        return real(cfg, opt)

    monkeypatch.setattr(search_module, "_run_config", interrupt_in_rung_1)
    with pytest.raises(KeyboardInterrupt):
        search_halving(X, W, Xv, Wv, out_dir=tmp_path / "cut", **OPTIONS)
    assert len(_rung(tmp_path / "cut", 1)) == 1
    calls.clear()
    again = search_halving(X, W, Xv, Wv, out_dir=tmp_path / "cut", **OPTIONS)
    assert len(calls) == 2 + 1                    # the rest of rung 1 and rung 2, nothing of rung 0
    assert [r["id"] for r in again] == [r["id"] for r in whole]
    assert [r["val_recon"] for r in again] == pytest.approx([r["val_recon"] for r in whole], rel=1e-12)
    with pytest.raises(NpvaeError, match="other settings.*rung_epochs"):
        search_halving(X, W, Xv, Wv, out_dir=tmp_path / "cut", **dict(OPTIONS, min_epochs=2))
