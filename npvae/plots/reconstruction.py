"""Figures 3 to 7 of Portillo et al. 2020: reconstruction error and zooms on spectral lines.

Figure 3 plots the weighted mean squared error against the number of parameters for each
method (all spectra and each class); Figures 4 to 7 zoom on lines of four example spectra
chosen the paper's way, with the data, its 1-sigma band and the reconstructions.
Doc: docs/baselines.md. Every function returns a matplotlib Figure (Agg) and never shows it.

Shapes: N spectra, D pixels.
"""
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..paper import CLASS_NAMES, CLASSES  # noqa: E402
from ..utils import NpvaeError  # noqa: E402

__all__ = ["ZOOM_WINDOWS", "EXAMPLE_WINDOWS", "CLASS_TITLES", "plot_error_vs_params",
           "plot_reconstruction_zooms", "choose_example_spectra", "halpha_ew_proxy"]

# rest-frame windows (Angstrom) and the lines marked in them
ZOOM_WINDOWS = {
    "Na D": ((5850.0, 5945.0), (5890.0, 5896.0)),
    "[N II] + Halpha": ((6500.0, 6625.0), (6548.0, 6563.0, 6584.0)),
    "[O II]": ((3680.0, 3780.0), (3726.0, 3729.0)),
    "Hbeta + [O III]": ((4820.0, 5030.0), (4861.0, 4959.0, 5007.0)),
    "[S II]": ((6680.0, 6770.0), (6716.0, 6731.0)),
}
# the panels of the paper's Figures 4 to 7, by example
EXAMPLE_WINDOWS = {
    "high_sn_quiescent": ("Na D", "[N II] + Halpha"),
    "low_sn_quiescent": ("Na D", "[N II] + Halpha"),
    "extreme_emission": ("[O II]", "[N II] + Halpha", "[S II]"),
    "broad_line_agn": ("Hbeta + [O III]", "[N II] + Halpha", "[S II]"),
}
CLASS_TITLES = {"all": "all spectra", **CLASS_NAMES}


def plot_error_vs_params(table, classes=("all",) + CLASSES,
                         statistic="mean", ylabel="weighted MSE"):
    """Figure 3: the metric against the number of parameters, one line per method, log y.

    table: {method: {str(n_params): {class: {"mean", "median", "n"}}}} as made by
    npvae.baselines.metrics.reconstruction_table. One panel per entry of ``classes``.
    """
    if not table:
        raise NpvaeError("plot_error_vs_params: the table is empty")
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 3.2), sharex=True,
                             squeeze=False)
    for ax, cls in zip(axes[0], classes):
        for method, by_params in table.items():
            pts = [(int(p), row[cls][statistic]) for p, row in by_params.items()
                   if cls in row and row[cls][statistic] is not None]
            if pts:
                p, v = np.array(sorted(pts)).T                         # (P,), (P,)
                ax.plot(p, v, "o-", label=method)
        ax.set_yscale("log")
        ax.set_title(CLASS_TITLES.get(cls, cls))
        ax.set_xlabel("number of parameters")
        ax.set_xticks(sorted({int(p) for bp in table.values() for p in bp}))
    axes[0, 0].set_ylabel(ylabel)
    with_lines = [ax for ax in axes[0] if ax.get_lines()]   # a class may have no spectrum
    if with_lines:
        with_lines[-1].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _params_of(label):
    """Trailing integer of a reconstruction label ("PCA 6" -> 6), or None."""
    m = re.search(r"(\d+)\s*$", label)
    return int(m.group(1)) if m else None


def plot_reconstruction_zooms(wave, x, w, recons, title="", windows=tuple(ZOOM_WINDOWS)):
    """Figures 4 to 7: zoom panels (columns: windows) of one spectrum and its reconstructions.

    wave (D,) rest Angstrom, x (D,) flux, w (D,) inverse variance (0 = bad pixel),
    recons {label: (D,)}. Labels ending in a number ("PCA 2", "VAE 2") are grouped in rows by
    that number; otherwise everything goes in one row. The band is x +- 1/sqrt(w), drawn only
    where w > 0.
    """
    wave, x, w = (np.asarray(a, dtype=np.float64) for a in (wave, x, w))
    if not (wave.ndim == x.ndim == w.ndim == 1 and wave.shape == x.shape == w.shape):
        raise NpvaeError(f"wave {wave.shape}, x {x.shape}, w {w.shape} must be 1-d, same length")
    unknown = [k for k in windows if k not in ZOOM_WINDOWS]
    if unknown:
        raise NpvaeError(f"unknown zoom windows {unknown}; known: {list(ZOOM_WINDOWS)}")
    rows = sorted({_params_of(k) for k in recons} - {None}) or [None]
    fig, axes = plt.subplots(len(rows), len(windows), figsize=(3.6 * len(windows),
                             2.4 * len(rows) + 0.6), squeeze=False, sharex="col")
    sigma = np.where(w > 0, 1.0 / np.sqrt(np.where(w > 0, w, 1.0)), np.nan)   # (D,)
    colors = {}
    for i, n in enumerate(rows):
        for j, key in enumerate(windows):
            ax = axes[i, j]
            (lo, hi), lines = ZOOM_WINDOWS[key]
            sel = (wave >= lo) & (wave <= hi)                          # (D,)
            ax.fill_between(wave[sel], (x - sigma)[sel], (x + sigma)[sel], color="0.8",
                            step="mid", label="data 1-sigma")
            ax.step(wave[sel], np.where(w > 0, x, np.nan)[sel], "k", where="mid", lw=0.8,
                    label="data")
            for label, r in recons.items():
                if _params_of(label) == n or n is None:
                    c = colors.setdefault(label.rsplit(" ", 1)[0], f"C{len(colors)}")
                    ax.plot(wave[sel], np.asarray(r)[sel], color=c, lw=1.2, label=label)
            for line in lines:
                ax.axvline(line, color="0.6", ls=":", lw=0.7)
            ax.set_xlim(lo, hi)
            if i == 0:
                ax.set_title(key)
            if i == len(rows) - 1:
                ax.set_xlabel("rest wavelength [A]")
            if j == 0:
                ax.set_ylabel("flux" if n is None else f"{n} parameters")
            if j == len(windows) - 1:
                ax.legend(fontsize="x-small", loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def halpha_ew_proxy(x, w, wave, line=(6553.0, 6573.0), sides=((6480.0, 6530.0), (6600.0, 6650.0))):
    """H-alpha emission equivalent width proxy, EW = sum_line (x / cont - 1) dlambda (Angstrom).

    cont is the weighted mean of the good pixels in the side bands. x, w (N, D), wave (D,) ->
    (N,); -inf where the line or the side bands have no good pixel or cont <= 0.
    """
    x, w, wave = (np.asarray(a, dtype=np.float64) for a in (x, w, wave))
    side = np.zeros(wave.shape, bool)
    for lo, hi in sides:
        side |= (wave >= lo) & (wave <= hi)
    in_line = (wave >= line[0]) & (wave <= line[1])                    # (D,)
    good = w > 0                                                       # (N, D)
    ws = np.where(good[:, side], w[:, side], 0.0)                      # (N, S)
    cont = (ws * x[:, side]).sum(1) / np.maximum(ws.sum(1), 1e-300)    # (N,)
    dlam = np.gradient(wave)[in_line]                                  # (L,)
    ratio = x[:, in_line] / np.where(cont > 0, cont, 1.0)[:, None] - 1.0   # (N, L)
    ew = (np.where(good[:, in_line], ratio, 0.0) * dlam).sum(1)        # (N,)
    ok = (cont > 0) & good[:, in_line].any(1) & (ws.sum(1) > 0)
    return np.where(ok, ew, -np.inf)


def choose_example_spectra(labels, sn, x, w, wave=None, sn_low=11.0):
    """The paper's four example spectra (Figs. 4 to 7), as {name: index}.

    high_sn_quiescent: the quiescent spectrum of highest S/N; low_sn_quiescent: the quiescent
    spectrum with S/N closest to ``sn_low`` (the paper's was 11); extreme_emission: the
    emission-line galaxy with the largest H-alpha equivalent-width proxy
    (:func:`halpha_ew_proxy`); broad_line_agn: the broad-line AGN of highest S/N. A class
    with no spectrum is left out. labels (N,), sn (N,) median pixel S/N, x, w (N, D),
    wave (D,) rest Angstrom (default: the npvae grid 10^(3.53 + 3.9e-4 i)).
    """
    labels = np.asarray(labels).astype(str)
    sn = np.asarray(sn, dtype=np.float64)
    x = np.asarray(x)
    if labels.shape != sn.shape or x.shape[0] != labels.size or np.shape(w) != x.shape:
        raise NpvaeError(f"labels {labels.shape}, sn {sn.shape}, x {x.shape}, w {np.shape(w)} "
                         "must describe the same N spectra")
    if wave is None:
        wave = 10 ** (3.53 + 3.9e-4 * np.arange(x.shape[1]))
    out = {}
    q = np.flatnonzero(labels == "quiescent")
    if q.size:
        out["high_sn_quiescent"] = int(q[np.argmax(sn[q])])
        out["low_sn_quiescent"] = int(q[np.argmin(np.abs(sn[q] - sn_low))])
    e = np.flatnonzero(labels == "emission")
    if e.size:
        out["extreme_emission"] = int(e[np.argmax(halpha_ew_proxy(x[e], np.asarray(w)[e], wave))])
    b = np.flatnonzero(labels == "blagn")
    if b.size:
        out["broad_line_agn"] = int(b[np.argmax(sn[b])])
    return out
