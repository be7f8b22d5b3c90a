"""Latent axes, tracks and traversals on small latent clouds with known structure."""
import numpy as np
import pytest

from npvae.analysis import (TRACK_PRESETS, axis_traversals, decode_track, decode_traversals,
                            fit_latent_axes, latent_track, preset_track, resolve_direction)
from npvae.utils import NpvaeError


def _anisotropic_cloud(rng, n=2000):
    """Gaussian cloud with std 5, 2, 1, 0.5 along a random rotation; returns mu, rotation."""
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    return (rng.standard_normal((n, 4)) * [5.0, 2.0, 1.0, 0.5]) @ q.T + 3.0, q


def test_axes_recover_principal_directions_and_variance():
    rng = np.random.default_rng(0)
    mu, q = _anisotropic_cloud(rng)
    axes = fit_latent_axes(mu)
    overlap = np.abs(axes.components_ @ q)                        # (K, Z)
    assert np.allclose(np.diag(overlap), 1.0, atol=0.02)
    assert np.allclose(axes.explained_variance_, [25, 4, 1, 0.25], rtol=0.1)
    assert np.isclose(axes.explained_variance_ratio_.sum(), 1.0)
    coords = axes.transform(mu)
    assert np.allclose(axes.inverse_transform(coords), mu)
    assert np.allclose(coords.mean(axis=0), 0, atol=1e-9)


def test_flipped_axes_negate_coordinates():
    mu, _ = _anisotropic_cloud(np.random.default_rng(1), 300)
    axes = fit_latent_axes(mu)
    c, cf = axes.transform(mu), axes.flipped([1]).transform(mu)
    assert np.allclose(cf[:, 1], -c[:, 1]) and np.allclose(cf[:, 0], c[:, 0])


def test_direction_expressions_combine_axes():
    mu, _ = _anisotropic_cloud(np.random.default_rng(2), 300)
    axes = fit_latent_axes(mu)
    v = axes.components_
    assert np.allclose(resolve_direction("VAE1", axes), v[0])
    assert np.allclose(resolve_direction(2, axes), v[2])
    assert np.allclose(resolve_direction("VAE3+VAE4", axes), (v[2] + v[3]) / np.sqrt(2))
    assert np.allclose(resolve_direction("VAE1 - 2*VAE2", axes), (v[0] - 2 * v[1]) / np.sqrt(5))
    for bad in ("VAE9", "PC1", "VAE1+"):
        with pytest.raises(NpvaeError):
            resolve_direction(bad, axes)
    with pytest.raises(NpvaeError):
        resolve_direction(np.zeros(4), axes)


def test_track_follows_known_one_dimensional_manifold():
    # latent points on the curve f(t) = (t, t^2, sin 3t) plus small noise; track along z_0
    rng = np.random.default_rng(3)
    t = rng.uniform(-1, 1, 6000)
    curve = np.stack([t, t ** 2, np.sin(3 * t)], axis=1)
    mu = curve + 0.01 * rng.standard_normal(curve.shape)
    labels = np.where(rng.random(t.size) < 0.5, "quiescent", "blagn")
    edges = (0, 30, 60, 90, 95, 100)
    track = latent_track(mu, labels, ["quiescent"], [1.0, 0, 0], edges)
    sel = labels == "quiescent"
    assert np.array_equal(track.selected, sel)
    assert np.allclose(track.counts / sel.sum(), np.diff(edges) / 100, atol=0.002)
    for b in range(len(edges) - 1):        # mean of the noise-free curve over the same t bin
        lo, hi = np.percentile(t[sel], edges[b:b + 2])
        t_bin = t[sel & (t >= lo) & (t <= hi)]
        expected = [t_bin.mean(), (t_bin ** 2).mean(), np.sin(3 * t_bin).mean()]
        assert np.allclose(track.centroids[b], expected, atol=0.01)
    assert np.all(np.diff(track.centroids[:, 0]) > 0)
    assert (track.bin_index[~sel] == -1).all() and track.counts.sum() == sel.sum()


def test_track_bins_are_the_selected_spectra_means():
    rng = np.random.default_rng(4)
    mu = rng.standard_normal((500, 3))
    track = latent_track(mu, None, None, [0, 0, 1.0], (0, 50, 100))
    for b in range(2):
        assert np.allclose(track.centroids[b], mu[track.bin_index == b].mean(axis=0))


def test_presets_run_and_decode():
    rng = np.random.default_rng(5)
    mu = rng.standard_normal((1200, 6)) * np.arange(6, 0, -1)
    labels = rng.choice(["quiescent", "emission", "nlagn", "blagn"], size=1200)
    axes = fit_latent_axes(mu)
    weights = rng.standard_normal((6, 20))
    for name, spec in TRACK_PRESETS.items():
        track = preset_track(name, mu, labels, axes)
        assert len(track.point_names) == len(spec["percentile_edges"]) - 1
        assert track.point_names[0] == spec["prefix"] + "1"
        spectra = decode_track(lambda z: z @ weights, track.centroids)
        assert np.allclose(spectra, track.centroids @ weights)
    with pytest.raises(NpvaeError):
        preset_track("nope", mu, labels, axes)
    with pytest.raises(NpvaeError):
        latent_track(mu, labels, ["other"], "VAE1", (0, 100), axes=axes)


def test_traversal_moves_one_axis_through_centroid():
    mu, _ = _anisotropic_cloud(np.random.default_rng(6), 3000)
    axes = fit_latent_axes(mu)
    pct = (1, 16, 50, 84, 99)
    points, coords = axis_traversals(axes, mu, pct)
    assert points.shape == (4, 5, 4) and coords.shape == (4, 5)
    c = axes.transform(points.reshape(-1, 4)).reshape(4, 5, 4)
    for k in range(4):
        assert np.allclose(c[k, :, k], np.percentile(axes.transform(mu)[:, k], pct))
        others = np.delete(c[k], k, axis=1)
        assert np.allclose(others, 0, atol=1e-9)                  # centroid of mu is the origin
    decoded = decode_traversals(lambda z: 2 * z, points)
    assert np.allclose(decoded, 2 * points)
