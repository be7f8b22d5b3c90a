"""Stage ``beyond`` of ``npvae reproduce``: two things the paper suggests but does not do (Section 4).

1. **A noise-aware encoder.** The paper's Fig. 17 finds the encoder "reporting the same variance
   in latent space regardless of S/N" and suggests giving it the pixel noise. This stage trains
   that model (``make_model("vae", Z, noise_aware=True)``, docs/noise_aware.md) with the analysed
   VAE's architecture, on ``beyond_train`` training spectra (evenly spaced rows) for at most
   ``beyond_epochs`` epochs, and repeats the Fig. 17 experiment on the same spectrum, S/N levels
   and number of draws as the ``latent`` stage, each noisy copy encoded with its own weights.
   The standard model's numbers are those of the ``latent`` stage (results/latent.json).
2. **Redshifts with the VAE.** "Many trial redshifts could be tested to see which one produces
   a de-redshifted spectrum that is best reconstructed by the VAE": ``redshift_spectra`` scans
   ``redshift_spectra`` new synthetic observed-frame spectra (a survey the models never saw)
   with the analysed VAE and with PCA templates (the mean and top eigenvectors of the run's
   training spectra, the model's recipe basis), scored against the true redshifts
   (:mod:`npvae.reproduce.redshift_scores`).

Outputs: models/vae_zZ_noise_aware.npz, results/beyond.json, figures/beyond_fig17_noise_aware.png.
Shapes: N spectra, D pixels, Z latent, L noise levels.
"""
import logging
import time

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from ..analysis.noise import noise_sensitivity
from ..apply import redshift_spectra
from ..synthetic import generate
from ..train import best_record, load, make_model
from .redshift_scores import redshift_errors, score_subsets
from .stages_latent import SN_LEVELS, analysed_vae
from .stages_recon import split

__all__ = ["stage_beyond", "noise_aware_path", "NOISE_STREAM", "REDSHIFT_STREAM", "Z_METHODS"]

log = logging.getLogger("npvae.reproduce")

NOISE_STREAM, REDSHIFT_STREAM = 1, 2      # random streams (seed, stream) of the two experiments
Z_METHODS = ("vae", "pca")


def noise_aware_path(ctx, n_latent):
    return ctx.path("models", f"vae_z{n_latent}_noise_aware.npz")


def stage_beyond(ctx):
    """results/beyond.json and the noise-aware Fig. 17 (needs the latent stage's results)."""
    if ctx.done("results/beyond.json"):
        log.info("beyond: reusing results")
        return
    n_latent, vae = analysed_vae(ctx)
    aware, training = _train_noise_aware(ctx, vae, n_latent)
    res = {"n_latent": n_latent, "noise": _noise(ctx, aware, ctx.load_json("latent.json")["noise"], training),
           "redshift": _redshifts(ctx, vae)}
    ctx.save_json("beyond.json", res)


def _train_noise_aware(ctx, vae, n_latent):
    """The noise-aware model with the analysed VAE's architecture (trained, or reused); its training row."""
    path = noise_aware_path(ctx, n_latent)
    info_path = ctx.path("results", "beyond_training.json")
    if ctx.done(path, info_path):
        log.info("model %s: reusing", path.name)
        return load(path), ctx.load_json("beyond_training.json")
    train, valid = split(ctx)
    n_train = min(len(train.flux), int(ctx.config["beyond_train"]))
    rows = np.unique(np.linspace(0, len(train.flux) - 1, n_train).astype(int))     # (n_train,) evenly spaced
    ckpt = path.with_suffix(".ckpt")
    model = make_model("vae", n_latent, n_features=vae.n_features, hidden=vae.hidden, lam=vae.lam,
                       seed=ctx.config["seed"] + n_latent, noise_aware=True)
    log.info("model %s: training the noise-aware VAE on %d spectra, at most %d epochs", path.name, n_train,
             ctx.config["beyond_epochs"])
    t0 = time.perf_counter()
    model.fit(train.flux[rows], train.weight[rows], valid.flux, valid.weight,
              max_epochs=ctx.config["beyond_epochs"], checkpoint=ckpt, resume=ckpt.exists() and not ctx.force,
              verbose=ctx.verbose)
    model.preprocessing = vae.preprocessing
    model.save(path)
    ckpt.unlink(missing_ok=True)
    best = best_record(model.history_)
    row = {"n_train": n_train, "seconds": time.perf_counter() - t0, "epochs": len(model.history_),
           "best_epoch": best.get("epoch"), "val_recon": best.get("val_recon"),
           "logvar_calibration": getattr(model, "logvar_calibration_", None)}   # set where fit calibrates
    ctx.save_json("beyond_training.json", row)
    log.info("model %s: %d epochs (best %s) in %.0f s", path.name, row["epochs"], row["best_epoch"], row["seconds"])
    return model, row


def _noise(ctx, aware, standard, training):
    """Fig. 17 for the noise-aware model on the latent stage's spectrum, beside the standard model's."""
    _, valid = split(ctx)
    row = int(standard["row"])
    result = noise_sensitivity(aware.encode, valid.flux[row], valid.weight[row], SN_LEVELS,
                               n_draws=ctx.config["noise_draws"], rng=np.random.default_rng(
                                   (ctx.config["seed"], NOISE_STREAM)), with_weights=True)
    ratio_std = np.asarray(standard["ratio"], np.float64)                       # (L, Z)
    ctx.figure(_plot_ratio_pair(np.asarray(standard["sn_levels"], np.float64), ratio_std, result.ratio,
                                result.n_draws), "beyond_fig17_noise_aware")
    return {"row": row, "sn_levels": result.sn_levels, "n_draws": result.n_draws, "training": training,
            "standard": {"ratio": ratio_std, "bias": standard["bias"], "geomean_ratio": _geomean(ratio_std)},
            "noise_aware": {"ratio": result.ratio, "bias": result.bias, "geomean_ratio": _geomean(result.ratio),
                            "mean_reported_var": result.mean_reported_var}}


def _geomean(ratio):
    """(L,) geometric mean over the latents of the (L, Z) variance ratios."""
    return np.exp(np.mean(np.log(ratio), axis=1))


def _plot_ratio_pair(sn_levels, ratio_std, ratio_aware, n_draws):
    """Fig. 17's left panel for both models: Var(latent means) / reported variance vs S/N."""
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, ratio, title in ((axes[0], ratio_std, "standard encoder"),
                             (axes[1], ratio_aware, "noise-aware encoder")):
        for k in range(ratio.shape[1]):
            ax.plot(sn_levels, ratio[:, k], "o-", ms=3, lw=0.8, label=f"z{k + 1}")
        ax.plot(sn_levels, _geomean(ratio), "k-", lw=2.2, label="geometric mean")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set(xscale="log", yscale="log", xlabel="S/N of added noise", title=f"{title}, {n_draws} draws per level")
        ax.set_xticks(sn_levels)
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_ylabel("Var(latent means) / latent variance")
    axes[1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def _redshifts(ctx, vae):
    """NMAD and catastrophic fraction of the VAE and PCA-template scans on new synthetic spectra."""
    n = int(ctx.config["redshift_spectra"])
    records = generate(n, rng=np.random.default_rng((ctx.config["seed"], REDSHIFT_STREAM)))
    out = {"n_spectra": n, "methods": {}}
    for method in Z_METHODS:
        t0 = time.perf_counter()
        table = redshift_spectra(vae, records, method=method)
        dz, cls, sn = redshift_errors(table, records)
        out["methods"][method] = {"seconds": time.perf_counter() - t0, "n_scanned": len(table),
                                  "n_skipped": len(table.meta["skipped"]),
                                  "rows": score_subsets(dz, cls, sn)}
        log.info("  redshifts (%s): %d spectra in %.0f s", method, len(table), out["methods"][method]["seconds"])
    return out

