"""The figure demos in demos/ run end to end against one tiny run folder and write valid PNGs.

One run folder (400 synthetic spectra, the 6-latent VAE trained for one epoch) is made once
per module with ``demos/_demo_run.build_run``; every demo's ``main([...])`` runs on it with
small options (few baseline iterations, few noise draws) so the module stays under a minute
on the shared 2-core machine. The numbers are not checked against the paper (one epoch does
not train a model). Each demo has a ``_smoke`` test (it runs, returns well-formed results and
writes valid PNGs) and a test of its figure's data against an independent computation or law
(nested PCA subspaces, an SVD, eigenvalues, a rank correlation written out, the encoder's
linear response to small noise, planted outliers). Every demo runs once per module (``demo``).
"""
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import npvae

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


@pytest.fixture(scope="module")
def demo(run_dir, tmp_path_factory):
    """demo(name, *options) -> (result, out folder): each demo with each options runs once."""
    cache = {}

    def get(name, *extra):
        if (name, extra) not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[name, extra] = (_run(name, run_dir, out, *extra), out)
        return cache[name, extra]

    return get


def _pca_reference(train, X, ks):
    """{k: projection of X onto the k leading principal components of ``train``} (numpy SVD)."""
    mean = train.mean(axis=0, dtype=np.float64)                          # (D,)
    _, _, vt = np.linalg.svd(train - mean, full_matrices=False)          # (D', D)
    return {k: mean + ((X - mean) @ vt[:k].T) @ vt[:k] for k in ks}      # (N, D) each


def _ranks(a):
    """Ranks 0..N-1, tied values sharing the mean of their ranks."""
    r = np.empty(len(a))
    r[np.argsort(a, kind="stable")] = np.arange(len(a))
    _, tie = np.unique(a, return_inverse=True)                           # (N,)
    return (np.bincount(tie, weights=r) / np.bincount(tie))[tie]


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


FIG03 = ("--params", "1", "2", "6", "--baseline-iter", "5")


def test_fig03_smoke(demo):
    table, out = demo("fig03_reconstruction_error", *FIG03)
    assert set(table) == {"PCA", "NMF", "VAE"}
    assert list(table["PCA"]) == ["1", "2", "6"] and list(table["VAE"]) == ["6"]
    assert all(np.isfinite(row["all"]["mean"]) and row["all"]["mean"] > 0
               for by_k in table.values() for row in by_k.values())
    _assert_png(out / "fig03_reconstruction_error.png")


def test_fig03_pca_error_decreases_with_k(demo):
    """PCA subspaces are nested: more components never move a spectrum further from its projection."""
    table, _ = demo("fig03_reconstruction_error", *FIG03)
    errors = [table["PCA"][k]["all"]["mean"] for k in ("1", "2", "6")]
    assert errors[0] > errors[1] > errors[2], errors


def test_fig04_07_smoke(demo):
    paths, _ = demo("fig04_07_reconstructions", "--params", "2", "6")
    assert 2 <= len(paths) <= 4                      # the tiny survey may lack a broad-line AGN
    for path in paths:
        _assert_png(path)


def test_fig04_07_examples_and_their_pca_reconstructions(run_dir):
    """The quiescent examples are what they say, and the PCA rows of the figures are the
    projections onto the training set's leading principal components (numpy SVD)."""
    from npvae.plots.reconstruction import choose_example_spectra

    run = _demo("_demo_run").load_run(run_dir)
    valid = run.valid
    sn = np.asarray(valid.catalog["SN_MEDIAN"], dtype=np.float64)
    examples = choose_example_spectra(valid.labels, sn, valid.flux, valid.weight, run.wave)
    high, low = examples["high_sn_quiescent"], examples["low_sn_quiescent"]
    assert valid.labels[high] == valid.labels[low] == "quiescent" and sn[high] > sn[low]
    recons = _demo("fig04_07_reconstructions").example_reconstructions(run, examples, [2, 6])
    rows = list(examples.values())
    want = _pca_reference(np.asarray(run.train.flux, np.float64),
                          np.asarray(valid.flux[rows], np.float64), (2, 6))
    for i, name in enumerate(examples):
        for k in (2, 6):
            np.testing.assert_allclose(recons[name][f"PCA {k}"], want[k][i], atol=1e-4, err_msg=name)


def test_fig08_smoke(demo):
    axes, out = demo("fig08_latent_space")
    assert np.all(np.diff(axes.explained_variance_) <= 1e-12)          # sorted by construction
    _assert_png(out / "fig08_latent_space.png")


def test_fig08_axes_are_the_eigenvectors_of_the_latent_covariance(demo, run_dir):
    axes, _ = demo("fig08_latent_space")
    run = _demo("_demo_run").load_run(run_dir)
    mu = run.model("vae").transform(run.train.flux)                      # (N_train, Z)
    cov = np.cov(mu, rowvar=False)                                       # (Z, Z)
    np.testing.assert_allclose(axes.explained_variance_, np.linalg.eigvalsh(cov)[::-1],
                               rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(axes.components_ @ cov @ axes.components_.T,
                               np.diag(axes.explained_variance_), atol=1e-8)


def test_fig09_13_smoke(demo):
    tracks, out = demo("fig09_13_tracks")
    assert "star_formation" in tracks and tracks["star_formation"].counts.sum() > 0
    _assert_png(out / "fig09_tracks.png")
    _assert_png(out / "fig10_13_track_spectra.png")


def test_fig09_13_track_points_are_the_means_of_their_bins(demo, run_dir):
    """Each track point is the mean latent point of the spectra whose projection on the track's
    direction falls between its two percentile edges."""
    tracks, _ = demo("fig09_13_tracks")
    _, _, axes, mu, _ = _demo("_demo_run").load_run(run_dir).latent_setup()
    for name, track in tracks.items():
        t = (mu - axes.mean_) @ track.direction                          # (N,)
        for b in range(len(track.counts)):
            members = track.bin_index == b
            assert members.sum() == track.counts[b]
            lo, hi = track.edges[b] - 1e-9, track.edges[b + 1] + 1e-9
            assert np.all((t[members] >= lo) & (t[members] <= hi)), (name, b)
            if members.any():
                np.testing.assert_allclose(track.centroids[b], mu[members].mean(axis=0, dtype=np.float64),
                                           atol=1e-6)


def test_fig14_smoke(demo):
    decoded, out = demo("fig14_traversals")
    assert decoded.shape == (6, 5, 1000) and np.isfinite(decoded).all()
    _assert_png(out / "fig14_traversals.png")


def test_fig14_traversal_spectra_are_the_decoded_points_through_the_centroid(demo, run_dir):
    """Panel k, percentile p shows model.decode(centroid + (q_kp - c_k) V_k): the p-th percentile
    q_kp of the spectra's coordinate on axis k, every other direction at the centroid."""
    decoded, _ = demo("fig14_traversals")
    vae, _, axes, mu, _ = _demo("_demo_run").load_run(run_dir).latent_setup()
    centroid = mu.mean(axis=0)                                           # (Z,)
    coords = (mu - axes.mean_) @ axes.components_.T                      # (N, K)
    for k in range(decoded.shape[0]):
        q = np.percentile(coords[:, k], (1, 16, 50, 84, 99))             # (P,)
        c_k = (centroid - axes.mean_) @ axes.components_[k]
        points = centroid + (q - c_k)[:, None] * axes.components_[k]     # (P, Z)
        np.testing.assert_allclose(decoded[k], vae.decode(points), rtol=1e-5, atol=1e-6)


def test_fig15_16_smoke(demo):
    lof, out = demo("fig15_16_outliers")
    assert lof.shape == (400,) and np.isfinite(lof).all()
    _assert_png(out / "fig15_outliers.png")
    _assert_png(out / "fig16_stars.png")


def test_fig15_planted_oddities_score_above_the_median(run_dir, tmp_path):
    """Five spectra turned into oddities (reversed in wavelength, so no real galaxy looks like
    them) in a copy of the run: each gets an LOF score above the median of all spectra."""
    from npvae.data.dataset import load_dataset, write_dataset

    data = load_dataset(Path(run_dir) / "dataset.fits", memmap=False)
    rows = np.arange(5)
    flux = np.asarray(data.flux).copy()
    flux[rows] = flux[rows, ::-1]
    catalog = data.catalog.copy()
    catalog["ODDITY"][rows] = "planted"
    write_dataset(tmp_path / "dataset.fits", flux, data.weight, data.mask, catalog, wave=data.wave)
    (tmp_path / "models").symlink_to(Path(run_dir) / "models")
    lof = _run("fig15_16_outliers", tmp_path, tmp_path / "out")
    assert np.all(lof[rows] > np.median(lof)), lof[rows]


def test_fig17_smoke(demo, run_dir):
    results, out = demo("fig17_noise_sensitivity", "--draws", "20")
    assert list(results) == ["standard VAE", "noise-aware VAE"]
    for result in results.values():
        assert result.ratio.shape == (10, 6) and result.n_draws == 20
    _assert_png(out / "fig17_noise_sensitivity.png")
    saved = Path(run_dir) / "models" / "vae_noise_aware_z6.npz"
    aware = npvae.load(saved)
    assert aware.noise_aware and aware.logvar_calibration_ is not None      # trained by fit, calibrated
    before = saved.stat().st_mtime_ns
    again, _ = demo("fig17_noise_sensitivity", "--draws", "20")
    assert saved.stat().st_mtime_ns == before                               # reused, not retrained
    np.testing.assert_array_equal(again["noise-aware VAE"].ratio, results["noise-aware VAE"].ratio)


def test_fig17_spread_of_latent_means_grows_as_the_noise_variance(demo):
    """For small noise the encoder responds linearly, so Var_r[mu] is proportional to the added
    noise variance sigma^2, i.e. to (S/N)^-2: a slope of -2 in log Var against log S/N."""
    result = demo("fig17_noise_sensitivity", "--draws", "20")[0]["standard VAE"]
    log_sn = np.log(result.sn_levels)
    for z in range(result.var_of_means.shape[1]):
        slope = np.polyfit(log_sn, np.log(result.var_of_means[:, z]), 1)[0]
        assert -2.4 < slope < -1.6, (z, slope)
    np.testing.assert_allclose(result.sigma[0] / result.sigma[-1], 80 / 2, rtol=1e-12)


def test_class_separation_smoke(demo):
    (sep, corr), out = demo("class_separation", "--k", "5")
    for mode in ("raw", "standardized"):
        for result in sep[mode].values():
            assert 0.0 <= result["balanced_accuracy"] <= 1.0
    assert corr is not None and corr.rho.shape[0] == 6
    _assert_png(out / "class_separation.png")


def test_class_separation_correlations_are_rank_correlations_of_the_axes(demo, run_dir):
    """Spearman rho = Pearson correlation of the ranks, written out here with numpy."""
    from npvae.baselines.metrics import CLASSES

    (_, corr), _ = demo("class_separation", "--k", "5")
    run = _demo("_demo_run").load_run(run_dir)
    vae = run.model("vae")
    gal = ~run.data.is_star & np.isin(run.data.labels, CLASSES)
    mu_train = vae.transform(run.train.flux)
    _, _, vt = np.linalg.svd(mu_train - mu_train.mean(axis=0), full_matrices=False)
    coords = (vae.transform(run.data.flux[gal]) - mu_train.mean(axis=0)) @ vt.T   # (N, Z)
    for j, param in enumerate(corr.params):
        truth = np.asarray(run.data.catalog[param], np.float64)[gal]
        ok = np.isfinite(truth)
        if np.ptp(truth[ok]) == 0:
            continue
        for a in range(coords.shape[1]):
            rho = np.corrcoef(_ranks(coords[ok, a]), _ranks(truth[ok]))[0, 1]
            assert abs(corr.rho[a, j]) == pytest.approx(abs(rho), abs=1e-9), (param, a)


def test_redshift_smoke_and_curves_on_the_trial_grid(demo):
    from npvae.apply.redshift import trial_grid

    (vae_t, pca_t, z_true), out = demo("redshift", "--spectra", "3")
    _assert_png(out / "redshift.png")
    assert len(vae_t) == len(pca_t) == len(z_true) == 3
    assert np.array_equal(vae_t.meta["Z_GRID"], trial_grid()[1])
    at_truth = np.abs(vae_t.meta["Z_GRID"][None, :] - z_true[:, None]).argmin(axis=1)   # (3,)
    assert np.all(np.isfinite(vae_t["RCHI2_SCAN"][np.arange(3), at_truth]))          # scanned there


def test_residual_atlas_smoke(demo):
    pytest.importorskip("ppxf")
    res, out = demo("residual_atlas", "--no-download")
    assert {"NGC3522", "NGC3073"} <= set(res["names"])
    assert res["resid"].shape == (len(res["names"]), 1000) and np.all(np.isfinite(res["rchi2"]))
    assert res["ratio"] > 0
    _assert_png(out / "residual_atlas.png")


def test_residual_atlas_rchi2_is_the_mean_squared_normalised_residual(demo):
    """RCHI2 = sum r^2 / (n_good - Z): the atlas's residuals and encode's chi^2 agree."""
    res, _ = demo("residual_atlas", "--no-download")
    for r, rchi2 in zip(res["resid"], res["rchi2"]):
        good = np.isfinite(r)
        assert rchi2 == pytest.approx(np.sum(r[good] ** 2) / (good.sum() - 6), rel=1e-3)
