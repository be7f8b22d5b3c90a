"""Random hyper-parameter search of Portillo et al. (2020), run in parallel worker processes.

For a latent size Z, configuration i draws from ``np.random.default_rng([seed, i])``
(so the first k configurations do not depend on how many are asked for):

* lambda log-uniform in [1, 1e5],
* h1 log-uniform in [Z + 1, 2000], h2 log-uniform in [Z + 1, h1] (rounded to integers),
* the model's seed.

Each configuration is trained with :func:`npvae.train.loop.fit` in a worker process (default one
per core, each on one BLAS thread), with its own checkpoint. After each finished configuration
OUT/results.csv (sorted by validation reconstruction loss at the best epoch) is rewritten
atomically and OUT/best_model.npz is the best so far. Running the same search again
skips the finished configurations and resumes the interrupted ones from their checkpoints.
Docs: docs/training.md ("Random search"). Shapes: N spectra, V validation spectra, D pixels.
"""
import concurrent.futures as cf
import csv
import json
import math
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np

from ..paper import SEARCH_H1_MAX, SEARCH_LAMBDA_RANGE
from ..utils import NpvaeError, atomic_write, die_with_parent, progress
from .checkpoint import data_fingerprint
from .estimators import make_model
from .guards import TrainingDiverged
from .history import best_record

__all__ = ["search", "sample_configs", "COLUMNS", "run_all", "rank_rows", "read_results", "write_rows",
           "check_settings", "settings_of", "check_validation_set"]

LAM_RANGE = SEARCH_LAMBDA_RANGE
H1_MAX = SEARCH_H1_MAX
COLUMNS = ["id", "n_latent", "lam", "h1", "h2", "seed", "val_recon", "val_kl", "val_mmd", "val_total",
           "train_recon", "best_epoch", "epochs", "seconds", "model"]
_DATA = {}           # a worker's data, set once by _init_worker


def sample_configs(n_latent, n_configs, seed=0):
    """The first ``n_configs`` configurations of the search with ``seed`` (list of dicts)."""
    configs = []
    for i in range(n_configs):
        g = np.random.default_rng([seed, i])
        lam = math.exp(g.uniform(math.log(LAM_RANGE[0]), math.log(LAM_RANGE[1])))
        h1 = int(round(math.exp(g.uniform(math.log(n_latent + 1), math.log(H1_MAX)))))
        h2 = int(round(math.exp(g.uniform(math.log(n_latent + 1), math.log(h1)))))
        configs.append({"id": i, "n_latent": int(n_latent), "lam": lam, "h1": h1, "h2": h2,
                        "seed": int(g.integers(2 ** 31))})
    return configs


def search(X, weights, X_val, weights_val, *, n_latent, out_dir, n_configs=100, seed=0, n_workers=None,
           model="vae", batch_size=64, max_epochs=200, lr=1e-3, keep_models=False, verbose=True):
    """Random search over lambda, h1, h2 for latent size ``n_latent``; returns the sorted results.

    Parameters
    ----------
    X, weights : ndarray (N, D)
        Training spectra and weights (None = ones).
    X_val, weights_val : ndarray (V, D)
        Validation set: picks each run's best epoch and ranks the configurations.
    n_latent : int
    out_dir : path
        results.csv, best_model.npz, search.json, checkpoints/ and models/ go here.
    n_configs, seed : int
        100 configurations per latent size in the paper.
    n_workers : int, optional
        Worker processes (default: one per core); 0 runs in this process.
    model : {"vae", "ae"}
        With "ae" lambda is drawn but unused.
    batch_size, max_epochs, lr
        Passed to :func:`npvae.train.loop.fit`.
    keep_models : bool
        Keep every configuration's model file (default: only the best).

    Returns
    -------
    list of dict
        One row per finished configuration (keys :data:`COLUMNS`), sorted by ``val_recon``.
    """
    check_validation_set(X_val)
    out = Path(out_dir)
    check_settings(out / "search.json", settings_of(X, X_val, n_latent, seed, model, batch_size, max_epochs, lr))
    results = read_results(out / "results.csv")
    pending = [c for c in sample_configs(n_latent, n_configs, seed) if c["id"] not in results]
    options = {"model": model, "batch_size": batch_size, "max_epochs": max_epochs, "lr": lr, "out": str(out)}
    data = (X, weights, X_val, weights_val)
    bar = progress(total=len(pending), desc=f"search Z={n_latent}", unit="config", verbose=verbose)
    try:
        for row in run_all(pending, options, data, n_workers):
            results[row["id"]] = row
            _record(out, results, row, keep_models)
            bar.update(1)
            bar.set_postfix(best_recon=f"{min(r['val_recon'] for r in results.values()):.4g}")
    except KeyboardInterrupt:
        bar.close()
        print(f"search interrupted: {len(results)} of {n_configs} configurations finished; run the same "
              f"search again to resume (finished ones are skipped)", flush=True)
        raise
    bar.close()
    return rank_rows(results)


def check_validation_set(X_val):
    """Raise NpvaeError without a validation set (it ranks the configurations)."""
    if X_val is None:
        raise NpvaeError("search needs a validation set (X_val) to rank configurations")


def settings_of(X, X_val, n_latent, seed, model, batch_size, max_epochs, lr):
    """The settings a search folder is tied to (checked by :func:`check_settings` on a rerun)."""
    return {"n_latent": int(n_latent), "seed": int(seed), "model": model, "batch_size": int(batch_size),
            "max_epochs": int(max_epochs), "lr": float(lr),
            "data": [data_fingerprint(np.asarray(X)), data_fingerprint(np.asarray(X_val))]}


def run_all(configs, options, data, n_workers):
    """Yield finished result rows, in this process (n_workers=0) or in a process pool."""
    if not configs:
        return
    n_workers = (os.cpu_count() or 1) if n_workers is None else int(n_workers)
    if n_workers <= 0:
        _DATA["arrays"] = data
        try:
            for cfg in configs:
                yield _run_config(cfg, options)
        finally:
            _DATA.pop("arrays", None)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(n_workers, len(configs)), mp_context=ctx,
                                initializer=_init_worker, initargs=data) as pool:
        futures = [pool.submit(_run_config, cfg, options) for cfg in configs]
        try:
            for future in cf.as_completed(futures):
                yield future.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _interrupt_workers(pool)
            raise


def _interrupt_workers(pool):
    """Pass Ctrl-C on to the workers (each saves its checkpoint and stops at the next step)."""
    processes = getattr(pool, "_processes", None) or {}     # private, hence the guard
    for proc in list(processes.values()):
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGINT)


def _init_worker(X, W, X_val, W_val):
    """Worker start: die with the parent, keep the data, use one BLAS thread (the kernels are serial)."""
    from threadpoolctl import threadpool_limits

    die_with_parent()
    _DATA["limits"] = threadpool_limits(limits=1)
    _DATA["arrays"] = (X, W, X_val, W_val)


def _run_config(cfg, options):
    """Train one configuration (resuming its checkpoint if any); return its result row."""
    X, W, X_val, W_val = _DATA["arrays"]
    out = Path(options["out"])
    hidden = (cfg["h1"], cfg["h2"])
    model = make_model(options["model"], cfg["n_latent"], n_features=X.shape[1], hidden=hidden, lam=cfg["lam"],
                       seed=cfg["seed"])
    ckpt = out / "checkpoints" / f"config_{cfg['id']:03d}.npz"
    t0 = time.perf_counter()
    try:
        model.fit(X, W, X_val, W_val, batch_size=options["batch_size"], max_epochs=options["max_epochs"],
                  lr=options["lr"], verbose=False, checkpoint=ckpt, resume=ckpt.exists())
    except TrainingDiverged:
        pass          # it keeps its best finite epoch; with none it is not fitted and scores NaN
    path = out / "models" / f"config_{cfg['id']:03d}.npz"
    if model.is_fitted:
        model.save(path)
    if not options.get("keep_checkpoint"):
        ckpt.unlink(missing_ok=True)
    best = best_record(model.history_)
    row = dict(cfg, best_epoch=best.get("epoch", 0), epochs=len(model.history_),
               seconds=round(time.perf_counter() - t0, 2),
               model=str(path.relative_to(out)) if model.is_fitted else "")
    for key in ("val_recon", "val_kl", "val_mmd", "val_total", "train_recon"):
        row[key] = best.get(key, math.nan)
    return row


def _record(out, results, row, keep_models):
    """Rewrite results.csv; make best_model.npz the best so far; drop other model files."""
    ranked = rank_rows(results)
    best = ranked[0]
    if best["id"] == row["id"] and best["model"]:
        with atomic_write(out / "best_model.npz", suffix=".npz") as tmp:
            shutil.copyfile(out / row["model"], tmp)
    if not keep_models:
        for other in ranked:
            if other["id"] != best["id"] and other["model"]:
                (out / other["model"]).unlink(missing_ok=True)
    write_rows(out / "results.csv", ranked)


def write_rows(path, rows):
    """Write result rows (keys :data:`COLUMNS`) to a CSV file atomically."""
    with atomic_write(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)


def rank_rows(results):
    """Rows sorted by validation reconstruction loss (NaN last)."""
    return sorted(results.values(), key=lambda r: (math.isnan(r["val_recon"]), r["val_recon"]))


def read_results(path):
    """Finished rows of an earlier run of the same search, by id (empty if none)."""
    if not path.exists():
        return {}
    types = {"id": int, "n_latent": int, "h1": int, "h2": int, "seed": int, "best_epoch": int,
             "epochs": int, "model": str}
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        return {int(r["id"]): {k: types.get(k, float)(r[k]) for k in COLUMNS} for r in rows}
    except (KeyError, ValueError, TypeError) as err:
        raise NpvaeError(f"{path}: not a results table of npvae search ({err})") from err


def check_settings(path, settings):
    """Write the search settings, or check them against an earlier run's (n_configs may grow)."""
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise NpvaeError(f"{path}: unreadable search settings ({err})") from err
        diff = sorted(k for k in settings if old.get(k) != settings[k])
        if diff:
            raise NpvaeError(f"{path}: this folder holds a search with other settings ({', '.join(diff)}); "
                             "use another output folder")
        return
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(settings, indent=1))
