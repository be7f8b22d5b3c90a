"""The paper's random search with successive halving: many configurations for a few epochs, the best go on.

The configurations are those of the plain search (:func:`npvae.train.search.sample_configs`).
Rung 0 trains all of them for ``min_epochs`` epochs; the best 1/eta of each rung, ranked like the
plain search (validation reconstruction loss at the best epoch), go on to the next rung, which
trains them to eta times as many epochs; the last rung trains to ``max_epochs``. A configuration
continues from its checkpoint, which carries the learning-rate schedule and early stopping, so
after the last rung it is bit for bit the model a plain run to the same epoch would give.

OUT/rung_K.csv holds the rows of rung K (rewritten atomically after each configuration), so a
rerun skips finished work and resumes interrupted configurations from their checkpoints.
OUT/results.csv lists every configuration at the last rung it reached (the last rung's first),
OUT/best_model.npz is the best of the last finished rung. Docs: docs/training.md ("Random search").
Shapes: N spectra, V validation spectra, D pixels.
"""
import shutil
from pathlib import Path

from ..utils import NpvaeError, atomic_write, progress
from .search import (check_settings, check_validation_set, rank_rows, read_results, run_all, sample_configs,
                     settings_of, write_rows)

__all__ = ["search_halving", "rung_plan"]


def rung_plan(n_configs, max_epochs, eta=3, min_epochs=None):
    """Epochs and sizes of the rungs, ``([e_0, e_1, ...], [n_0, n_1, ...])``.

    The epochs are min_epochs * eta^k for as long as eta times that still fits in ``max_epochs``,
    then ``max_epochs``; n_0 = n_configs and n_(k+1) = max(1, n_k // eta). By default
    ``min_epochs`` = max_epochs / eta^K (rounded, at least 1) with K the number of times
    n_configs can be divided by eta, so the last rung holds one to eta - 1 configurations.
    """
    if int(eta) != eta or eta < 2:
        raise NpvaeError(f"eta must be an integer >= 2, got {eta}")
    if n_configs < 1 or max_epochs < 1:
        raise NpvaeError(f"n_configs and max_epochs must be >= 1, got {n_configs}, {max_epochs}")
    if min_epochs is None:
        k = 0
        while eta ** (k + 1) <= n_configs:
            k += 1
        min_epochs = max(1, round(max_epochs / eta ** k))
    if not 1 <= min_epochs <= max_epochs:
        raise NpvaeError(f"min_epochs must be in [1, max_epochs={max_epochs}], got {min_epochs}")
    epochs, e = [], int(min_epochs)
    while e * eta <= max_epochs:
        epochs.append(e)
        e *= int(eta)
    epochs.append(int(max_epochs))
    sizes = [int(n_configs)]
    for _ in epochs[1:]:
        sizes.append(max(1, sizes[-1] // int(eta)))
    return epochs, sizes


def search_halving(X, weights, X_val, weights_val, *, n_latent, out_dir, n_configs=100, seed=0, eta=3,
                   min_epochs=None, n_workers=None, model="vae", batch_size=64, max_epochs=200, lr=1e-3,
                   verbose=True):
    """Random search over lambda, h1, h2 with successive halving; returns every configuration's last row.

    Parameters
    ----------
    X, weights, X_val, weights_val, n_latent, n_configs, seed, n_workers, model, batch_size, lr
        As for :func:`npvae.train.search.search` (same configurations, same worker pool).
    out_dir : path
        rung_K.csv, results.csv, best_model.npz, search.json, checkpoints/ and models/ go here.
    eta : int
        Each rung keeps the best 1/eta (3 by default).
    min_epochs : int, optional
        Epochs of the first rung (default: see :func:`rung_plan`).
    max_epochs : int
        Epochs of the last rung.

    Returns
    -------
    list of dict
        Keys :data:`npvae.train.search.COLUMNS`: the last rung's rows sorted by ``val_recon``, then
        those eliminated one rung earlier, and so on.
    """
    check_validation_set(X_val)
    out = Path(out_dir)
    epochs, sizes = rung_plan(n_configs, max_epochs, eta, min_epochs)
    settings = dict(settings_of(X, X_val, n_latent, seed, model, batch_size, max_epochs, lr),
                    strategy="halving", n_configs=int(n_configs), rung_epochs=epochs, rung_sizes=sizes)
    check_settings(out / "search.json", settings)
    options = {"model": model, "batch_size": batch_size, "lr": lr, "out": str(out), "keep_checkpoint": True}
    data = (X, weights, X_val, weights_val)
    entrants, rungs = sample_configs(n_latent, n_configs, seed), []
    bar = progress(total=sum(sizes), desc=f"halving Z={n_latent}", unit="config", verbose=verbose)
    try:
        for k, n_epochs in enumerate(epochs):
            rows = _run_rung(out, k, entrants, dict(options, max_epochs=n_epochs), data, n_workers, bar)
            rungs.append(rows)
            ranked = rank_rows(rows)
            keep = sizes[k + 1] if k + 1 < len(sizes) else 0
            promoted = {r["id"] for r in ranked[:keep]}
            _drop_files(out, [r for r in ranked if r["id"] not in promoted], ranked[0]["id"])
            entrants = [c for c in entrants if c["id"] in promoted]
    except KeyboardInterrupt:
        bar.close()
        print("halving search interrupted; run the same search again to resume (finished work is skipped)",
              flush=True)
        raise
    bar.close()
    results, seen = [], set()
    for rows in reversed(rungs):                      # each configuration at the last rung it reached
        results += rank_rows({i: r for i, r in rows.items() if i not in seen})
        seen.update(rows)
    write_rows(out / "results.csv", results)
    return results


def _run_rung(out, k, entrants, options, data, n_workers, bar):
    """Train the entrants of rung ``k`` to ``options["max_epochs"]``; return its rows by id."""
    path = out / f"rung_{k}.csv"
    rows = read_results(path)
    pending = [c for c in entrants if c["id"] not in rows]
    bar.update(len(entrants) - len(pending))
    for row in run_all(pending, options, data, n_workers):
        rows[row["id"]] = row
        write_rows(path, rank_rows(rows))
        bar.update(1)
        bar.set_postfix(rung=k, best_recon=f"{rank_rows(rows)[0]['val_recon']:.4g}")
    best = rank_rows(rows)[0]
    if pending and best["model"]:                     # no model file: every configuration failed
        with atomic_write(out / "best_model.npz", suffix=".npz") as tmp:
            shutil.copyfile(out / best["model"], tmp)
    return rows


def _drop_files(out, dropped, best_id):
    """Delete the checkpoints and model files of configurations that go no further (not the best's model)."""
    for row in dropped:
        (out / "checkpoints" / f"config_{row['id']:03d}.npz").unlink(missing_ok=True)
        if row["id"] != best_id and row["model"]:
            (out / row["model"]).unlink(missing_ok=True)
