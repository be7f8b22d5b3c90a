"""Every latent figure builds and saves on small data (Agg): ``_smoke`` tests; the others read the
drawn artists back and check that each figure shows its data (points, lines, image, bars)."""
import numpy as np
import pytest

from npvae.analysis import (axis_traversals, decode_track, decode_traversals, fit_latent_axes,
                            knn_separation, noise_sensitivity, preset_track, truth_correlations)
from npvae.plots import latent as plots
from npvae.utils import NpvaeError

CLASSES = np.array(["quiescent", "emission", "nlagn", "blagn"])


@pytest.fixture(scope="module")
def toy():
    """Latent cloud (N=400, Z=6), labels, a linear decoder onto D=120 pixels and the axes."""
    rng = np.random.default_rng(0)
    labels = CLASSES[rng.choice(4, 400, p=[0.6, 0.3, 0.06, 0.04])]
    centers = rng.standard_normal((4, 6)) * 2
    mu = centers[np.searchsorted(CLASSES, labels, sorter=np.argsort(CLASSES))] \
        + rng.standard_normal((400, 6))
    wave = np.geomspace(3400, 8300, 120)
    basis = rng.standard_normal((6, 120)) * 0.1
    decode = lambda z: 1.0 + z @ basis
    return dict(rng=rng, labels=labels, mu=mu, wave=wave, decode=decode,
                axes=fit_latent_axes(mu))


def _saved(fig, path):
    """Save the figure and return the file size in bytes."""
    fig.savefig(path, dpi=50)
    return path.stat().st_size


def test_corner_and_projection_figures_smoke(toy, tmp_path):
    coords = toy["axes"].transform(toy["mu"])
    fig = plots.plot_corner(coords, toy["labels"], n_axes=4)
    assert sum(ax.get_visible() for ax in fig.axes) == 10 and _saved(fig, tmp_path / "c.png") > 0
    tracks = [preset_track(n, toy["mu"], toy["labels"], toy["axes"])
              for n in ("star_formation", "active_galaxies")]
    fig = plots.plot_track_projections(coords, toy["labels"], tracks, toy["axes"])
    assert len(fig.axes) == 2 and _saved(fig, tmp_path / "t.png") > 0
    fig = plots.plot_stars_in_latent(coords, toy["labels"], coords[:7] + 5)
    assert _saved(fig, tmp_path / "s.png") > 0
    with pytest.raises(NpvaeError):
        plots.plot_corner(coords, toy["labels"][:5])


def test_spectra_figures_smoke(toy, tmp_path):
    track = preset_track("star_formation", toy["mu"], toy["labels"], toy["axes"])
    spectra = decode_track(toy["decode"], track.centroids)
    fig = plots.plot_offset_spectra(toy["wave"], spectra, track.point_names, "star formation")
    assert len(fig.axes[0].lines) >= spectra.shape[0] and _saved(fig, tmp_path / "sf.png") > 0
    points, _ = axis_traversals(toy["axes"], toy["mu"], n_axes=3)
    fig = plots.plot_traversals(toy["wave"], decode_traversals(toy["decode"], points))
    assert _saved(fig, tmp_path / "tr.png") > 0
    faded = toy["rng"].random((3, 120)) < 0.1
    fig = plots.plot_outlier_spectra(toy["wave"], spectra[:3], faded, ["O1", "O2", "O3"],
                                     [3.0, 2.0, 1.5])
    assert len(fig.axes[0].lines) >= 6 and _saved(fig, tmp_path / "o.png") > 0
    with pytest.raises(NpvaeError):
        plots.plot_offset_spectra(toy["wave"][:10], spectra)


def test_score_figures_smoke(toy, tmp_path):
    basis = toy["rng"].standard_normal((120, 6)) * 0.05
    encode = lambda X: (X @ basis, np.full((X.shape[0], 6), -2.0))
    res = noise_sensitivity(encode, toy["decode"](toy["mu"][:1])[0], None, [3, 10, 30],
                            n_draws=20, rng=1)
    assert _saved(plots.plot_noise_sensitivity(res), tmp_path / "n.png") > 0
    truth = {"age": toy["mu"][:, 0], "dust": toy["rng"].random(400)}
    tc = truth_correlations(toy["axes"].transform(toy["mu"]), truth)
    assert _saved(plots.plot_truth_correlations(tc), tmp_path / "rho.png") > 0
    sep = {"VAE": knn_separation(toy["mu"], toy["labels"], k=5, rng=0),
           "PCA": knn_separation(toy["mu"][:, ::-1], toy["labels"], k=5, rng=0)}
    assert _saved(plots.plot_separation(sep), tmp_path / "sep.png") > 0


def _rows(*columns):
    """Points as rows sorted lexicographically, to compare point sets drawn in any order."""
    a = np.column_stack(columns)
    return a[np.lexsort(a.T[::-1])]


def test_corner_panel_i_j_shows_axis_j_against_axis_i(toy):
    coords = toy["axes"].transform(toy["mu"])                             # (N, Z)
    fig = plots.plot_corner(coords, toy["labels"], n_axes=4)
    grid = np.array(fig.axes[:16]).reshape(4, 4)
    for i in range(4):
        for j in range(i):
            drawn = np.vstack([c.get_offsets() for c in grid[i, j].collections])   # (N, 2)
            np.testing.assert_allclose(_rows(*drawn.T), _rows(coords[:, j], coords[:, i]))


def test_track_projections_and_stars_are_drawn_at_their_coordinates(toy):
    coords = toy["axes"].transform(toy["mu"])
    track = preset_track("star_formation", toy["mu"], toy["labels"], toy["axes"])
    fig = plots.plot_track_projections(coords, toy["labels"], [track], toy["axes"], pairs=((0, 1),))
    line, = fig.axes[0].get_lines()
    want = toy["axes"].transform(track.centroids)                         # (B, Z)
    np.testing.assert_allclose(np.column_stack(line.get_data()), want[:, :2])
    stars = coords[:7] + 5
    fig = plots.plot_stars_in_latent(coords, toy["labels"], stars, pairs=((0, 4),))
    star_points = fig.axes[0].collections[-1].get_offsets()
    np.testing.assert_allclose(star_points, stars[:, [0, 4]])


def test_offset_spectra_are_the_spectra_shifted_by_multiples_of_one_offset(toy):
    track = preset_track("star_formation", toy["mu"], toy["labels"], toy["axes"])
    spectra = decode_track(toy["decode"], track.centroids)                # (B, D)
    fig = plots.plot_offset_spectra(toy["wave"], spectra, track.point_names, offset=0.7)
    lines = [l for l in fig.axes[0].get_lines() if len(l.get_xdata()) == toy["wave"].size]
    assert len(lines) == len(spectra)
    for b, line in enumerate(lines):
        np.testing.assert_allclose(line.get_xdata(), toy["wave"])
        np.testing.assert_allclose(line.get_ydata() - spectra[b], 0.7 * b, atol=1e-12)
    points, _ = axis_traversals(toy["axes"], toy["mu"], n_axes=3)
    decoded = decode_traversals(toy["decode"], points)                    # (K, P, D)
    fig = plots.plot_traversals(toy["wave"], decoded)
    for k in range(3):
        ys = [l.get_ydata() for l in fig.axes[k].get_lines() if len(l.get_xdata()) == toy["wave"].size]
        shifts = np.array([y - d for y, d in zip(ys, decoded[k])])        # (P, D)
        assert np.ptp(shifts, axis=1).max() < 1e-12 and np.all(np.diff(shifts[:, 0]) > 0)


def test_outlier_figure_puts_the_top_outlier_on_top_with_bad_pixels_pale(toy):
    X = np.vstack([np.full(120, 3.0), np.full(120, 2.0), np.full(120, 1.0)])  # top outlier first
    faded = np.zeros((3, 120), bool)
    faded[0, 10:20] = True
    fig = plots.plot_outlier_spectra(toy["wave"], X, faded, ["O1", "O2", "O3"], [3.0, 2.0, 1.5])
    solid = [l for l in fig.axes[0].get_lines() if l.get_alpha() is None and len(l.get_xdata()) == 120]
    top = max(solid, key=lambda l: np.nanmax(l.get_ydata()))
    y = np.asarray(top.get_ydata())
    assert np.all(np.isnan(y[10:20])) and np.allclose(y[~np.isnan(y)] - 3.0, y[0] - 3.0)
    texts = sorted(fig.axes[0].texts, key=lambda t: t.get_position()[1])
    assert "O1" in texts[-1].get_text() and "LOF 3.00" in texts[-1].get_text()


def test_score_figures_show_the_ratios_correlations_and_accuracies(toy):
    basis = toy["rng"].standard_normal((120, 6)) * 0.05
    encode = lambda X: (X @ basis, np.full((X.shape[0], 6), -2.0))
    res = noise_sensitivity(encode, toy["decode"](toy["mu"][:1])[0], None, [3, 10, 30],
                            n_draws=20, rng=1)
    left = plots.plot_noise_sensitivity(res, dims=[0, 2]).axes[0]
    lines = [l for l in left.get_lines() if len(l.get_xdata()) == 3]
    for line, k in zip(lines, (0, 2)):
        np.testing.assert_allclose(line.get_xdata(), [3, 10, 30])
        np.testing.assert_allclose(line.get_ydata(), res.ratio[:, k])
    tc = truth_correlations(toy["axes"].transform(toy["mu"]), {"age": toy["mu"][:, 0],
                                                                "dust": toy["rng"].random(400)})
    image = plots.plot_truth_correlations(tc).axes[0].get_images()[0]
    np.testing.assert_allclose(image.get_array(), tc.rho)
    sep = {"VAE": knn_separation(toy["mu"], toy["labels"], k=5, rng=0),
           "PCA": knn_separation(toy["mu"][:, ::-1], toy["labels"], k=5, rng=0)}
    ax = plots.plot_separation(sep).axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    np.testing.assert_allclose(heights, [sep["VAE"]["balanced_accuracy"], sep["PCA"]["balanced_accuracy"]])
    chance, = [l for l in ax.get_lines() if l.get_linestyle() == "--"]
    assert chance.get_ydata()[0] == sep["VAE"]["chance"]
