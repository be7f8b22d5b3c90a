"""Figures of the latent-space analyses (paper Figs. 8 to 17); the numbers come from npvae.analysis.

Each function takes arrays or the result objects of :mod:`npvae.analysis`, draws on a new
matplotlib Figure (Agg, never shown) and returns it; the caller saves it. Large N stays legible:
small points, transparency, rasterised scatter, classes drawn rare-on-top, limits set by
percentiles so that a few outliers do not squash the cloud. Doc: docs/analysis.md.

Shapes: N spectra, K axes, D pixels, B track points, P percentiles, L noise levels, Z latent.
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter
from matplotlib.transforms import blended_transform_factory

from ..utils import NpvaeError

__all__ = ["CLASS_COLORS", "MAIN_LINES", "plot_corner", "plot_track_projections",
           "plot_offset_spectra", "plot_traversals", "plot_outlier_spectra",
           "plot_stars_in_latent", "plot_noise_sensitivity", "plot_truth_correlations",
           "plot_separation"]

CLASS_COLORS = {"quiescent": "#d62728", "emission": "#1f77b4", "nlagn": "#2ca02c",
                "blagn": "#9467bd", "other": "#7f7f7f", "star": "#ff7f0e"}
# rest-frame lines labelled on decoded spectra (Angstrom, air-ish; labels only)
MAIN_LINES = [("[O II]", 3727.4), ("K", 3933.7), ("H", 3968.5), ("Hd", 4101.7), ("Hg", 4340.5),
              ("Hb", 4861.3), ("[O III]", 5006.8), ("Mg b", 5175.0), ("Na D", 5892.9),
              ("Ha", 6562.8), ("[N II]", 6583.5), ("[S II]", 6716.4)]


def _point_style(n):
    """Marker size and alpha that keep n points legible: s ~ 20000 / n within [0.3, 12]."""
    return float(np.clip(2e4 / max(n, 1), 0.3, 12.0)), float(np.clip(3e3 / max(n, 1), 0.15, 0.9))


def _class_order(labels):
    """Class names by decreasing count, so that rare classes are drawn last (on top)."""
    names, counts = np.unique(np.asarray(labels).astype(str), return_counts=True)
    return list(names[np.argsort(-counts, kind="stable")])


def _limits(values, pad=0.05):
    """Axis limits from the 0.2 and 99.8 percentiles, padded."""
    lo, hi = np.nanpercentile(values, [0.2, 99.8])
    span = hi - lo if hi > lo else 1.0
    return lo - pad * span, hi + pad * span


def _scatter_classes(ax, x, y, labels, size, alpha):
    """Scatter x, y coloured by class, frequent classes first; rare classes get more opacity."""
    for name in _class_order(labels):
        sel = labels == name
        class_alpha = max(alpha, _point_style(sel.sum())[1])
        ax.scatter(x[sel], y[sel], s=size, alpha=class_alpha, lw=0, color=CLASS_COLORS.get(name),
                   rasterized=True)


def _class_legend(target, labels, extra=(), **kwargs):
    """Legend with one opaque marker per class and its count (scatter alphas are too faint).

    extra: (label, marker, color) tuples appended after the classes.
    """
    from matplotlib.lines import Line2D

    entries = [(f"{name} ({(labels == name).sum()})", "o", CLASS_COLORS.get(name))
               for name in _class_order(labels)] + list(extra)
    handles = [Line2D([], [], ls="", marker=marker, ms=7, color=color, label=text)
               for text, marker, color in entries]
    return target.legend(handles=handles, fontsize=8, **kwargs)


def plot_corner(coords, labels, n_axes=6, axis_names=None):
    """Corner plot of the first ``n_axes`` VAE axes coloured by class (Fig. 8).

    coords (N, K) from ``LatentAxes.transform``; labels (N,) str. Diagonal: per-class
    normalised histograms; lower triangle: scatter of every pair.
    """
    coords = np.asarray(coords, dtype=np.float64)
    labels = np.asarray(labels).astype(str)
    if coords.ndim != 2 or labels.shape != (coords.shape[0],):
        raise NpvaeError(f"coords (N, K) and labels (N,) expected, got {coords.shape}, "
                         f"{labels.shape}")
    k = min(int(n_axes), coords.shape[1])
    names = axis_names or [f"VAE {i + 1}" for i in range(k)]
    size, alpha = _point_style(coords.shape[0])
    fig = Figure(figsize=(2.0 * k + 1, 2.0 * k + 1))
    grid = fig.subplots(k, k, squeeze=False)
    lims = [_limits(coords[:, i]) for i in range(k)]
    for i in range(k):
        for j in range(k):
            ax = grid[i, j]
            if j > i:
                ax.set_visible(False)
                continue
            if i == j:
                bins = np.linspace(*lims[i], 40)
                for name in _class_order(labels):
                    ax.hist(coords[labels == name, i], bins=bins, density=True, histtype="step",
                            color=CLASS_COLORS.get(name))
                ax.set_yticks([])
            else:
                _scatter_classes(ax, coords[:, j], coords[:, i], labels, size, alpha)
                ax.set_ylim(lims[i])
            ax.set_xlim(lims[j])
            ax.tick_params(labelsize=6)
            ax.set_xlabel(names[j] if i == k - 1 else "", fontsize=8)
            ax.set_ylabel(names[i] if j == 0 and i > 0 else "", fontsize=8)
    _class_legend(fig, labels, loc="upper right", frameon=False)
    fig.subplots_adjust(wspace=0.08, hspace=0.08)
    return fig


def _projection_panels(coords, labels, pairs):
    """One panel per (x, y) axis pair with the spectra drawn by class; returns what the caller adds to."""
    coords = np.asarray(coords, dtype=np.float64)                    # (N, K)
    labels = np.asarray(labels).astype(str)
    pairs = [p for p in pairs if max(p) < coords.shape[1]]
    fig = Figure(figsize=(5.5 * len(pairs), 5))
    panels = np.atleast_1d(fig.subplots(1, len(pairs)))
    size, alpha = _point_style(coords.shape[0])
    for ax, (a, b) in zip(panels, pairs):
        _scatter_classes(ax, coords[:, a], coords[:, b], labels, size, min(alpha, 0.3))
    return coords, labels, fig, panels, pairs


def plot_track_projections(coords, labels, tracks, axes, pairs=((0, 1), (0, 4))):
    """The tracks over the cloud of spectra on VAE-axis pairs (Fig. 9).

    coords (N, K), labels (N,), tracks: list of ``Track``, axes: the ``LatentAxes`` that made
    ``coords`` (to place the track centroids). pairs: 0-based (x, y) axes per panel.
    """
    coords, labels, fig, panels, pairs = _projection_panels(coords, labels, pairs)
    for ax, (a, b) in zip(panels, pairs):
        for track in tracks:
            pts = axes.transform(track.centroids[np.isfinite(track.centroids).all(axis=1)])
            ax.plot(pts[:, a], pts[:, b], "k-o", ms=4, lw=1.5)
            for name, p in zip(track.point_names, pts):
                ax.annotate(name, (p[a], p[b]), xytext=(3, 3), textcoords="offset points",
                            fontsize=8, weight="bold")
        ax.set(xlim=_limits(coords[:, a]), ylim=_limits(coords[:, b]),
               xlabel=f"VAE {a + 1}", ylabel=f"VAE {b + 1}")
    _class_legend(panels[0], labels, loc="best")
    return fig


def _label_lines(ax, wave, lines):
    """Dotted vertical lines with names at the top for the lines inside the wavelength range."""
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (name, lam) in enumerate(lines):
        if wave[0] <= lam <= wave[-1]:
            ax.axvline(lam, color="0.6", ls=":", lw=0.7, zorder=0)
            ax.text(lam, 1.01 + 0.035 * (i % 2), name, transform=trans, fontsize=7, ha="center",
                    va="bottom", color="0.3")


def plot_offset_spectra(wave, spectra, names=None, title=None, lines=MAIN_LINES, offset=None,
                        faded=None, ax=None):
    """Spectra stacked with vertical offsets, first at the bottom, lines labelled (Figs. 10-15).

    wave (D,); spectra (B, D); names (B,) written at the right end; faded (B, D) bool pixels
    drawn pale (bad / infilled). offset defaults to the median 1-99 percentile span.
    """
    spectra = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    wave = np.asarray(wave, dtype=np.float64)
    if spectra.shape[1] != wave.shape[0]:
        raise NpvaeError(f"spectra have {spectra.shape[1]} pixels, wave has {wave.shape[0]}")
    fig = None
    if ax is None:
        fig = Figure(figsize=(11, 1.5 + 0.9 * spectra.shape[0]))
        ax = fig.subplots()
        longest = max((len(str(n)) for n in names), default=0) if names is not None else 0
        fig.subplots_adjust(left=0.07, right=max(0.6, 0.97 - 0.0075 * longest))   # room for names
    if offset is None:
        spans = np.nanpercentile(spectra, 99, axis=1) - np.nanpercentile(spectra, 1, axis=1)
        offset = float(np.nanmedian(spans)) if np.isfinite(spans).any() else 1.0
    for b, spec in enumerate(spectra):
        y = spec + b * offset
        color = f"C{b % 10}"
        if faded is not None:
            ax.plot(wave, y, color=color, lw=0.7, alpha=0.25)
            y = np.where(np.asarray(faded[b], bool), np.nan, y)
        ax.plot(wave, y, color=color, lw=0.8)
        if names is not None:             # at the spectrum's median level: evenly spaced, no overlap
            level = b * offset + (np.nanmedian(spec) if np.isfinite(spec).any() else 0.0)
            ax.text(1.005, level, names[b], fontsize=8, va="center", color=color, clip_on=False,
                    transform=blended_transform_factory(ax.transAxes, ax.transData))
    _label_lines(ax, wave, lines)
    ax.set(xlim=(wave[0], wave[-1]), xlabel="rest wavelength [A]",
           ylabel="normalised flux + offset")
    if title:
        ax.set_title(title, pad=34, fontsize=10)
    return fig if fig is not None else ax.figure


def plot_traversals(wave, decoded, percentiles=(1, 16, 50, 84, 99)):
    """Decoded single-axis traversals (Fig. 14): one panel per axis, percentiles offset.

    decoded (K, P, D) from ``decode_traversals``.
    """
    decoded = np.asarray(decoded, dtype=np.float64)
    k = decoded.shape[0]
    ncol = 2 if k > 1 else 1
    nrow = int(np.ceil(k / ncol))
    fig = Figure(figsize=(7 * ncol, 4.2 * nrow))
    panels = np.atleast_1d(fig.subplots(nrow, ncol)).ravel()
    for i, ax in enumerate(panels):
        if i >= k:
            ax.set_visible(False)
            continue
        plot_offset_spectra(wave, decoded[i], [f"p{p:g}" for p in percentiles],
                            title=f"VAE {i + 1}", ax=ax)
    fig.tight_layout()
    return fig


def plot_outlier_spectra(wave, X, faded, ids, scores=None):
    """The top outliers (Fig. 15): spectra (B, D) offset, bad pixels (faded (B, D)) pale.

    ids: (B,) names like "O1 445-51873-68"; scores appended when given. The top outlier
    is drawn at the top.
    """
    names = [f"{i}" + ("" if scores is None else f"  LOF {s:.2f}") for i, s in
             zip(ids, scores if scores is not None else [None] * len(ids))]
    X, faded = np.asarray(X)[::-1], np.asarray(faded, bool)[::-1]
    fig = plot_offset_spectra(wave, X, names[::-1], title="top outliers", faded=faded)
    return fig


def plot_stars_in_latent(coords, labels, star_coords, pairs=((0, 1), (0, 4))):
    """Stars projected into the latent space over the galaxies (Fig. 16).

    coords (N, K) galaxies with labels (N,); star_coords (S, K) on the same axes.
    """
    star_coords = np.asarray(star_coords, dtype=np.float64)
    coords, labels, fig, panels, pairs = _projection_panels(coords, labels, pairs)
    for ax, (a, b) in zip(panels, pairs):
        ax.scatter(star_coords[:, a], star_coords[:, b], s=40, marker="*",
                   color=CLASS_COLORS["star"], edgecolor="k", lw=0.3)
        both = np.concatenate([coords, star_coords])
        ax.set(xlim=_limits(both[:, a], 0.1), ylim=_limits(both[:, b], 0.1),
               xlabel=f"VAE {a + 1}", ylabel=f"VAE {b + 1}")
    _class_legend(panels[0], labels, extra=[(f"stars ({len(star_coords)})", "*",
                                             CLASS_COLORS["star"])])
    return fig


def plot_noise_sensitivity(result, dims=None):
    """Fig. 17: Var(latent means) / mean reported variance (left) and bias / std (right) vs S/N.

    result: ``NoiseSensitivity``; dims: latent dims drawn (default the constrained ones, or
    all if none is constrained). Error bars on the bias are its standard errors.
    """
    dims = np.flatnonzero(result.constrained) if dims is None else np.atleast_1d(dims)
    dims = np.arange(result.ratio.shape[1]) if dims.size == 0 else dims
    fig = Figure(figsize=(11, 4.2))
    left, right = fig.subplots(1, 2)
    for k in dims:
        left.plot(result.sn_levels, result.ratio[:, k], "o-", ms=3, label=f"z{k + 1}")
        right.errorbar(result.sn_levels, result.bias[:, k], yerr=result.bias_stderr[:, k],
                       fmt="o-", ms=3, capsize=2, label=f"z{k + 1}")
    left.axhline(1.0, color="k", lw=0.8, ls="--")
    left.set(xscale="log", yscale="log", xlabel="S/N of added noise",
             ylabel="Var(latent means) / latent variance")
    for y in (-1.0, 1.0):
        right.axhline(y, color="0.5", lw=0.8, ls=":")
    right.axhline(0.0, color="k", lw=0.8)
    right.set(xscale="log", xlabel="S/N of added noise", ylabel="bias / latent std")
    for ax in (left, right):                       # plain numbers at the levels, no minor labels
        ax.set_xticks(result.sn_levels)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    left.legend(fontsize=8, ncol=2)
    left.set_title(f"{result.n_draws} draws per level", fontsize=9)
    fig.tight_layout()
    return fig


def plot_truth_correlations(result, axis_names=None):
    """Heat map of Spearman rho between VAE axes (rows) and true parameters (columns)."""
    rho = np.asarray(result.rho)
    names = axis_names or [f"VAE {i + 1}" for i in range(rho.shape[0])]
    fig = Figure(figsize=(1.2 + 1.0 * rho.shape[1], 1.0 + 0.45 * rho.shape[0]))
    ax = fig.subplots()
    image = ax.imshow(rho, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), value in np.ndenumerate(rho):
        ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center",
                fontsize=8, color="w" if abs(np.nan_to_num(value)) > 0.6 else "k")
    ax.set_xticks(range(rho.shape[1]), result.params, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(rho.shape[0]), names, fontsize=8)
    fig.colorbar(image, ax=ax, label="Spearman rho")
    fig.tight_layout()
    return fig


def plot_separation(results):
    """Bar chart of k-NN balanced accuracy per code space; results: {name: knn_separation dict}."""
    names = list(results)
    means = [results[n]["balanced_accuracy"] for n in names]
    errs = [results[n]["std"] for n in names]
    fig = Figure(figsize=(1.5 + 1.2 * len(names), 3.5))
    ax = fig.subplots()
    ax.bar(names, means, yerr=errs, capsize=3, color=[f"C{i}" for i in range(len(names))])
    if names:
        ax.axhline(results[names[0]]["chance"], color="k", ls="--", lw=0.8, label="chance")
        ax.legend(fontsize=8)
    ax.set(ylim=(0, 1), ylabel="balanced accuracy (k-NN, CV)")
    fig.tight_layout()
    return fig
