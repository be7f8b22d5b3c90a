"""LR reduction and early stopping trigger exactly when the recipe says, alone and inside fit."""
import numpy as np
import pytest

import npvae
import npvae.train.loop as training
from npvae.train.schedule import EarlyStopping, ReduceLROnPlateau


class _Opt:
    lr = 1e-3


def test_lr_reduced_at_fifth_epoch_without_improvement():
    opt = _Opt()
    sched = ReduceLROnPlateau(opt, factor=0.1, patience=5, threshold=1e-4)
    values = [10.0, 9.0] + [9.0 * (1 - 0.5e-4)] * 5 + [8.0] + [8.0] * 5
    lrs = []
    for v in values:
        sched.step(v)
        lrs.append(opt.lr)
    # epochs 3..7 are not improvements (relative gain 5e-5 < 1e-4): reduction at epoch 7
    assert lrs[:6] == [1e-3] * 6
    assert lrs[6] == pytest.approx(1e-4)
    # epoch 8 improves; epochs 9..13 do not: second reduction at epoch 13
    assert lrs[7:12] == [pytest.approx(1e-4)] * 5
    assert lrs[12] == pytest.approx(1e-5)
    assert sched.n_reductions == 2


def test_early_stopping_after_ten_epochs_without_relative_improvement():
    stop = EarlyStopping(patience=10, threshold=1e-3)
    values = [5.0] + [5.0 * (1 - 5e-4), 5.0 * (1 - 9e-4)] * 5      # gains below 1e-3 of the best
    decisions = [stop.step(v) for v in values]
    assert decisions == [False] * 10 + [True]
    assert stop.best == 5.0
    stop2 = EarlyStopping(patience=10, threshold=1e-3)
    assert not any(stop2.step(5.0 * 0.99 ** k) for k in range(30))     # 1% gains keep it going


def test_state_dict_round_trip_continues_identically():
    values = [3.0, 2.0, 2.5, 2.4, 2.2, 2.1, 2.05, 2.3, 2.2, 2.2, 2.2, 2.2, 2.2]
    opt_a, opt_b = _Opt(), _Opt()
    a = ReduceLROnPlateau(opt_a, patience=3)
    for v in values[:6]:
        a.step(v)
    b = ReduceLROnPlateau(opt_b, patience=3)
    b.load_state_dict(a.state_dict())
    opt_b.lr = opt_a.lr
    out_a = [a.step(v) for v in values[6:]]
    out_b = [b.step(v) for v in values[6:]]
    assert out_a == out_b and opt_a.lr == opt_b.lr and True in out_a


def test_fit_follows_a_stubbed_validation_sequence(monkeypatch, tiny_data):
    X, W, Xv, Wv = tiny_data
    # best at epoch 2, then flat: LR x0.1 at epoch 7 (5 bad), stop at epoch 12 (10 bad)
    script = iter([5.0, 4.0] + [4.5] * 20)
    monkeypatch.setattr(training, "evaluate",
                        lambda *a, **k: {"recon": 1.0, "kl": 0.0, "mmd": 0.0, "total": next(script)})
    model = npvae.InfoVAE(40, (16, 8), 2, lam=2.0, seed=3)
    snapshots = []
    model.fit(X, W, Xv, Wv, max_epochs=50, verbose=False,
              callback=lambda m, rec: snapshots.append(m.flat_params.copy()))
    lrs = [rec["lr"] for rec in model.history_]
    assert len(model.history_) == 12
    assert lrs[:7] == [1e-3] * 7 and lrs[7] == pytest.approx(1e-4)
    assert np.array_equal(model.flat_params, snapshots[1])            # best epoch's weights kept
    assert not np.array_equal(snapshots[1], snapshots[-1])
