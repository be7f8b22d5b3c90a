"""Outliers in the latent space, and stars projected into it (Portillo et al. 2020, Table 2, Figures 15 and 16).

What the reader sees: ``fig15_outliers.png``, the ten spectra with the highest local outlier
factor (LOF, k = 20 neighbours) of their latent means among all spectra, offset, the top one
at the top, bad or infilled pixels faded, each named by plate-mjd-fiber and what it is;
``fig16_stars.png``, the galaxies on VAE 1 vs VAE 2 and VAE 1 vs VAE 5 with stars (CLASS STAR,
or the synthetic survey's stars labelled as oddities) projected over them as orange stars.
Printed: Table 2 (rank, id, class, oddity, LOF) and, beyond the paper, how well two scores
find the synthetic survey's labelled oddities (stars, missing data, camera jumps, bright
stars...): the LOF of the latent means and the reduced chi^2 of the VAE reconstruction, as
precision at 10, 50 and 100 and ROC AUC, against the base rate.

What to look for: the labelled oddities rank near the top of both lists, precision at 10 far
above the base rate of about half a per cent (the cached demo run: 0.6 for the LOF, 1.0 for
the chi^2 score, ROC AUC 0.95 and 0.93); the other top entries are broad-line AGN, rare in the survey. Stars land at the
edge of or outside the galaxy cloud. The chi^2 score also catches pixel-level defects (camera
jumps, missing data) that keep a normal latent position.

Usage: python demos/fig15_16_outliers.py [--run DIR] [--out DIR] [--k 20]
"""
import time

import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.analysis import chi2_scores, fit_latent_axes, lof_scores, outlier_precision, top_outliers
from npvae.plots.latent import plot_outlier_spectra, plot_stars_in_latent
from npvae.reproduce.stages_latent import star_rows


def oddities(catalog):
    """(N,) str: the synthetic survey's ODDITY column ("" = normal), or all "" for real data."""
    if "ODDITY" not in catalog.colnames:
        return np.full(len(catalog), "", dtype="U1")
    return np.char.strip(np.asarray(catalog["ODDITY"], dtype=str))


def table2(catalog, lof, top):
    """Print Table 2 and return the Fig. 15 names."""
    odd, names = oddities(catalog), []
    print(f"\nTable 2: top {len(top)} outliers by LOF")
    print(f"{'rank':>4s} {'plate-mjd-fiber':>18s} {'class':>10s} {'oddity':>13s} {'LOF':>7s}")
    for r, i in enumerate(top, start=1):
        ident = f"{int(catalog['PLATE'][i])}-{int(catalog['MJD'][i])}-{int(catalog['FIBERID'][i])}"
        label = str(catalog["LABEL"][i]).strip()
        print(f"{r:4d} {ident:>18s} {label:>10s} {odd[i] or '-':>13s} {lof[i]:7.2f}")
        names.append(f"O{r} {ident} {odd[i] or label}")
    return names


def print_precision(scores, odd):
    if not (odd != "").any():
        print("\nno labelled oddities in this dataset: precision not computed")
        return
    print(f"\nfinding the {int((odd != '').sum())} labelled oddities (base rate {np.mean(odd != ''):.3%}):")
    for name, s in scores.items():
        p = outlier_precision(s, odd)
        print(f"  {name:22s} precision@10 {p['precision_at_10']:.2f}  @50 {p['precision_at_50']:.2f}  "
              f"@100 {p['precision_at_100']:.2f}  ROC AUC {p['roc_auc']:.3f}")


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--k", type=int, default=20, help="LOF neighbours (20 in the paper)")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, data = run.model("vae"), run.data
    flux, weight, cat = np.asarray(data.flux), np.asarray(data.weight), data.catalog
    mu = vae.transform(flux)                                             # (N, Z)
    lof = lof_scores(mu, k=args.k)                                       # (N,)
    chi2 = chi2_scores(flux, vae.decode(mu), weight)                     # (N,)
    top = top_outliers(lof, n=10)
    names = table2(cat, lof, top)
    print_precision({"LOF (latent means)": lof, "chi^2 (reconstruction)": chi2}, oddities(cat))
    save_png(plot_outlier_spectra(data.wave, flux[top], weight[top] == 0, names, lof[top]),
             args.out, "fig15_outliers")

    stars = star_rows(cat)                                               # (N,)
    axes = fit_latent_axes(vae.transform(run.train.flux))
    coords = axes.transform(mu)                                          # (N, Z)
    print(f"\n{stars.sum()} stars projected; their median LOF {np.median(lof[stars]) if stars.any() else np.nan:.2f} "
          f"vs {np.median(lof[~stars]):.2f} for the rest")
    pairs = tuple(p for p in ((0, 1), (0, 4)) if max(p) < vae.n_latent)
    save_png(plot_stars_in_latent(coords[~stars], data.labels[~stars], coords[stars], pairs=pairs),
             args.out, "fig16_stars")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return lof


if __name__ == "__main__":
    main()
