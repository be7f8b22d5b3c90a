"""Average ranks and Spearman's rank correlation, in NumPy.

The outlier AUC (:func:`npvae.analysis.outliers.roc_auc`) and the truth correlations
(:func:`npvae.analysis.separation.truth_correlations`) need only these two; importing
``scipy.stats`` for them slowed the start of every process that imports npvae (a Dask worker
too; benchmarks/startup_cost.py). The values are those of ``scipy.stats.rankdata`` and ``scipy.stats.spearmanr``
(tests/analysis/test_ranks.py): ranks are exact in float64, and the correlation is NumPy's
``corrcoef`` of the ranks, called as SciPy calls it. Shapes: N values.
"""
import numpy as np

__all__ = ["average_ranks", "spearman"]


def average_ranks(x):
    """Ranks 1..N of the values of ``x`` (N,, no NaN), ties given the mean of their ranks; float64 (N,)."""
    x = np.asarray(x).ravel()
    order = np.argsort(x, kind="stable")                            # (N,)
    ordered = x[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]                # (N,) starts of runs of ties
    starts = np.flatnonzero(first)                                  # (U,) 0-based
    counts = np.diff(np.r_[starts, x.size])                         # (U,)
    run_ranks = starts + 1 + (counts - 1) / 2                       # (U,) mean rank of each run
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(run_ranks, counts)
    return ranks


def spearman(a, b):
    """Spearman's rank correlation of two (N,) samples without NaN, N >= 2, neither constant."""
    ranked = np.column_stack((average_ranks(a), average_ranks(b)))   # (N, 2)
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])
