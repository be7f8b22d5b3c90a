"""Outlier scores: LOF finds a planted outlier, chi^2 and the precision/AUC bookkeeping."""
import pickle

import numpy as np
import pytest
from astropy.table import Table
from sklearn.neighbors import LocalOutlierFactor                  # the anchor: the tests only, never npvae

from npvae.analysis import (chi2_scores, top_outlier_table, lof_scores, outlier_precision, precision_at, roc_auc,
                            top_outliers)
from npvae.analysis.kdtree import KdTree
from npvae.analysis.outliers import _neighbours_of_reference, fit_lof_reference, lof_novelty_scores
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


def _latents_with_duplicates(rng, n=1500, z=6):
    """Gaussian latents with exact duplicates: one point 30 times (more than k + 1 = 21), others 2-4 times."""
    mu = rng.standard_normal((n, z))
    mu[100:130] = mu[7]                                          # 31 copies of point 7
    for first, copies in ((300, 2), (400, 3), (500, 4)):
        mu[first:first + copies] = mu[first - 1]
    return mu


@pytest.mark.filterwarnings("ignore:Duplicate values")         # scikit-learn's warning on the 31 copies
@pytest.mark.parametrize("k", [20, 3])
def test_lof_fit_is_scikit_learns_bit_for_bit_with_duplicates(k):
    """k-distances, lrd, novelty scores and training-set LOF: scikit-learn's numbers, exactly (Z < 8)."""
    rng = np.random.default_rng(4)
    mu = _latents_with_duplicates(rng)
    new = np.concatenate([mu[:40], mu[100:103], rng.standard_normal((200, 6)) * 1.5])   # on, duplicated, off
    sk = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(mu)
    assert sk._fit_method == "kd_tree"                           # distances summed as KdTree sums them
    lof = fit_lof_reference(mu, k)
    np.testing.assert_array_equal(lof.k_distance, sk._distances_fit_X_[:, k - 1])
    np.testing.assert_array_equal(lof.lrd, sk._lrd)
    assert lof.lrd[7] == lof.lrd[100] == 1e10                    # over k duplicates: every distance 0
    np.testing.assert_array_equal(lof_novelty_scores(lof, new), -sk.score_samples(new))
    np.testing.assert_array_equal(lof_scores(mu, k), -LocalOutlierFactor(n_neighbors=k).fit(mu).negative_outlier_factor_)


def test_each_point_is_dropped_from_its_own_neighbours_by_index_and_its_duplicates_stay():
    rng = np.random.default_rng(4)
    mu = _latents_with_duplicates(rng)
    dist, idx = _neighbours_of_reference(KdTree(mu), mu, 20)             # (N, 20) each
    assert not np.any(idx == np.arange(len(mu))[:, None])                # never itself, even among 31 copies
    assert set(idx[300]) >= {299, 301} and dist[300, 0] == dist[300, 1] == 0.0   # its 2 copies, at 0
    assert np.all(dist[100] == 0.0) and set(idx[100]) <= {7, *range(100, 130)}


def test_lof_fit_on_equidistant_points_takes_ties_in_index_order():
    """On a lattice many neighbours tie at the k-th distance: which of them count is a choice
    (scikit-learn's tree takes the first it meets, here the lowest index). The k-distances are
    scikit-learn's whatever the choice; the lrd is scikit-learn's formula on a brute-force search
    with ties in index order (squared distances are whole numbers: exact)."""
    grid = np.stack(np.meshgrid(*[np.arange(5.0)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)   # (125, 3)
    k = 20
    sk = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(grid)
    lof = fit_lof_reference(grid, k)
    np.testing.assert_array_equal(lof.k_distance, sk._distances_fit_X_[:, k - 1])
    sq = ((grid[:, None, :] - grid[None, :, :]) ** 2).sum(axis=2)          # (N, N)
    np.fill_diagonal(sq, np.inf)                                          # never its own neighbour
    order = np.lexsort((np.broadcast_to(np.arange(len(grid)), sq.shape), sq), axis=1)[:, :k]   # (N, k)
    dist = np.sqrt(np.take_along_axis(sq, order, axis=1))                 # (N, k)
    np.testing.assert_array_equal(lof.lrd, sk._local_reachability_density(dist, order))
    assert not np.array_equal(lof.lrd, sk._lrd)                            # the choice does matter here


def test_lof_reference_pickles_without_scikit_learn_and_scores_the_same():
    rng = np.random.default_rng(5)
    lof = fit_lof_reference(rng.standard_normal((400, 6)))
    blob = pickle.dumps(lof)
    assert b"sklearn" not in blob
    new = rng.standard_normal((50, 6))
    np.testing.assert_array_equal(lof_novelty_scores(pickle.loads(blob), new), lof_novelty_scores(lof, new))


def test_lof_novelty_scores_still_take_a_fitted_scikit_learn_lof():
    rng = np.random.default_rng(6)
    mu, new = rng.standard_normal((400, 6)), rng.standard_normal((30, 6))
    sk = LocalOutlierFactor(n_neighbors=20, novelty=True).fit(mu)
    np.testing.assert_array_equal(lof_novelty_scores(sk, new), lof_novelty_scores(fit_lof_reference(mu), new))


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


@pytest.mark.parametrize("n", [0, 1, 7, 100, 3000, 4000, 5000])
def test_top_outliers_are_the_sorted_list_by_score_then_index(n):
    rng = np.random.default_rng(7)
    scores = np.round(rng.gamma(2.0, size=5000), 2)                # ties
    scores[rng.random(5000) < 0.2] = np.nan
    scores[:3] = np.inf
    brute = sorted((i for i in range(5000) if not np.isnan(scores[i])), key=lambda i: (-scores[i], i))[:n]
    assert list(top_outliers(scores, n)) == brute


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
