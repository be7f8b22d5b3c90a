"""Fixtures of the apply tests: a small synthetic survey and a small trained model bundle."""
import pytest

from npvae.data.preprocess import preprocess
from npvae.data.recipe import Preprocessing
from npvae.synthetic import generate
from npvae.train import make_model


@pytest.fixture(scope="session")
def survey():
    """300 synthetic raw spectra (Spectrum records) of the default survey, seeded."""
    return generate(300, rng=3)


@pytest.fixture(scope="session")
def prepared(survey):
    """The survey preprocessed as a training set (PreprocessResult, batch infill)."""
    return preprocess(survey, rng=0, verbose=False)


@pytest.fixture(scope="session")
def bundle(prepared, tmp_path_factory):
    """(path, model): a small InfoVAE (1000-64-16-6) trained 3 epochs on the survey, saved with its recipe."""
    data = prepared
    model = make_model("vae", 6, hidden=(64, 16), seed=1)
    X, W = data.flux, data.weight                                    # (N, D)
    model.fit(X[:240], W[:240], X[240:], W[240:], max_epochs=3, verbose=False)
    model.preprocessing = Preprocessing.from_training(X[:240], {"sn_cap": 50.0})
    path = tmp_path_factory.mktemp("bundle") / "model.npz"
    model.save(path)
    return path, model
