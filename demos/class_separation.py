"""How well the classes separate in the VAE latent space, and what its axes mean (beyond the paper).

Portillo et al. (2020, Sec. 3.2) see the classes separate in the corner plot (Figure 8); on the
synthetic survey the truth is known, so this demo puts numbers on it (issue 7, item 6).

What the reader sees: ``class_separation.png``, left, the cross-validated balanced accuracy of
a k-nearest-neighbour classifier (k = 15, 5 stratified folds, the same folds for every space)
of the four classes (quiescent, emission-line, narrow-line AGN, broad-line AGN) of the
validation spectra, in the VAE latent means and in the PCA coefficients of the same dimension,
raw and with every dimension scaled to unit variance, against chance (dashed); right, the
Spearman rank correlation of each VAE axis (rows) with each true parameter of the synthetic
survey (light-weighted age, metallicity, dust, stellar and gas velocity dispersion, AGN
fraction, burst fraction, redshift, S/N). Both are printed.

What to look for: the VAE space separates the classes at least as well as PCA's with the same
number of numbers, the clearest gain being for the AGN classes; VAE 1 correlates strongly with
age (and dust), a later axis with the AGN fraction or the line widths. Real data (no TRUE_*
columns) gets the separation panel only.

Usage: python demos/class_separation.py [--run DIR] [--out DIR]
"""
import time

import numpy as np
from matplotlib.figure import Figure

from _demo_run import demo_parser, run_from_args, save_png
from npvae.analysis import compare_separation, fit_latent_axes, truth_correlations
from npvae.baselines import PCA
from npvae.baselines.metrics import CLASSES

TRUTH_COLUMNS = ("TRUE_AGE_LW", "TRUE_MH", "TRUE_EBV", "TRUE_SIGMA_STAR", "TRUE_SIGMA_GAS",
                 "TRUE_AGN_FRAC", "TRUE_BURST_FRAC", "TRUE_Z", "TRUE_SN")


def separation(run, vae, k, seed):
    """{"raw": {...}, "standardized": {...}} k-NN results for the VAE and PCA spaces."""
    valid = run.valid
    keep = np.isin(valid.labels, CLASSES)                                 # (N_valid,)
    pca = PCA(vae.n_latent).fit(run.train.flux)
    codes = {"VAE": vae.transform(valid.flux[keep]), f"PCA {vae.n_latent}": pca.transform(valid.flux[keep])}
    labels = valid.labels[keep]
    names, counts = np.unique(labels, return_counts=True)
    print(f"{keep.sum()} validation spectra: " + ", ".join(f"{n} {c}" for n, c in zip(names, counts)))
    return {mode: compare_separation(codes, labels, k=k, rng=seed, standardize=(mode == "standardized"))
            for mode in ("raw", "standardized")}


def correlations(run, vae):
    """Spearman rho of the VAE axes with the TRUE_* columns, or None without them."""
    data = run.data
    cols = [c for c in TRUTH_COLUMNS if c in data.catalog.colnames]
    if not cols:
        return None
    gal = ~data.is_star & np.isin(data.labels, CLASSES)                  # (N,)
    axes = fit_latent_axes(vae.transform(run.train.flux))
    coords = axes.transform(vae.transform(data.flux[gal]))               # (N_gal, Z)
    return truth_correlations(coords, {c: np.asarray(data.catalog[c], np.float64)[gal] for c in cols})


def draw(sep, corr):
    fig = Figure(figsize=(14 if corr is not None else 5, 4.5))
    grid = fig.add_gridspec(1, 2, width_ratios=(1, 2.2)) if corr is not None else fig.add_gridspec(1, 1)
    ax = fig.add_subplot(grid[0, 0])
    spaces = list(sep["raw"])
    x = np.arange(len(spaces))
    for j, mode in enumerate(sep):
        acc = [sep[mode][s]["balanced_accuracy"] for s in spaces]
        err = [sep[mode][s]["std"] for s in spaces]
        ax.bar(x + (j - 0.5) * 0.38, acc, 0.38, yerr=err, capsize=3, label=mode, color=f"C{j}")
    ax.axhline(sep["raw"][spaces[0]]["chance"], color="k", ls="--", lw=0.8, label="chance")
    ax.set(xticks=x, xticklabels=spaces, ylim=(0, 1), ylabel="balanced accuracy (15-NN, 5-fold CV)",
           title="class separation")
    ax.legend(fontsize=8, loc="lower right")
    if corr is not None:
        ax = fig.add_subplot(grid[0, 1])
        image = ax.imshow(corr.rho, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(corr.rho):
            ax.text(j, i, "-" if np.isnan(value) else f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="w" if abs(np.nan_to_num(value)) > 0.6 else "k")
        ax.set_xticks(range(len(corr.params)), [p.replace("TRUE_", "") for p in corr.params], rotation=30,
                      ha="right", fontsize=8)
        ax.set_yticks(range(corr.rho.shape[0]), [f"VAE {i + 1}" for i in range(corr.rho.shape[0])], fontsize=8)
        ax.set_title("Spearman rho: VAE axes vs synthetic truth")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--k", type=int, default=15, help="neighbours of the k-NN classifier")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae = run.model("vae")
    sep = separation(run, vae, args.k, args.seed)
    print(f"\n{'space':8s} {'raw':>14s} {'standardized':>14s}   (balanced accuracy +- std over folds)")
    for space in sep["raw"]:
        print(f"{space:8s} " + " ".join(f"{sep[m][space]['balanced_accuracy']:8.3f} +-{sep[m][space]['std']:.3f}"
                                       for m in sep))
    print(f"chance {sep['raw'][space]['chance']:.3f}; classes left out (< 5 members): "
          f"{sep['raw'][space]['dropped_classes'] or 'none'}")
    corr = correlations(run, vae)
    if corr is not None:
        print("\nbest VAE axis per true parameter (Spearman rho):")
        for param, (axis, rho) in corr.best_axis().items():
            print(f"  {param:16s} VAE {axis + 1}  rho {rho:+.2f}")
    save_png(draw(sep, corr), args.out, "class_separation")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return sep, corr


if __name__ == "__main__":
    main()
