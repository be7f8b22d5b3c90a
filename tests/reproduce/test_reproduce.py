"""End to end: ``npvae reproduce`` on a tiny synthetic survey writes every output, and resumes."""
import json

import pytest

from _explorer_browser import chromium_missing, start_chromium, stop_chromium
from _tiny_reproduce import TINY
from npvae.cli import main as cli_main
from npvae.data.dataset import load_dataset
from npvae.reproduce import reproduce
from npvae.reproduce.report import Section, table_html, write_report
from npvae.utils import NpvaeError


def test_reproduce_writes_report_metrics_models_and_figures(run):
    out, metrics, _ = run
    for name in ("report.html", "explorer.html", "metrics.json", "dataset.fits", "reproduce.log",
                 "models/vae_z2.npz", "models/ae_z2.npz", "figures/fig03_reconstruction_error.png",
                 "figures/fig08_corner.png", "figures/fig15_outliers.png", "figures/fig17_noise.png"):
        assert (out / name).exists(), name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 8      # figures are embedded, not linked
    assert "Figure 3" in html and "Table 2" in html
    assert "<a href='explorer.html'>" in html
    table = metrics["reconstruction"]["weighted_mse"]
    assert set(table) == {"PCA", "WeightedPCA", "NMF", "WeightedNMF", "AE", "VAE"}
    assert set(table["VAE"]) == {"2"}
    assert metrics["reconstruction"]["weighted_mse"]["PCA"]["2"]["all"]["mean"] > 0
    assert "precision_lof" in metrics["latent"]["outliers"]
    assert json.loads((out / "metrics.json").read_text())["config"]["n_spectra"] == 400


def test_second_run_skips_finished_stages(run):
    out, metrics, first = run
    model_mtime = (out / "models/vae_z2.npz").stat().st_mtime
    again = reproduce(out=out, **TINY)
    assert (out / "models/vae_z2.npz").stat().st_mtime == model_mtime
    assert again["reconstruction"] == metrics["reconstruction"]
    log = (out / "reproduce.log").read_text()
    for line in ("model vae_z2.npz: reusing", "reconstruction: reusing results", "latent: reusing results",
                 "explorer: reusing", "beyond: reusing results"):
        assert line in log


def test_unknown_option_and_missing_data_file_are_clear_errors(tmp_path):
    with pytest.raises(NpvaeError, match="unknown reproduce option"):
        reproduce(out=tmp_path, bogus=1)
    assert cli_main(["reproduce", "--data", str(tmp_path / "nope.fits"), "--out", str(tmp_path), "--quiet"]) == 1


def test_report_is_written_atomically_and_escapes_text(tmp_path, monkeypatch):
    path = tmp_path / "r.html"
    write_report(path, "A <title>", [Section("S", ["p"], [table_html([["a<b", 1.5]], ["x", "y"])])])
    text = path.read_text()
    assert "A &lt;title&gt;" in text and "a&lt;b" in text and "1.5" in text
    import npvae.reproduce.report as rep

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rep, "_figure_html", boom)
    with pytest.raises(RuntimeError):
        write_report(path, "B", [Section("S", figures=[(path, "caption")])])
    assert path.read_text() == text                        # the old report is untouched
    assert len(list(tmp_path.iterdir())) == 1              # no temporary file left behind


def test_search_option_replaces_table1_architecture(tmp_path):
    """With search_configs > 0 the VAE gets the best searched architecture, not Table 1's."""
    from npvae import load
    from npvae.paper import TABLE1

    opts = dict(TINY, search_configs=2)
    reproduce(out=tmp_path, **opts)
    vae = load(tmp_path / "models" / "vae_z2.npz")
    rows = (tmp_path / "models" / "search_z2" / "results.csv").read_text().splitlines()
    header, best = rows[0].split(","), rows[1].split(",")
    row = dict(zip(header, best))
    assert vae.hidden == (int(row["h1"]), int(row["h2"]))
    assert vae.hidden != TABLE1[2][0]
    assert abs(vae.lam - float(row["lam"])) < 1e-9 * vae.lam


def test_reproduce_runs_on_a_dataset_file_without_synthetic_truth(run, tmp_path):
    """A real SDSS dataset has no ODDITY / TRUE_* columns: the pipeline must not need them."""
    from npvae.data import load_dataset, write_dataset

    out, _, _ = run
    ds = load_dataset(out / "dataset.fits", memmap=False)
    cat = ds.catalog.copy()
    cat.remove_columns([c for c in cat.colnames if c == "ODDITY" or c.startswith("TRUE_")])
    write_dataset(tmp_path / "real_like.fits", ds.flux, ds.weight, ds.mask, cat)
    opts = {k: v for k, v in TINY.items() if k != "n_spectra"}
    metrics = reproduce(out=tmp_path / "run", data=tmp_path / "real_like.fits", **opts)
    assert "precision_lof" not in metrics["latent"]["outliers"]     # no truth, no precision
    assert len(metrics["latent"]["outliers"]["top10"]) == 10
    assert metrics["latent"]["truth_correlations"] is None
    assert (tmp_path / "run" / "report.html").exists()
    assert not (tmp_path / "run" / "dataset.fits").exists()        # the given file is used as is


def test_the_report_links_an_explorer_that_loads_in_chromium(run):
    if chromium_missing():
        pytest.skip(f"no headless Chromium: {chromium_missing()}")
    out, _, _ = run
    driver = start_chromium()
    try:
        driver.get((out / "report.html").resolve().as_uri())
        driver.find_element("link text", "Explore the latent space").click()
        assert driver.current_url.endswith("/explorer.html")
        n_spectra = len(load_dataset(out / "dataset.fits"))
        assert driver.execute_script("return window.npvaeExplorer.state()")["n"] == n_spectra
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    finally:
        stop_chromium(driver)


def test_report_and_metrics_start_with_the_paper_vs_npvae_table(run):
    out, metrics, _ = run
    from npvae.reproduce.claims import CLAIMS

    rows = metrics["paper_vs_npvae"]
    assert list(metrics)[0] == "paper_vs_npvae" and len(rows) == len(CLAIMS)
    by_claim = {r["claim"]: r for r in rows}
    # the tiny run trains 2 latents only: the 2-parameter ordering is computed, the 10-latent claim is not
    assert by_claim["Fig. 3, all spectra, 2 parameters: VAE < AE < NMF < PCA"]["verdict"] != "not computed"
    assert by_claim["Fig. 3, all spectra, 10 parameters: VAE < AE < NMF < PCA"]["verdict"] == "not computed"
    html = (out / "report.html").read_text()
    body = html[html.index("</ol>"):]                      # after the table of contents
    assert body.index("Paper vs npvae") < body.index("Figure 3")
    assert "VAE &lt; AE &lt; NMF &lt; PCA" in html


def test_models_trained_in_worker_processes_match_in_process_training(tmp_path):
    """model_workers=2 (two single-threaded workers) trains the same models as one process."""
    import numpy as np

    from npvae.reproduce.stages_recon import _train_models
    from npvae.train import load
    rng = np.random.default_rng(0)
    X, Xv = rng.normal(1, 0.2, (96, 40)).astype(np.float32), rng.normal(1, 0.2, (48, 40)).astype(np.float32)
    W, Wv = np.ones_like(X), np.ones_like(Xv)
    rows = {}
    for workers in (0, 2):
        jobs = [{"kind": kind, "n_latent": 2, "hidden": (12, 6), "lam": 1.0, "seed": 5, "max_epochs": 3,
                 "force": False, "path": str(tmp_path / f"{kind}_{workers}.npz")} for kind in ("vae", "ae")]
        rows[workers] = dict(_train_models(jobs, (X, W, Xv, Wv), {"preprocessing": None, "verbose": False},
                                           workers))
    assert set(rows[2]) == {"vae_2", "ae_2"}
    for kind in ("vae", "ae"):
        a, b = load(tmp_path / f"{kind}_0.npz"), load(tmp_path / f"{kind}_2.npz")
        assert rows[0][f"{kind}_0"]["epochs"] == rows[2][f"{kind}_2"]["epochs"] == 3
        np.testing.assert_allclose(a.encode(Xv), b.encode(Xv), rtol=1e-4, atol=1e-5)
