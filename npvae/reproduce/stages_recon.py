"""Stages ``models`` and ``reconstruction`` of ``npvae reproduce`` (paper Section 3.1, Figs. 3-7).

``models`` trains the InfoVAE and the plain autoencoder at each latent size with Table 1's
architectures (checkpointed, so an interrupted run resumes). ``reconstruction`` fits PCA,
weighted PCA, NMF and weighted NMF with the same numbers of parameters on the same training
spectra, measures every method on the validation set (weighted MSE, the paper's metric, and
the reduced chi^2) for all spectra and per class, and draws Figure 3 and Figures 4 to 7.
Shapes: N spectra, D pixels, K parameters.
"""
import concurrent.futures as cf
import logging
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from .. import baselines
from ..data.recipe import Preprocessing
from ..baselines import metrics
from ..paper import architecture
from ..plots.reconstruction import choose_example_spectra, plot_error_vs_params, plot_reconstruction_zooms
from ..train import best_record, load, make_model, search, search_halving
from ..utils import die_with_parent

__all__ = ["stage_models", "stage_reconstruction", "split", "model_path", "METHODS"]

log = logging.getLogger("npvae.reproduce")

METHODS = ("PCA", "WeightedPCA", "NMF", "WeightedNMF", "AE", "VAE")
EXAMPLE_TITLES = {"high_sn_quiescent": "Fig. 4: high-S/N quiescent galaxy",
                  "low_sn_quiescent": "Fig. 5: low-S/N quiescent galaxy",
                  "extreme_emission": "Fig. 6: extreme emission-line galaxy",
                  "broad_line_agn": "Fig. 7: broad-line AGN"}


def split(ctx):
    """(train, valid) subsets of galaxies and quasars, cached on the context.

    Like the paper, the models see only galaxies and quasars: spectra whose pipeline CLASS is
    STAR are left out of both sets (they are projected into the latent space afterwards).
    """
    if not hasattr(ctx, "train"):
        ctx.train, ctx.valid = (ctx.data.subset(name).without_stars() for name in ("train", "valid"))
    return ctx.train, ctx.valid


def model_path(ctx, kind, n_latent):
    return ctx.path("models", f"{kind}_z{n_latent}.npz")


def _architecture(ctx, n_latent):
    """(hidden, lam) for a latent size: Table 1, or the best of a random search when asked for.

    With ``search_configs`` > 0 the random search of the paper (npvae.train.search: lambda, h1, h2
    log-uniform) runs first into models/search_zZ/ (resumable) and its best configuration by
    validation reconstruction loss replaces Table 1's; with ``search_halving`` the search is
    :func:`npvae.train.search_halving` (into models/halving_zZ/).
    """
    hidden, lam = architecture(n_latent)
    n_configs = int(ctx.config.get("search_configs", 0))
    if n_configs <= 0:
        return hidden, lam
    train, valid = split(ctx)
    halving = bool(ctx.config.get("search_halving", False))
    run_search, folder = (search_halving, "halving") if halving else (search, "search")
    log.info("random search Z=%d: %d configurations%s", n_latent, n_configs, " (successive halving)" * halving)
    rows = run_search(train.flux, train.weight, valid.flux, valid.weight, n_latent=n_latent,
                      out_dir=ctx.path("models", f"{folder}_z{n_latent}"), n_configs=n_configs,
                      seed=ctx.config["seed"], max_epochs=ctx.config["max_epochs"], verbose=ctx.verbose)
    best = rows[0]
    log.info("random search Z=%d: best lam %.3g, hidden %d-%d (Table 1: lam %.3g, hidden %s)", n_latent,
             best["lam"], best["h1"], best["h2"], lam, hidden)
    return (int(best["h1"]), int(best["h2"])), float(best["lam"])


def stage_models(ctx):
    """Train (or reuse) models/vae_zZ.npz and models/ae_zZ.npz for every latent size.

    With ``model_workers`` >= 2 the models train side by side in that many worker processes of
    one BLAS thread each, largest first: on 2 cores two single-threaded trainings do more work
    per second than one training whose batch-64 matrix products are split over both cores
    (benchmarks/README.md). Each model's numbers depend only on its seed.
    """
    train, valid = split(ctx)
    info = ctx.load_json("models.json") if ctx.path("results", "models.json").exists() else {}
    jobs = []
    for n_latent in ctx.config["latents"]:
        hidden, lam = _architecture(ctx, n_latent)
        for kind in ("vae", "ae"):
            path = model_path(ctx, kind, n_latent)
            if ctx.done(path):
                log.info("model %s: reusing", path.name)
                continue
            jobs.append({"kind": kind, "n_latent": n_latent, "hidden": hidden, "lam": lam, "path": str(path),
                         "seed": ctx.config["seed"] + n_latent, "max_epochs": ctx.config["max_epochs"],
                         "force": ctx.force})
    if not jobs:
        return
    jobs.sort(key=lambda job: -sum(job["hidden"]))          # the largest (slowest) models first
    options = {"preprocessing": Preprocessing.from_training(train.flux, ctx.data.meta), "verbose": ctx.verbose}
    arrays = (train.flux, train.weight, valid.flux, valid.weight)
    for job in jobs:
        log.info("model %s: training %s (%s)", Path(job["path"]).name, job["kind"].upper(),
                 "-".join(map(str, [train.flux.shape[1], *job["hidden"], job["n_latent"]])))
    for name, row in _train_models(jobs, arrays, options, int(ctx.config.get("model_workers", 0))):
        info[name] = row
        log.info("model %s: %d epochs (best %s) in %.0f s", name, row["epochs"], row["best_epoch"], row["seconds"])
        ctx.save_json("models.json", info)


def _train_models(jobs, arrays, options, n_workers):
    """Yield (model name, info row) as each job finishes: in this process, or in a worker pool."""
    if n_workers <= 1 or len(jobs) == 1:
        for job in jobs:
            yield _train_model(job, arrays, options)
        return
    options = dict(options, verbose=False)           # no interleaved progress bars from the workers
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(n_workers, len(jobs)), mp_context=context,
                                initializer=_init_model_worker, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(_train_model, job, arrays, options) for job in jobs]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _init_model_worker(parent_pid):
    """Worker start: die with the parent; one BLAS thread (a model per core)."""
    die_with_parent(parent_pid)
    _WORKER["limits"] = threadpool_limits(limits=1)


_WORKER = {}


def _train_model(job, arrays, options):
    """Train one model of ``job`` (resuming its checkpoint), save it; return (name, info row)."""
    X, W, X_val, W_val = arrays
    path = Path(job["path"])
    ckpt = path.with_suffix(".ckpt")
    model = make_model(job["kind"], job["n_latent"], n_features=X.shape[1], hidden=job["hidden"], lam=job["lam"],
                       seed=job["seed"])
    t0 = time.perf_counter()
    model.fit(X, W, X_val, W_val, max_epochs=job["max_epochs"], checkpoint=ckpt,
              resume=ckpt.exists() and not job["force"], verbose=options["verbose"])
    model.preprocessing = options["preprocessing"]
    model.save(path)
    ckpt.unlink(missing_ok=True)
    best = best_record(model.history_)
    return path.stem, {"seconds": time.perf_counter() - t0, "epochs": len(model.history_),
                       "best_epoch": best.get("epoch"), "val_recon": best.get("val_recon"),
                       "config": model.config()}


def _baseline(name, k, ctx):
    cls = getattr(baselines, name)
    if name == "PCA":
        return cls(k)
    return cls(k, max_iter=ctx.config["baseline_iter"], rng=ctx.config["seed"])


def _reconstructions(ctx, train, valid, k):
    """{method: validation reconstruction (N, D)} at k parameters."""
    out = {}
    for name in ("PCA", "WeightedPCA", "NMF", "WeightedNMF"):
        t0 = time.perf_counter()
        est = _baseline(name, k, ctx).fit(train.flux, train.weight)
        out[name] = est.reconstruct(valid.flux, valid.weight)
        log.info("  %s k=%d fitted in %.1f s", name, k, time.perf_counter() - t0)
    for kind, name in (("ae", "AE"), ("vae", "VAE")):
        path = model_path(ctx, kind, k)
        if path.exists():
            out[name] = load(path).reconstruct(valid.flux)
    return out


def stage_reconstruction(ctx):
    """results/reconstruction.json, metrics.json (part) and Figures 3 to 7."""
    if ctx.done("results/reconstruction.json", "figures/fig03_reconstruction_error.png"):
        log.info("reconstruction: reusing results")
        return
    train, valid = split(ctx)
    labels = valid.labels
    examples = choose_example_spectra(labels, np.asarray(valid.catalog["SN_MEDIAN"]), valid.flux, valid.weight,
                                      valid.wave)
    mse, chi2, example_recons = {}, {}, {name: {} for name in examples}
    for k in ctx.config["latents"]:
        for method, xhat in _reconstructions(ctx, train, valid, k).items():
            mse.setdefault(method, {})[k] = metrics.weighted_mse_per_spectrum(valid.flux, xhat, valid.weight)
            chi2.setdefault(method, {})[k] = metrics.reduced_chi2(valid.flux, xhat, valid.weight, k)
            if method in ("PCA", "VAE"):
                for name, i in examples.items():
                    example_recons[name][f"{method} {k}"] = xhat[i]
    table = metrics.reconstruction_table(mse, labels)
    chi2_table = metrics.reconstruction_table(chi2, labels)
    result = {"weighted_mse": table, "reduced_chi2": chi2_table, "examples": examples,
              "comparison": _comparison(table)}
    fig = plot_error_vs_params(table)
    ctx.figure(fig, "fig03_reconstruction_error")
    ctx.figure(plot_error_vs_params(chi2_table, ylabel="median reduced chi^2", statistic="median"),
               "fig03b_reduced_chi2")
    for name, i in examples.items():
        fig = plot_reconstruction_zooms(valid.wave, valid.flux[i], valid.weight[i], example_recons[name],
                                        title=f"{EXAMPLE_TITLES[name]} (validation row {i})")
        ctx.figure(fig, f"fig{4 + list(EXAMPLE_TITLES).index(name):02d}_{name}")
    ctx.save_json("reconstruction.json", result)
    for line in result["comparison"]["summary"]:
        log.info("  %s", line)


def _comparison(table):
    """VAE vs PCA and NMF per class and number of parameters: ratios and a one-line summary each."""
    rows, summary = [], []
    if "VAE" not in table:
        return {"rows": rows, "summary": ["no VAE model: comparison skipped"]}
    for k, by_class in table["VAE"].items():
        for cls, stats in by_class.items():
            vae = stats["mean"]
            for other in ("PCA", "NMF", "AE"):
                ref = table.get(other, {}).get(k, {}).get(cls, {}).get("mean")
                if vae is None or ref is None:
                    continue
                rows.append({"k": int(k), "class": cls, "vs": other, "vae": vae, "other": ref,
                             "relative_gap": (ref - vae) / ref})
    for k in table["VAE"]:
        sub = [r for r in rows if r["k"] == int(k) and r["class"] == "all" and r["vs"] in ("PCA", "NMF")]
        wins = all(r["vae"] < r["other"] for r in sub)
        summary.append(f"{k} parameters: VAE {'below' if wins else 'NOT below'} PCA and NMF on all spectra ("
                       + ", ".join(f"{r['vs']} {r['other']:.3g} vs VAE {r['vae']:.3g}" for r in sub) + ")")
    gaps = {}
    for r in rows:
        if r["vs"] == "PCA" and r["class"] != "all":
            gaps.setdefault(r["class"], []).append(r["relative_gap"])
    if gaps:
        best = max(gaps, key=lambda c: np.mean(gaps[c]))
        summary.append(f"largest mean relative gap VAE vs PCA: {best} ({100 * np.mean(gaps[best]):.0f}%); "
                       + ", ".join(f"{c} {100 * np.mean(v):.0f}%" for c, v in gaps.items()))
    return {"rows": rows, "summary": summary}
