"""Tests of npvae.plots.reconstruction: figures build on small fake data and save to PNG
(``_smoke``), their drawn lines are the data they were given, and the example choice."""
import numpy as np
import pytest

from npvae.baselines.metrics import reconstruction_table
from npvae.plots.reconstruction import (EXAMPLE_WINDOWS, ZOOM_WINDOWS, choose_example_spectra,
                                        halpha_ew_proxy, plot_error_vs_params,
                                        plot_reconstruction_zooms)
from npvae.utils import NpvaeError

WAVE = 10 ** (3.53 + 3.9e-4 * np.arange(1000))                        # (D,)
LABELS = np.array(["quiescent", "quiescent", "emission", "emission", "nlagn", "blagn"])


def fake_spectra(rng, halpha_amp):
    """Flat continuum 1 plus a Gaussian H-alpha line of the given amplitude per spectrum."""
    line = np.exp(-0.5 * ((WAVE - 6563.0) / 3.0) ** 2)                 # (D,)
    amp = np.asarray(halpha_amp)[:, None]                              # (N, 1)
    x = 1.0 + amp * line + 0.01 * rng.normal(size=(amp.size, 1000))
    return x, np.full(x.shape, 1e4)


def test_error_vs_params_smoke(tmp_path):
    rng = np.random.default_rng(0)
    results = {m: {p: rng.uniform(1, 2, LABELS.size) / p for p in (2, 4, 6, 10)}
               for m in ("PCA", "NMF", "VAE")}
    fig = plot_error_vs_params(reconstruction_table(results, LABELS))
    assert len(fig.axes) == 5
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert len(fig.axes[0].get_lines()) == 3                          # one line per method
    fig.savefig(tmp_path / "fig03.png")
    assert (tmp_path / "fig03.png").stat().st_size > 1000


def test_reconstruction_zooms_smoke(tmp_path):
    rng = np.random.default_rng(1)
    x, w = fake_spectra(rng, [2.0])
    w[0, 500:510] = 0.0
    recons = {f"{m} {p}": x[0] + 0.05 * rng.normal(size=1000) for m in ("PCA", "VAE")
              for p in (2, 6)}
    fig = plot_reconstruction_zooms(WAVE, x[0], w[0], recons, title="test")
    assert len(fig.axes) == 2 * len(ZOOM_WINDOWS)                      # rows 2 and 6
    assert len(fig.axes[0].get_lines()) >= 3                          # data, PCA 2, VAE 2
    fig2 = plot_reconstruction_zooms(WAVE, x[0], w[0], {"PCA": x[0]},
                                     windows=EXAMPLE_WINDOWS["broad_line_agn"])
    assert len(fig2.axes) == 3
    fig.savefig(tmp_path / "zoom.png")
    assert (tmp_path / "zoom.png").stat().st_size > 1000
    with pytest.raises(NpvaeError, match="unknown zoom"):
        plot_reconstruction_zooms(WAVE, x[0], w[0], recons, windows=("H gamma",))


def test_error_vs_params_lines_are_the_table_values():
    rng = np.random.default_rng(4)
    results = {m: {p: rng.uniform(1, 2, LABELS.size) / p for p in (2, 4, 6, 10)}
               for m in ("PCA", "VAE")}
    table = reconstruction_table(results, LABELS)
    fig = plot_error_vs_params(table)
    for ax, cls in zip(fig.axes, ("all", "quiescent", "emission", "nlagn", "blagn")):
        for line, method in zip(ax.get_lines(), ("PCA", "VAE")):
            np.testing.assert_array_equal(line.get_xdata(), [2, 4, 6, 10])
            want = [np.mean(results[method][p][LABELS == cls] if cls != "all" else results[method][p])
                    for p in (2, 4, 6, 10)]
            np.testing.assert_allclose(line.get_ydata(), want, rtol=1e-12, err_msg=f"{cls} {method}")


def test_reconstruction_zooms_show_the_data_without_bad_pixels_and_each_row_its_models():
    rng = np.random.default_rng(5)
    x, w = fake_spectra(rng, [2.0])
    (lo, hi), _ = ZOOM_WINDOWS["[N II] + Halpha"]
    sel = (WAVE >= lo) & (WAVE <= hi)                                  # (D,)
    bad = np.flatnonzero(sel)[3:6]
    w[0, bad] = 0.0
    recons = {f"{m} {p}": x[0] + 0.05 * rng.normal(size=1000) for m in ("PCA", "VAE") for p in (2, 6)}
    fig = plot_reconstruction_zooms(WAVE, x[0], w[0], recons, windows=("[N II] + Halpha",))
    for ax, p in zip(fig.axes, (2, 6)):
        data, *models = ax.get_lines()[:3]
        np.testing.assert_allclose(data.get_xdata(), WAVE[sel])
        want = np.where(w[0] > 0, x[0], np.nan)[sel]
        np.testing.assert_array_equal(np.isnan(data.get_ydata()), np.isnan(want))
        np.testing.assert_allclose(data.get_ydata()[~np.isnan(want)], want[~np.isnan(want)])
        assert [m.get_label() for m in models] == [f"PCA {p}", f"VAE {p}"]
        for m in models:
            np.testing.assert_allclose(m.get_ydata(), recons[m.get_label()][sel])


def test_halpha_ew_proxy_matches_the_line_flux():
    rng = np.random.default_rng(2)
    x, w = fake_spectra(rng, [0.0, 1.0, 3.0])
    ew = halpha_ew_proxy(x, w, WAVE)
    # Gaussian area = amp * sqrt(2 pi) * 3 A (continuum 1); the window holds +-10 A = 3.3 sigma
    assert ew[1:] == pytest.approx(np.array([1.0, 3.0]) * np.sqrt(2 * np.pi) * 3.0, rel=0.05)
    assert abs(ew[0]) < 0.2
    w[0] = 0.0
    assert halpha_ew_proxy(x, w, WAVE)[0] == -np.inf


def test_choose_example_spectra_the_papers_way():
    rng = np.random.default_rng(3)
    x, w = fake_spectra(rng, [0.0, 0.0, 1.0, 5.0, 2.0, 8.0])
    sn = np.array([80.0, 12.0, 20.0, 15.0, 30.0, 40.0])
    picks = choose_example_spectra(LABELS, sn, x, w)
    assert picks == {"high_sn_quiescent": 0, "low_sn_quiescent": 1, "extreme_emission": 3,
                     "broad_line_agn": 5}
    no_agn = choose_example_spectra(LABELS[:4], sn[:4], x[:4], w[:4])
    assert "broad_line_agn" not in no_agn
    with pytest.raises(NpvaeError, match="same N"):
        choose_example_spectra(LABELS, sn[:3], x, w)
