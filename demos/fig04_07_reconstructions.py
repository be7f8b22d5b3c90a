"""Zooms on spectral lines of four example spectra (Portillo et al. 2020, Figures 4 to 7).

What the reader sees: four PNGs, one per example chosen the paper's way from the validation
set: a high-S/N quiescent galaxy (Fig. 4: Na D and [N II] + H-alpha), a low-S/N quiescent
galaxy, S/N near 11 (Fig. 5, same windows), the emission-line galaxy with the largest
H-alpha equivalent width (Fig. 6: [O II], H-alpha, [S II]) and the highest-S/N broad-line AGN
(Fig. 7: H-beta + [O III], H-alpha, [S II]). Each row is one number of parameters; each panel
shows the data (black, bad pixels left out), its 1-sigma noise band (grey), and the PCA and
VAE reconstructions. The reduced chi^2 of every reconstruction over each window is printed.

What to look for: on a trained run the VAE finds Na D absorption and [N II] emission with few
parameters, and for the broad-line AGN the VAE reproduces the width of the Balmer lines where
PCA's lines stay too narrow even with 10 components. The VAE has one latent size per model in
the run, so VAE rows appear only where the run has that model (the cached demo run: 6).

Usage: python demos/fig04_07_reconstructions.py [--run DIR] [--out DIR] [--params 2 4 6 10]
"""
import time

import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.baselines import PCA
from npvae.plots.reconstruction import (EXAMPLE_WINDOWS, ZOOM_WINDOWS, choose_example_spectra,
                                        plot_reconstruction_zooms)

TITLES = {"high_sn_quiescent": (4, "high-S/N quiescent galaxy"),
          "low_sn_quiescent": (5, "low-S/N quiescent galaxy"),
          "extreme_emission": (6, "extreme emission-line galaxy"),
          "broad_line_agn": (7, "broad-line AGN")}


# ---------------------------------------------------------------- reconstructions
def example_reconstructions(run, examples, params):
    """{name: {"PCA k" / "VAE k": (D,)}} for the chosen validation rows."""
    train, valid = run.train, run.valid
    rows = np.array(list(examples.values()))                            # (E,)
    X = valid.flux[rows]                                                 # (E, D)
    found = {}
    for k in params:
        found[f"PCA {k}"] = PCA(k).fit(train.flux).reconstruct(X)        # (E, D)
        if k in run.latents("vae"):
            found[f"VAE {k}"] = run.model("vae", k).reconstruct(X)       # (E, D)
    return {name: {label: xhat[i] for label, xhat in found.items()} for i, name in enumerate(examples)}


def window_chi2(wave, x, w, xhat, window):
    """Reduced chi^2 sum w (x - xhat)^2 / n_good over the good pixels of one zoom window."""
    (lo, hi), _ = ZOOM_WINDOWS[window]
    sel = (wave >= lo) & (wave <= hi) & (w > 0)                          # (D,)
    return float(np.sum(w[sel] * (x[sel] - xhat[sel]) ** 2) / max(sel.sum(), 1))


# ---------------------------------------------------------------- main
def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--params", type=int, nargs="+", default=[2, 4, 6, 10],
                        help="numbers of parameters (rows)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    valid, wave = run.valid, run.wave
    sn = np.asarray(valid.catalog["SN_MEDIAN"], dtype=np.float64)
    examples = choose_example_spectra(valid.labels, sn, valid.flux, valid.weight, wave)
    recons = example_reconstructions(run, examples, args.params)

    paths = []
    for name, i in examples.items():
        number, title = TITLES[name]
        cat = valid.catalog[i]
        ident = f"{int(cat['PLATE'])}-{int(cat['MJD'])}-{int(cat['FIBERID'])}"
        print(f"\nFig. {number}: {title} {ident}, median S/N {sn[i]:.1f} (validation row {i})")
        windows = EXAMPLE_WINDOWS[name]
        print(f"  {'reduced chi^2':14s}" + "".join(f"{wdw:>18s}" for wdw in windows))
        for label, xhat in recons[name].items():
            print(f"  {label:14s}" + "".join(f"{window_chi2(wave, valid.flux[i], valid.weight[i], xhat, wdw):18.3g}"
                                            for wdw in windows))
        fig = plot_reconstruction_zooms(wave, valid.flux[i], valid.weight[i], recons[name],
                                        title=f"Fig. {number}: {title} {ident}, S/N {sn[i]:.0f}",
                                        windows=windows)
        paths.append(save_png(fig, args.out, f"fig{number:02d}_{name}"))
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return paths


if __name__ == "__main__":
    main()
