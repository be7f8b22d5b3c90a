"""Does the VAE's latent variance follow added noise? (Portillo et al. 2020, Figure 17)

What the reader sees: for the highest-S/N validation spectrum, white Gaussian noise is added
at ten S/N levels (2 to 80) with ``--draws`` realisations each (10,000 in the paper, 1,000
here by default) and every noisy copy is encoded (``npvae.analysis.noise_sensitivity``), by
the standard VAE (left) and by the noise-aware one (right: ``InfoVAE(noise_aware=True)``, whose
encoder also reads the pixel noise, trained on degraded spectra and with its latent variance
calibrated at the end of ``fit``; docs/noise_aware.md). Each noisy copy goes to the
noise-aware encoder with its own weights w / (1 + w sigma^2). Top: per constrained latent
dimension (clean latent std < 0.5), the variance of the latent means over the realisations
divided by the mean latent variance the encoder reports, against S/N, log-log, with the line
ratio = 1 and the band [0.5, 2]. Bottom: the bias of the mean latent mean, in units of the
clean latent std, with its standard error. Printed: both per level and dimension, and the S/N
where each ratio crosses 1.

What to look for: the paper's finding, in the standard VAE: at low S/N the latent means scatter
more than the reported latent variance (ratio > 1: the encoder under-reports its uncertainty),
at high S/N less; the crossing lies near S/N 25 in the paper. The noise-aware encoder's ratio
no longer runs down with S/N: the variance it reports grows with the noise, and the calibration
at the end of ``fit`` puts the ratio near 1 on average over many spectra (within [0.5, 2] from
S/N 5 to 50 in benchmarks/noise_aware.py); for one spectrum it stays within a factor of a few.
Its bias is what it does not fix: the means move when only the noise level changes, by many
of its (small) clean standard deviations. This is one spectrum and briefly trained models.

The noise-aware model is trained on the run's training spectra on first use (about as long as
the standard one) and kept as models/vae_noise_aware_z6.npz in the run folder.

Usage: python demos/fig17_noise_sensitivity.py [--run DIR] [--out DIR] [--draws 1000]
"""
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

import npvae
from _demo_run import demo_parser, run_from_args, save_png
from npvae import make_model
from npvae.analysis import noise_sensitivity
from npvae.paper import ANALYSIS_LATENT

SN_LEVELS = (2, 4, 6, 8, 10, 15, 20, 30, 50, 80)
AWARE_FILE = f"vae_noise_aware_z{ANALYSIS_LATENT}.npz"


def noise_aware_model(run, epochs, seed):
    """The run's noise-aware VAE: loaded from models/AWARE_FILE, or trained (and calibrated) and saved."""
    path = run.path / "models" / AWARE_FILE
    if path.exists():
        return npvae.load(path)
    print(f"training the noise-aware model ({epochs} epochs) -> {path}")
    model = make_model("vae", ANALYSIS_LATENT, n_features=run.train.flux.shape[1], seed=seed + ANALYSIS_LATENT,
                       noise_aware=True)
    model.fit(run.train.flux, run.train.weight, run.valid.flux, run.valid.weight, max_epochs=epochs,
              verbose=False)
    model.save(path)
    return model


def shown_dims(result):
    """The constrained latent dimensions, or all when none is."""
    dims = np.flatnonzero(result.constrained)
    return np.arange(result.ratio.shape[1]) if dims.size == 0 else dims


def print_result(name, result):
    dims = shown_dims(result)
    print(f"\n{name}: clean latent std: "
          + ", ".join(f"z{d + 1} {s:.3f}" for d, s in enumerate(result.std_clean))
          + f"; constrained (std < 0.5): {[int(d) + 1 for d in np.flatnonzero(result.constrained)]}")
    head = " ".join(f"{f'z{d + 1}':>15s}" for d in dims)
    print(f"{'S/N':>5s} {'S/N eff':>8s} {head}   (Var(mu)/latent var | bias/std)")
    for i, sn in enumerate(result.sn_levels):
        cells = " ".join(f"{result.ratio[i, d]:7.3g} {result.bias[i, d]:+7.2f}" for d in dims)
        print(f"{sn:5.0f} {result.sn_effective[i]:8.1f} {cells}")
    print("S/N where the ratio crosses 1: "
          + ", ".join(f"z{d + 1} {result.crossing_sn(int(d)):.1f}" for d in dims))


def plot_side_by_side(results):
    """Fig. 17 for each model in a column: ratio (top, one log axis for all) and bias / std (bottom)."""
    fig = Figure(figsize=(5.2 * len(results), 7.5))
    axes = fig.subplots(2, len(results), sharex=True, squeeze=False)
    for col, (name, result) in enumerate(results.items()):
        top, bottom = axes[0, col], axes[1, col]
        if col:
            top.sharey(axes[0, 0])
        for k in shown_dims(result):
            top.plot(result.sn_levels, result.ratio[:, k], "o-", ms=3, label=f"z{k + 1}")
            bottom.errorbar(result.sn_levels, result.bias[:, k], yerr=result.bias_stderr[:, k],
                            fmt="o-", ms=3, capsize=2, label=f"z{k + 1}")
        top.axhspan(0.5, 2.0, color="0.9", zorder=0)
        top.axhline(1.0, color="k", lw=0.8, ls="--")
        top.set(xscale="log", yscale="log", title=f"{name} ({result.n_draws} draws per level)")
        for y in (-1.0, 1.0):
            bottom.axhline(y, color="0.5", lw=0.8, ls=":")
        bottom.axhline(0.0, color="k", lw=0.8)
        bottom.set(xscale="log", xlabel="S/N of added noise")
        bottom.set_xticks(result.sn_levels)
        bottom.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        bottom.xaxis.set_minor_formatter(NullFormatter())
        top.legend(fontsize=8, ncol=2)
    axes[0, 0].set_ylabel("Var(latent means) / latent variance")
    axes[1, 0].set_ylabel("bias / clean latent std")
    fig.tight_layout()
    return fig


def main(argv=None):
    parser = demo_parser(__doc__)
    parser.add_argument("--draws", type=int, default=1000, help="noise realisations per S/N level")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    run = run_from_args(args)
    vae, aware, valid = run.model("vae"), noise_aware_model(run, args.epochs, args.seed), run.valid
    sn = np.asarray(valid.catalog["SN_MEDIAN"], dtype=np.float64)
    best = int(np.argmax(sn))
    print(f"spectrum: validation row {best}, {str(valid.labels[best])}, median S/N {sn[best]:.1f}; "
          f"{args.draws} draws at {len(SN_LEVELS)} levels")
    x, w = valid.flux[best], valid.weight[best]
    results = {
        "standard VAE": noise_sensitivity(vae.encode, x, w, SN_LEVELS, n_draws=args.draws, rng=args.seed),
        "noise-aware VAE": noise_sensitivity(aware.encode, x, w, SN_LEVELS, n_draws=args.draws, rng=args.seed,
                                             with_weights=True),
    }
    for name, result in results.items():
        print_result(name, result)
    save_png(plot_side_by_side(results), args.out, "fig17_noise_sensitivity")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return results


if __name__ == "__main__":
    main()
