"""LR reduction and early stopping trigger exactly when the recipe says, alone and inside fit."""
import numpy as np
import pytest

import npvae
import npvae.train.loop as training
from npvae.train.schedule import EarlyStopping, ReduceLROnPlateau


class _Opt:
    lr = 1e-3


class _TorchReduceLROnPlateau:
    """PyTorch's ReduceLROnPlateau (mode "min", threshold_mode "rel", cooldown 0), transcribed.

    Written from the rules in PyTorch's documentation and ``torch/optim/lr_scheduler.py``
    (torch is not a dependency), kept independent of npvae's code:
    ``is_better(a, best) = a < best * (1 - threshold)``; ``best`` starts at +inf; a bad epoch
    increments ``num_bad_epochs``, a better one resets it; when ``num_bad_epochs > patience``,
    ``new_lr = max(old_lr * factor, min_lr)`` is set only if ``old_lr - new_lr > eps``, and
    ``num_bad_epochs`` goes back to 0 (cooldown 0 adds nothing).
    """

    def __init__(self, lr, factor=0.1, patience=5, threshold=1e-4, min_lr=0.0, eps=1e-8):
        self.lr, self.factor, self.patience = lr, factor, patience
        self.threshold, self.min_lr, self.eps = threshold, min_lr, eps
        self.best, self.num_bad_epochs = float("inf"), 0
        self.cooldown, self.cooldown_counter = 0, 0

    def step(self, metrics):
        current = float(metrics)
        if current < self.best * (1.0 - self.threshold):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            old_lr = self.lr
            new_lr = max(old_lr * self.factor, self.min_lr)
            if old_lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0


def _lrs(values, **settings):
    """Learning rates after each step of npvae's schedule and of the PyTorch transcription."""
    opt = _Opt()
    ours = ReduceLROnPlateau(opt, **settings)
    ref = _TorchReduceLROnPlateau(opt.lr, **settings)
    got, want = [], []
    for v in values:
        ours.step(v)
        ref.step(v)
        got.append(opt.lr)
        want.append(ref.lr)
    return got, want


def test_lr_reduced_at_sixth_epoch_without_improvement_as_pytorch():
    opt = _Opt()
    sched = ReduceLROnPlateau(opt, factor=0.1, patience=5, threshold=1e-4)
    values = [10.0, 9.0] + [9.0 * (1 - 0.5e-4)] * 6 + [8.0] + [8.0] * 6
    lrs = []
    for v in values:
        sched.step(v)
        lrs.append(opt.lr)
    # epochs 3..8 are not improvements (relative gain 5e-5 < 1e-4): 6 > patience at epoch 8
    assert lrs[:7] == [1e-3] * 7
    assert lrs[7] == pytest.approx(1e-4)
    # epoch 9 improves; epochs 10..15 do not: second reduction at epoch 15
    assert lrs[8:14] == [pytest.approx(1e-4)] * 6
    assert lrs[14] == pytest.approx(1e-5)
    assert sched.n_reductions == 2
    assert _lrs(values) == (lrs, lrs)


def test_lr_schedule_matches_pytorch_on_random_sequences():
    rng = np.random.default_rng(11)
    for trial in range(200):
        n = int(rng.integers(5, 80))
        # positive objectives that drift down with plateaus, ties and tiny gains
        steps = rng.choice([0.0, 1e-5, 5e-5, 2e-4, 1e-2, -1e-3], size=n)   # relative changes
        values = 100.0 * np.cumprod(1.0 - steps)
        values[rng.random(n) < 0.05] = np.nan
        settings = dict(factor=float(rng.choice([0.1, 0.5])), patience=int(rng.integers(1, 7)),
                        threshold=float(rng.choice([0.0, 1e-4, 1e-3])),
                        min_lr=float(rng.choice([0.0, 1e-5, 9.999e-4])))
        got, want = _lrs(values, **settings)
        assert got == want, (trial, settings)


def test_lr_cut_smaller_than_eps_is_not_applied():
    # lr 1.5e-8 -> 1.5e-9 would lower it by 1.35e-8 > eps: applied; 1e-8 -> 1e-9 by 9e-9: not
    for lr, applied in [(1.5e-8, True), (1e-8, False)]:
        opt = _Opt()
        opt.lr = lr
        sched = ReduceLROnPlateau(opt, patience=1)
        changed = [sched.step(v) for v in [1.0, 1.0, 1.0]]
        assert changed == [False, False, applied]
        assert opt.lr == (pytest.approx(lr * 0.1) if applied else lr)
        assert sched.num_bad_epochs == 0                                  # count restarts anyway


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
    # best at epoch 2, then flat: LR x0.1 after epoch 8 (6 bad > patience 5), so epoch 9 runs
    # at 1e-4; early stopping at epoch 12 (10 bad)
    script = iter([5.0, 4.0] + [4.5] * 20)
    monkeypatch.setattr(training, "evaluate",
                        lambda *a, **k: {"recon": 1.0, "kl": 0.0, "mmd": 0.0, "total": next(script)})
    model = npvae.InfoVAE(40, (16, 8), 2, lam=2.0, seed=3)
    snapshots = []
    model.fit(X, W, Xv, Wv, max_epochs=50, verbose=False,
              callback=lambda m, rec: snapshots.append(m.flat_params.copy()))
    lrs = [rec["lr"] for rec in model.history_]
    assert len(model.history_) == 12
    assert lrs[:8] == [1e-3] * 8 and lrs[8] == pytest.approx(1e-4)
    assert np.array_equal(model.flat_params, snapshots[1])            # best epoch's weights kept
    assert not np.array_equal(snapshots[1], snapshots[-1])
