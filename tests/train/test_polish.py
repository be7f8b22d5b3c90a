"""The decoder polish that follows a noise-aware model's training (npvae.train.polish).

Anchors: the encoder before the polish (must stay bit for bit: the Adam step may touch the
decoder only), the clean-data recon term before it (a decoder trained on degraded spectra and
then on the spectra as given must reconstruct them better), a twin fitted without the polish
(same encoder, same calibration), and the validation records (the kept decoder is the best one).
"""
import numpy as np
import pytest

import npvae
from npvae.train.polish import POLISH_EPOCHS, decoder_keys, polish_decoder
from npvae.train.validation import draw_validation_noise, evaluate
from npvae.utils import NpvaeError

OPTIONS = dict(batch_size=32, max_epochs=6, lr=3e-3, verbose=False)


def _aware(seed=11):
    return npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=seed, n_prior=50, noise_aware=True)


def _clean_recon(model, X, W):
    return evaluate(model, X, W, draw_validation_noise(model, len(X), 0))["recon"]


def test_decoder_keys_are_the_decoder_layers():
    assert decoder_keys(_aware()) == ["dec1.W", "dec1.b", "dec2.W", "dec2.b", "out.W", "out.b"]


def test_polish_moves_only_the_decoder_and_lowers_the_clean_recon_term(sharp_data):
    X, W, Xv, Wv = sharp_data
    model = _aware().fit(X, W, Xv, Wv, calibrate=False, polish=0, **OPTIONS)     # trained on degraded spectra
    before = {k: v.copy() for k, v in model.params.items()}
    mean = model.mean_.copy()
    train0, val0 = _clean_recon(model, X, W), _clean_recon(model, Xv, Wv)
    records = polish_decoder(model, X, W, epochs=15, lr=1e-2, rng=3)            # no validation: last epoch kept
    for k in model.params:
        changed = not np.array_equal(model.params[k], before[k])
        assert changed == (k in decoder_keys(model)), k
    assert np.array_equal(model.mean_, mean)
    assert [r["epoch"] for r in records] == list(range(1, 16))
    assert _clean_recon(model, X, W) < 0.95 * train0       # the spectra it was polished on
    assert _clean_recon(model, Xv, Wv) < 0.95 * val0       # and spectra it never saw


def test_polish_keeps_the_decoder_of_its_best_validation_epoch(sharp_data):
    X, W, Xv, Wv = sharp_data
    model = _aware().fit(X, W, Xv, Wv, calibrate=False, polish=0, **OPTIONS)
    records = polish_decoder(model, X, W, Xv, Wv, epochs=4, lr=3e-2, rng=3)     # a large rate: epochs differ
    assert records[0]["epoch"] == 0 and len(records) == 5
    np.testing.assert_allclose(_clean_recon(model, Xv, Wv), min(r["val_recon"] for r in records), rtol=1e-6)


def test_fit_polishes_by_default_and_leaves_encoder_and_calibration_alone(sharp_data):
    X, W, Xv, Wv = sharp_data
    plain = _aware().fit(X, W, Xv, Wv, polish=0, **OPTIONS)
    polished = _aware().fit(X, W, Xv, Wv, **OPTIONS)
    assert plain.polish_history_ is None and len(polished.polish_history_) == POLISH_EPOCHS + 1
    assert polished.logvar_calibration_ == plain.logvar_calibration_
    for k in plain.params:
        assert np.array_equal(plain.params[k], polished.params[k]) == (k not in decoder_keys(plain)), k
    mu0, lv0 = plain.encode(Xv, Wv)
    mu1, lv1 = polished.encode(Xv, Wv)
    assert np.array_equal(mu0, mu1) and np.array_equal(lv0, lv1)
    assert _clean_recon(polished, Xv, Wv) <= _clean_recon(plain, Xv, Wv)


def test_a_standard_model_is_not_polished(sharp_data):
    X, W, Xv, Wv = sharp_data
    std = npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50)
    twin = npvae.InfoVAE(40, (16, 8), 2, lam=3.0, seed=11, n_prior=50)
    std.fit(X, W, Xv, Wv, **OPTIONS)
    twin.fit(X, W, Xv, Wv, polish=0, **OPTIONS)
    assert std.polish_history_ is None
    assert np.array_equal(std.flat_params, twin.flat_params)


@pytest.mark.parametrize("epochs, lr", [(-1, 1e-3), (2.5, 1e-3), (3, 0.0), (3, float("nan"))])
def test_bad_polish_settings_are_one_line_errors(sharp_data, epochs, lr):
    X, W = sharp_data[:2]
    model = _aware()
    with pytest.raises(NpvaeError, match="polish epochs"):
        polish_decoder(model, X, W, epochs=epochs, lr=lr)


def test_an_int_seed_gives_the_polish_the_trainings_generator_not_a_restart(sharp_data):
    X, W, Xv, Wv = sharp_data
    seeded = _aware().fit(X, W, Xv, Wv, rng=5, **OPTIONS)
    again = _aware().fit(X, W, Xv, Wv, rng=5, **OPTIONS)
    assert np.array_equal(seeded.flat_params, again.flat_params)             # fixed by the seed
    twin = _aware().fit(X, W, Xv, Wv, rng=5, polish=0, calibrate=False, **OPTIONS)   # the same training
    restart = polish_decoder(twin, X, W, Xv, Wv, rng=5, batch_size=OPTIONS["batch_size"])   # restarts the seed
    assert [r["val_recon"] for r in seeded.polish_history_] != [r["val_recon"] for r in restart]


@pytest.mark.parametrize("polish", [-1, 2.5])
def test_a_bad_polish_value_is_refused_before_any_training(sharp_data, polish):
    X, W, Xv, Wv = sharp_data
    model = _aware()
    before = model.flat_params.copy()
    with pytest.raises(NpvaeError, match="polish epochs"):
        model.fit(X, W, Xv, Wv, polish=polish, **OPTIONS)
    assert np.array_equal(model.flat_params, before) and not model.history_   # nothing trained
