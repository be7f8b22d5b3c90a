"""Does the VAE's latent variance follow added noise? (Portillo et al. 2020, Figure 17)

What the reader sees: for the highest-S/N validation spectrum, white Gaussian noise is added
at ten S/N levels (2 to 80) with ``--draws`` realisations each (10,000 in the paper, 1,000
here by default) and every noisy copy is encoded (``npvae.analysis.noise_sensitivity``).
Left panel: per constrained latent dimension (clean latent std < 0.5), the variance of the
latent means over the realisations divided by the mean latent variance the encoder reports,
against S/N, log-log, with the line ratio = 1. Right panel: the bias of the mean latent mean,
in units of the clean latent std, with its standard error. Printed: both per level and
dimension, and the S/N where each ratio crosses 1.

What to look for: the paper's finding: at low S/N the latent means scatter more than the
reported latent variance (ratio > 1: the encoder under-reports its uncertainty), at high S/N
less; the crossing lies near S/N 25 in the paper. The bias is within about one latent std
above S/N of about 8 and grows at lower S/N. A briefly trained model (the cached demo run)
has few constrained dimensions; with none, all dimensions are drawn.

Usage: python demos/fig17_noise_sensitivity.py [--run DIR] [--out DIR] [--draws 1000]
"""
import time

import numpy as np

from _demo_run import demo_parser, run_from_args, save_png
from npvae.analysis import noise_sensitivity
from npvae.plots.latent import plot_noise_sensitivity

SN_LEVELS = (2, 4, 6, 8, 10, 15, 20, 30, 50, 80)


def print_result(result):
    dims = np.flatnonzero(result.constrained)
    dims = np.arange(result.ratio.shape[1]) if dims.size == 0 else dims
    print("clean latent std: " + ", ".join(f"z{d + 1} {s:.3f}" for d, s in enumerate(result.std_clean))
          + f"; constrained (std < 0.5): {[int(d) + 1 for d in np.flatnonzero(result.constrained)]}")
    head = " ".join(f"{f'z{d + 1}':>15s}" for d in dims)
    print(f"\n{'S/N':>5s} {'S/N eff':>8s} {head}   (Var(mu)/latent var | bias/std)")
    for i, sn in enumerate(result.sn_levels):
        cells = " ".join(f"{result.ratio[i, d]:7.3g} {result.bias[i, d]:+7.2f}" for d in dims)
        print(f"{sn:5.0f} {result.sn_effective[i]:8.1f} {cells}")
    print("S/N where the ratio crosses 1: "
          + ", ".join(f"z{d + 1} {result.crossing_sn(int(d)):.1f}" for d in dims))


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--draws", type=int, default=1000, help="noise realisations per S/N level")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, valid = run.model("vae"), run.valid
    sn = np.asarray(valid.catalog["SN_MEDIAN"], dtype=np.float64)
    best = int(np.argmax(sn))
    print(f"spectrum: validation row {best}, {str(valid.labels[best])}, median S/N {sn[best]:.1f}; "
          f"{args.draws} draws at {len(SN_LEVELS)} levels")
    result = noise_sensitivity(vae.encode, valid.flux[best], valid.weight[best], SN_LEVELS,
                               n_draws=args.draws, rng=args.seed)
    print_result(result)
    save_png(plot_noise_sensitivity(result), args.out, "fig17_noise_sensitivity")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return result


if __name__ == "__main__":
    main()
