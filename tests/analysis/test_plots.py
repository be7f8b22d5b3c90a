"""Every latent figure builds and saves on small data (Agg)."""
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


def test_corner_and_projection_figures_save(toy, tmp_path):
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


def test_spectra_figures_save(toy, tmp_path):
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


def test_score_figures_save(toy, tmp_path):
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
