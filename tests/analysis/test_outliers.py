"""Outlier scores: LOF finds a planted outlier, chi^2 and the precision/AUC bookkeeping."""
import numpy as np
import pytest
from astropy.table import Table

from npvae.analysis import (chi2_scores, top_outlier_table, lof_scores, outlier_precision, precision_at, roc_auc,
                            top_outliers)
from npvae.utils import NpvaeError


def test_lof_ranks_planted_outlier_first():
    rng = np.random.default_rng(0)
    mu = rng.standard_normal((600, 6))
    planted = 137
    mu[planted] = 5.0                                            # 12 sigma from the centre
    scores = lof_scores(mu, k=20)
    assert top_outliers(scores, 1)[0] == planted
    assert scores[planted] > 3 and np.median(scores) < 1.2


def test_lof_finds_small_cluster_far_away_but_not_dense_core():
    rng = np.random.default_rng(1)
    core = rng.standard_normal((800, 3))
    stray = rng.uniform(-6, 6, size=(5, 3)) + np.array([15.0, 0, 0])
    scores = lof_scores(np.vstack([core, stray]), k=20)
    assert set(top_outliers(scores, 5)) == set(range(800, 805))


def test_lof_rejects_bad_k():
    with pytest.raises(NpvaeError):
        lof_scores(np.zeros((10, 2)), k=10)


def test_chi2_scores_count_only_good_pixels():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((3, 50))
    Xhat = X + rng.standard_normal((3, 50)) * 0.5
    W = np.full((3, 50), 4.0)
    W[1, :25] = 0.0
    W[2] = 0.0
    s = chi2_scores(X, Xhat, W)
    assert np.isclose(s[0], np.mean(4 * (X[0] - Xhat[0]) ** 2))
    assert np.isclose(s[1], np.mean(4 * (X[1, 25:] - Xhat[1, 25:]) ** 2))
    assert np.isnan(s[2])
    with pytest.raises(NpvaeError):
        chi2_scores(X, Xhat, -W)


def test_top_outliers_orders_and_skips_nan():
    s = np.array([0.1, np.nan, 5.0, 3.0, 4.0])
    assert list(top_outliers(s, 3)) == [2, 4, 3]
    assert list(top_outliers(s, 10)) == [2, 4, 3, 0]


def test_rank_auc_matches_pairwise_definition():
    rng = np.random.default_rng(3)
    scores = np.round(rng.standard_normal(300), 1)                 # ties on purpose
    pos = rng.random(300) < 0.2
    scores[pos] += 0.7
    diff = scores[pos][:, None] - scores[~pos][None, :]
    pairwise = (diff > 0).mean() + 0.5 * (diff == 0).mean()
    assert np.isclose(roc_auc(scores, pos), pairwise)
    assert roc_auc(pos.astype(float), pos) == 1.0


def test_outlier_precision_with_string_oddities():
    scores = np.arange(200, dtype=float)
    oddity = np.array([""] * 200, dtype=object)
    oddity[-10:] = "star"
    oddity[:5] = "bad_calibration"
    res = outlier_precision(scores, oddity.astype(str), ks=(10, 20))
    assert res["precision_at_10"] == 1.0 and res["precision_at_20"] == 0.5
    assert res["n_oddities"] == 15
    assert np.isclose(res["roc_auc"], roc_auc(scores, oddity.astype(str) != ""))
    assert precision_at(-scores, oddity.astype(str) != "", 5) == 1.0


def test_top_outlier_table_keeps_ties_in_table_order_and_carries_the_ids():
    scores = np.array([1.0, 3.0, np.nan, 3.0, 2.0, 3.0])
    table = Table({"FIBERID": np.arange(10, 16), "OUTLIER": scores, "RCHI2": scores * 10, "MU": np.zeros((6, 2))})
    top = top_outlier_table(table, 4)
    assert list(top["INDEX"]) == [1, 3, 5, 4]                      # equal scores: lower row first
    assert list(top["RANK"]) == [1, 2, 3, 4] and list(top["FIBERID"]) == [11, 13, 15, 14]
    assert top.colnames == ["RANK", "INDEX", "FIBERID", "OUTLIER", "RCHI2"]
    assert len(top_outlier_table(table, 10)) == 5                  # NaN never chosen
    with pytest.raises(NpvaeError, match="no column 'LOF'"):
        top_outlier_table(table, 2, score="LOF")
