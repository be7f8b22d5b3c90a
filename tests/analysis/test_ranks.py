"""``average_ranks`` and ``spearman`` equal ``scipy.stats.rankdata`` and ``spearmanr`` bit for bit,
and importing npvae no longer imports ``scipy.stats``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

import npvae
from npvae.analysis.ranks import average_ranks, spearman


@pytest.mark.parametrize("kind", ["floats", "ties", "infinite", "two"])
def test_ranks_and_correlation_equal_scipy(kind):
    rng = np.random.default_rng(7)
    n = 2 if kind == "two" else 997
    a = rng.standard_normal(n)
    b = 0.3 * a + rng.standard_normal(n)
    if kind == "ties":
        a, b = np.round(3 * a), rng.integers(0, 5, n).astype(float)        # long runs of ties
    if kind == "infinite":
        a[rng.choice(n, 50, replace=False)] = -np.inf                        # roc_auc's NaN scores
    np.testing.assert_array_equal(average_ranks(a), rankdata(a))
    np.testing.assert_array_equal(average_ranks(b), rankdata(b))
    if kind != "infinite":
        assert spearman(a, b) == spearmanr(a, b).statistic


def test_importing_npvae_does_not_import_scipy_stats():
    env = dict(os.environ, PYTHONPATH=str(Path(npvae.__file__).parents[1]))          # this same npvae
    probe = "import json, sys, npvae.cli; print(json.dumps('scipy.stats' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout) is False
