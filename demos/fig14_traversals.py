"""One VAE axis at a time: single-axis traversals (Portillo et al. 2020, Figure 14).

What the reader sees: one panel per VAE axis (VAE 1..6, the principal axes of the training
latent means). In each, the decoded spectra of five latent points that sit at the 1st, 16th,
50th, 84th and 99th percentiles of all spectra on that axis while every other direction stays
at the centroid of the latent means (``npvae.analysis.axis_traversals``), offset, with the main
lines labelled; the p50 spectrum of every panel is close to the centroid's spectrum. Printed:
the percentile coordinates of each axis and how much the decoded spectrum changes from p1 to
p99 (RMS, and the wavelength of the largest change).

What to look for: each axis changes the spectrum in its own way; VAE 1 moves from a red,
absorption-line continuum to a blue one with strong emission lines, later axes change line
strengths, line widths or the blue continuum. Axes that carry little variance (small
explained variance in fig08) barely change the spectrum: the VAE has not used them, which
happens with a briefly trained model (the cached demo run).

Usage: python demos/fig14_traversals.py [--run DIR] [--out DIR]
"""
import time

import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.analysis import axis_traversals, decode_traversals
from npvae.plots.latent import plot_traversals

PERCENTILES = (1, 16, 50, 84, 99)


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--n-axes", type=int, default=6, help="axes traversed")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, gal, axes, mu, _ = run.latent_setup()                           # mu (N_gal, Z)
    k = min(args.n_axes, axes.n_axes)
    points, coords = axis_traversals(axes, mu, PERCENTILES, n_axes=k)    # (K, P, Z), (K, P)
    decoded = decode_traversals(vae.decode, points)                      # (K, P, D)

    print(f"{vae.n_latent}-latent VAE, {mu.shape[0]} spectra; coordinates at percentiles {PERCENTILES}")
    for i in range(k):
        change = decoded[i, -1] - decoded[i, 0]                          # (D,)
        peak = run.wave[np.argmax(np.abs(change))]
        print(f"  VAE {i + 1}: " + " ".join(f"{c:7.2f}" for c in coords[i])
              + f"   p1->p99 RMS change {np.sqrt(np.mean(change ** 2)):.3f}, largest at {peak:.0f} A")

    save_png(plot_traversals(run.wave, decoded, PERCENTILES), args.out, "fig14_traversals")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return decoded


if __name__ == "__main__":
    main()
