"""The latent space of the 6-latent VAE: a corner plot of its principal axes (Portillo et al. 2020, Figure 8).

What the reader sees: the latent means of all spectra (training and validation, galaxies and
quasars), rotated onto "VAE 1..6", the principal axes of the training latent means
(``npvae.analysis.fit_latent_axes``), in a corner plot coloured by class: quiescent (red),
emission-line (blue), narrow-line AGN (green), broad-line AGN (purple). The diagonal holds
each class's normalised histogram on that axis. The explained variance of each axis and the
class centroids on VAE 1 and VAE 5 are printed.

What to look for: the classes separate; on VAE 1 the quiescent galaxies sit at one end and the
emission-line galaxies at the other, and in the VAE 1 vs VAE 5 panel the AGN split off as a
second arm (the paper's two arms). Most of the variance lies on the first two or three axes.
A model trained for a few epochs (the cached demo run) already orders quiescent to
emission-line along VAE 1; the arms sharpen with training.

Usage: python demos/fig08_latent_space.py [--run DIR] [--out DIR]
"""
import time

import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.plots.latent import plot_corner


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--n-axes", type=int, default=6, help="axes in the corner plot")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, _, axes, mu, labels = run.latent_setup()                        # mu (N_gal, Z)
    coords = axes.transform(mu)                                          # (N_gal, Z)
    k = min(args.n_axes, coords.shape[1])

    print(f"{vae.n_latent}-latent VAE, {coords.shape[0]} spectra")
    print("explained variance ratio of the latent means: "
          + ", ".join(f"VAE {i + 1} {r:.3f}" for i, r in enumerate(axes.explained_variance_ratio_)))
    print(f"\n{'class':10s} {'N':>6s} " + " ".join(f"{f'VAE {i + 1}':>7s}" for i in range(k)))
    for name in np.unique(labels):
        sel = labels == name
        print(f"{name:10s} {sel.sum():6d} " + " ".join(f"{c:7.2f}" for c in coords[sel, :k].mean(axis=0)))

    names = [f"VAE {i + 1}" for i in range(coords.shape[1])]
    save_png(plot_corner(coords, labels, n_axes=k, axis_names=names), args.out, "fig08_latent_space")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return axes


if __name__ == "__main__":
    main()
