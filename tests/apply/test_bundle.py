"""The model file carries its preprocessing recipe and training latents; old files still load."""
import numpy as np
import pytest

import npvae
from npvae import nn
from npvae.apply import encode_spectra
from npvae.cli import main
from npvae.data.dataset import write_dataset
from npvae.data.infill import fit_infill_basis
from npvae.data.recipe import Preprocessing
from npvae.utils import NpvaeError


def test_bundle_round_trip_keeps_recipe_and_training_latents(bundle):
    path, model = bundle
    loaded = npvae.load(path)
    ours, theirs = model.preprocessing, loaded.preprocessing
    assert np.array_equal(theirs.infill_mean, ours.infill_mean)
    assert np.array_equal(theirs.infill_vectors, ours.infill_vectors)
    for key in ("sn_cap", "min_coverage", "dilate", "infill", "loglam0", "dloglam", "n_pixels",
                "norm_window", "min_pixel_coverage"):
        assert getattr(theirs, key) == getattr(ours, key), key
    assert np.array_equal(loaded.train_latents_, model.train_latents_)
    for key, value in model.params.items():
        assert np.array_equal(loaded.params[key], value)


def test_fit_stores_the_latent_means_of_the_training_spectra():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 30)).astype(np.float32)
    W = np.ones_like(X)
    model = npvae.make_model("vae", 2, n_features=30, hidden=(8,), seed=0)
    model.fit(X[:60], W[:60], X[60:], W[60:], max_epochs=1, verbose=False)
    assert np.allclose(model.train_latents_, model.encode(X[:60])[0], atol=1e-6)


def test_old_model_file_loads_and_refuses_raw_spectra_in_one_line(tmp_path, survey):
    old = nn.InfoVAE(hidden=(16,), n_latent=2)
    old.is_fitted = True                                          # as if trained
    old.save(tmp_path / "old.npz")                                # the engine's plain file
    model = npvae.load(tmp_path / "old.npz")
    assert model.preprocessing is None and model.train_latents_ is None
    with pytest.raises(NpvaeError, match="no preprocessing recipe") as err:
        encode_spectra(model, survey[:2])
    assert "\n" not in str(err.value)


def test_extra_entries_may_not_replace_the_model_s_own(tmp_path):
    model = nn.InfoVAE(hidden=(16,), n_latent=2)
    model.is_fitted = True
    with pytest.raises(NpvaeError, match="clash"):
        model.save(tmp_path / "m.npz", extra_arrays={"mean": np.zeros(3)})
    with pytest.raises(NpvaeError, match="clash"):
        model.save(tmp_path / "m.npz", extra_meta={"config": {}})


def test_recipe_for_another_grid_is_refused(bundle):
    arrays, meta = bundle[1].preprocessing.to_file()
    meta["preprocessing"]["dloglam"] = 1e-4
    with pytest.raises(NpvaeError, match="differs from this npvae"):
        Preprocessing.from_file(arrays, meta, "m.npz")
    assert Preprocessing.from_file(arrays, {}, "m.npz") is None


def test_npvae_train_saves_the_recipe_of_its_dataset_file(prepared, tmp_path):
    keep = np.asarray(prepared.catalog["CLASS"]) != "STAR"             # no STAR row to leave out
    catalog = prepared.catalog[keep]
    data = write_dataset(tmp_path / "d.fits", prepared.flux[keep], prepared.weight[keep], prepared.mask[keep],
                         catalog, meta={"sn_cap": 20.0, "min_coverage": 0.7})
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--latent", "2", "--hidden", "16", "8",
                 "--epochs", "1", "--quiet"]) == 0
    model = npvae.load(out)
    recipe = model.preprocessing
    assert recipe.sn_cap == 20.0 and recipe.min_coverage == 0.7
    train = prepared.flux[keep][catalog["SPLIT"] == "train"]
    mean, vectors = fit_infill_basis(train)                          # the training rows only
    assert np.allclose(recipe.infill_mean, mean) and np.allclose(recipe.infill_vectors, vectors)
    assert np.allclose(model.train_latents_, model.transform(train), atol=1e-5)
