"""The figure demos in demos/ run end to end against one tiny run folder and write valid PNGs.

One run folder (400 synthetic spectra, the 6-latent VAE trained for one epoch) is made once
per module with ``demos/_demo_run.build_run``; every demo's ``main([...])`` runs on it with
small options (few baseline iterations, few noise draws) so the module stays under a minute
on the shared 2-core machine. The numbers are not checked against the paper (one epoch does
not train a model); the tests check that each demo computes its figure from the run and
returns well-formed results.
"""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

DEMOS = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMOS))

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _demo(name):
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    build_run = _demo("_demo_run").build_run
    return build_run(tmp_path_factory.mktemp("demo_run"), n=400, epochs=1, seed=3, verbose=False)


def _assert_png(path):
    """The file exists, starts with the PNG signature and decodes to a non-empty image."""
    from PIL import Image

    path = Path(path)
    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.size[0] > 100 and image.size[1] > 100


def _run(name, run_dir, out, *extra):
    return _demo(name).main(["--run", str(run_dir), "--out", str(out), *extra])


def test_build_run_writes_the_pipeline_layout(run_dir):
    run = _demo("_demo_run").load_run(run_dir)
    assert (Path(run_dir) / "dataset.fits").is_file()
    assert run.latents("vae") == [6] and run.latents("ae") == []
    assert len(run.train.flux) + len(run.valid.flux) <= 400
    assert run.model().n_latent == 6


def test_get_run_rejects_a_missing_folder(tmp_path):
    from npvae.utils import NpvaeError

    with pytest.raises(NpvaeError, match="no such folder"):
        _demo("_demo_run").get_run(tmp_path / "nowhere")


def test_load_run_without_a_model_says_so(run_dir, tmp_path):
    from npvae.utils import NpvaeError

    (tmp_path / "models").mkdir()
    (tmp_path / "dataset.fits").symlink_to(Path(run_dir) / "dataset.fits")
    with pytest.raises(NpvaeError, match="no vae_zZ.npz"):
        _demo("_demo_run").load_run(tmp_path)


def test_fig03_table_has_every_method_and_a_png(run_dir, tmp_path):
    table = _run("fig03_reconstruction_error", run_dir, tmp_path, "--params", "2", "6", "--baseline-iter", "5")
    assert set(table) == {"PCA", "NMF", "VAE"}
    assert list(table["PCA"]) == ["2", "6"] and list(table["VAE"]) == ["6"]
    assert all(np.isfinite(row["all"]["mean"]) and row["all"]["mean"] > 0
               for by_k in table.values() for row in by_k.values())
    assert table["PCA"]["6"]["all"]["mean"] <= table["PCA"]["2"]["all"]["mean"]   # nested PCA
    _assert_png(tmp_path / "fig03_reconstruction_error.png")


def test_fig04_07_writes_one_png_per_example(run_dir, tmp_path):
    paths = _run("fig04_07_reconstructions", run_dir, tmp_path, "--params", "6")
    assert 2 <= len(paths) <= 4                      # the tiny survey may lack a broad-line AGN
    for path in paths:
        _assert_png(path)


def test_fig08_axes_are_ordered_by_variance(run_dir, tmp_path):
    axes = _run("fig08_latent_space", run_dir, tmp_path)
    assert np.all(np.diff(axes.explained_variance_) <= 1e-12)
    _assert_png(tmp_path / "fig08_latent_space.png")


def test_fig09_13_tracks_and_their_spectra(run_dir, tmp_path):
    tracks = _run("fig09_13_tracks", run_dir, tmp_path)
    assert "star_formation" in tracks and tracks["star_formation"].counts.sum() > 0
    _assert_png(tmp_path / "fig09_tracks.png")
    _assert_png(tmp_path / "fig10_13_track_spectra.png")


def test_fig14_traversals_shape(run_dir, tmp_path):
    decoded = _run("fig14_traversals", run_dir, tmp_path)
    assert decoded.shape == (6, 5, 1000) and np.isfinite(decoded).all()
    _assert_png(tmp_path / "fig14_traversals.png")


def test_fig15_16_scores_every_spectrum(run_dir, tmp_path):
    lof = _run("fig15_16_outliers", run_dir, tmp_path)
    assert lof.shape == (400,) and np.isfinite(lof).all()
    _assert_png(tmp_path / "fig15_outliers.png")
    _assert_png(tmp_path / "fig16_stars.png")


def test_fig17_noise_levels(run_dir, tmp_path):
    result = _run("fig17_noise_sensitivity", run_dir, tmp_path, "--draws", "20")
    assert result.ratio.shape == (10, 6) and result.n_draws == 20
    _assert_png(tmp_path / "fig17_noise_sensitivity.png")


def test_class_separation_scores(run_dir, tmp_path):
    sep, corr = _run("class_separation", run_dir, tmp_path, "--k", "5")
    for mode in ("raw", "standardized"):
        for result in sep[mode].values():
            assert 0.0 <= result["balanced_accuracy"] <= 1.0
    assert corr is not None and corr.rho.shape[0] == 6
    _assert_png(tmp_path / "class_separation.png")
