"""Random search: the paper's ranges, seeded and prefix-stable configurations, parallel workers,
a sorted results table, the best model saved, and resume that skips finished configurations."""
import csv
import importlib
import math

import numpy as np
import pytest

import npvae
from npvae.train.search import sample_configs, search
from npvae.utils import NpvaeError

search_module = importlib.import_module("npvae.train.search")   # the module even if npvae exports search()

OPTIONS = dict(n_latent=2, batch_size=32, max_epochs=2, verbose=False)


def test_configurations_follow_the_paper_ranges_and_are_seeded():
    configs = sample_configs(6, 500, seed=3)
    lam = np.array([c["lam"] for c in configs])
    h1 = np.array([c["h1"] for c in configs])
    h2 = np.array([c["h2"] for c in configs])
    assert lam.min() >= 1 and lam.max() <= 1e5
    assert h1.min() >= 7 and h1.max() <= 2000 and np.all((h2 >= 7) & (h2 <= h1))
    assert 0.4 < np.mean(np.log10(lam) < 2.5) < 0.6          # log-uniform: median near 10^2.5
    assert 0.4 < np.mean(np.log(h1) < 0.5 * (np.log(7) + np.log(2000))) < 0.6
    assert sample_configs(6, 5, seed=3) == configs[:5]        # prefix-stable
    assert sample_configs(6, 5, seed=4) != configs[:5]


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_parallel_search_writes_sorted_results_and_the_best_model(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    rows = search(X, W, Xv, Wv, out_dir=tmp_path, n_configs=3, seed=1, n_workers=2, **OPTIONS)
    table = _read_csv(tmp_path / "results.csv")
    recon = [float(r["val_recon"]) for r in table]
    assert len(table) == 3 and recon == sorted(recon)
    assert [int(r["id"]) for r in table] == [r["id"] for r in rows]
    best = npvae.load(tmp_path / "best_model.npz")
    assert best.hidden == (rows[0]["h1"], rows[0]["h2"]) and best.lam == pytest.approx(rows[0]["lam"])
    assert len(best.history_) == 2
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [f"config_{rows[0]['id']:03d}.npz"]


def test_resume_skips_finished_configurations(tmp_path, tiny_data, monkeypatch):
    X, W, Xv, Wv = tiny_data
    trained = []
    real = search_module._run_config
    monkeypatch.setattr(search_module, "_run_config", lambda cfg, opt: trained.append(cfg["id"]) or real(cfg, opt))
    first = search(X, W, Xv, Wv, out_dir=tmp_path, n_configs=2, seed=5, n_workers=0, **OPTIONS)
    second = search(X, W, Xv, Wv, out_dir=tmp_path, n_configs=3, seed=5, n_workers=0, **OPTIONS)
    assert trained == [0, 1, 2]
    assert len(second) == 3
    kept = {r["id"]: r for r in second}
    for row in first:
        assert kept[row["id"]]["val_recon"] == pytest.approx(row["val_recon"], rel=1e-12)
    assert all(not math.isnan(r["val_recon"]) for r in second)
    with pytest.raises(NpvaeError, match="search.json.*other settings.*seed"):
        search(X, W, Xv, Wv, out_dir=tmp_path, n_configs=3, seed=6, n_workers=0, **OPTIONS)
