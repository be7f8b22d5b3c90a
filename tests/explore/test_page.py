"""The explorer page without a browser: what it embeds, that it is self-contained, the command."""
import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from npvae.analysis.outliers import lof_scores, top_outliers
from npvae.baselines.metrics import reduced_chi2
from npvae.cli import main as cli_main
from npvae.data.dataset import write_dataset
from npvae.explore import gather, write_explorer
from npvae.utils import NpvaeError


def payload(path):
    """The JSON data element of a page."""
    text = Path(path).read_text()
    return json.loads(re.search(r'<script id="npvae-data" type="application/json">(.*?)</script>', text, re.S).group(1))


def array(packed):
    return np.frombuffer(base64.b64decode(packed["data"]), dtype=np.dtype(packed["dtype"]))


def test_page_embeds_latent_means_spectra_weights_and_scores(page, tiny_model, tiny_dataset):
    data = payload(page)
    n, d, z = len(tiny_dataset), tiny_dataset.flux.shape[1], tiny_model.n_latent
    mu = tiny_model.encode(tiny_dataset.flux)[0]
    np.testing.assert_array_equal(array(data["mu"]).reshape(n, z), mu)
    for name in ("dec1", "dec2", "out"):
        layer = next(layer for layer in data["decoder"]["layers"] if layer["name"] == name)
        W = array(layer["W"]).reshape(layer["nIn"], layer["nOut"])                        # (I, O)
        np.testing.assert_array_equal(W, tiny_model.params[f"{name}.W"])
    assert data["decoder"]["slope"] == 0.01
    columns = {c["name"]: array(c["values"]) for c in data["numeric"]}
    chi2 = reduced_chi2(tiny_dataset.flux, tiny_model.reconstruct(tiny_dataset.flux), tiny_dataset.weight, z)
    np.testing.assert_allclose(columns["chi2"], chi2, rtol=1e-5)
    np.testing.assert_allclose(columns["Z"], tiny_dataset.catalog["Z"], rtol=1e-6)
    rows = array(data["spectra"]["rows"])
    assert len(rows) == 120 and len(set(rows)) == 120
    outliers = top_outliers(lof_scores(mu), 10)
    assert list(data["outliers"]) == list(outliers) and set(outliers) <= set(rows)
    flux = array(data["spectra"]["flux"]).reshape(120, d)
    np.testing.assert_allclose(flux, tiny_dataset.flux[rows], rtol=1e-3)
    assert array(data["ids"]["FIBERID"]).tolist() == list(tiny_dataset.catalog["FIBERID"])
    # the fourth track, active galaxies along VAE5-VAE6, needs Z >= 6
    assert {t["name"] for t in data["tracks"]} == {"star_formation", "extreme_emitters", "post_starburst"}


def test_page_is_one_self_contained_file(page):
    text = Path(page).read_text()
    assert not re.search(r"https?:", text)
    assert not re.search(r"<(link|img|iframe)\b|\ssrc=", text)
    assert text.count("<script") == 2                      # the data and the explorer module
    assert "window.npvaeExplorer" in text


def test_embedded_spectra_are_limited_and_drawn_by_the_seed(tiny_model, tiny_dataset):
    first = gather(tiny_model, tiny_dataset, max_spectra=40, rng=1)
    again = gather(tiny_model, tiny_dataset, max_spectra=40, rng=1)
    other = gather(tiny_model, tiny_dataset, max_spectra=40, rng=2)
    assert len(first.rows) == 40 and np.array_equal(first.rows, again.rows)
    assert not np.array_equal(first.rows, other.rows)
    assert len(gather(tiny_model, tiny_dataset, max_spectra=0).rows) == 0
    assert len(gather(tiny_model, tiny_dataset, max_spectra=10_000).rows) == len(tiny_dataset)
    with pytest.raises(NpvaeError, match="max_spectra"):
        gather(tiny_model, tiny_dataset, max_spectra=-1)


@pytest.fixture
def run_folder(tmp_path, tiny_model, tiny_dataset):
    """A run folder as `npvae reproduce` leaves it: dataset.fits and models/vae_z4.npz."""
    ds = tiny_dataset
    write_dataset(tmp_path / "dataset.fits", ds.flux, ds.weight, ds.mask, ds.catalog, wave=ds.wave)
    tiny_model.save(tmp_path / "models" / "vae_z4.npz")
    return tmp_path


def test_explore_command_on_a_run_folder_and_on_a_model_file(run_folder, capsys):
    out = run_folder / "explorer.html"
    assert cli_main(["explore", str(run_folder), "--out", str(out), "--max-spectra", "50"]) == 0
    assert len(array(payload(out)["spectra"]["rows"])) == 50
    model = run_folder / "models" / "vae_z4.npz"
    out2 = run_folder / "from_model.html"
    assert cli_main(["explore", str(model), "--data", str(run_folder / "dataset.fits"), "--out", str(out2)]) == 0
    assert payload(out2)["mu"] == payload(out)["mu"]


@pytest.mark.parametrize("argv, message", [
    (["{model}"], "give the spectra with --data"),
    (["{run}", "--out", "{run}/nowhere/x.html"], "does not exist"),
    (["{run}", "--out", "{run}/x.png"], "name it \\*.html"),
    (["{run}", "--latent", "6"], "no models/vae_z6.npz"),
    (["{run}/nothing"], "no such run folder or model file"),
])
def test_explore_command_errors_are_one_line(run_folder, capsys, argv, message):
    argv = [a.format(run=run_folder, model=run_folder / "models" / "vae_z4.npz") for a in argv]
    assert cli_main(["explore", *argv]) == 1
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1


def test_write_explorer_accepts_paths(run_folder):
    out = write_explorer(run_folder / "p.html", run_folder / "models" / "vae_z4.npz", run_folder / "dataset.fits",
                         max_spectra=5)
    assert payload(out)["n"] == 300


def test_a_dataset_of_another_grid_is_a_clear_error(tiny_model):
    from _explorer_browser import make_tiny_dataset

    with pytest.raises(NpvaeError, match="spectra have 30 pixels, the model expects 40"):
        gather(tiny_model, make_tiny_dataset(n=50, d=30))
