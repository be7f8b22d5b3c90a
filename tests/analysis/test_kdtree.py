"""The kd-tree of the LOF queries against a brute-force reference and against SciPy's cKDTree."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

from _reference import knn_reference
from npvae.analysis import kdtree
from npvae.analysis.kdtree import KdTree
from npvae.utils import NpvaeError


def _tied_points(rng, n, z):
    """Points with many exact ties: a coarse integer grid, and duplicated rows."""
    points = rng.integers(-3, 4, size=(n, z)).astype(np.float64)             # (N, Z) on a grid
    points[n // 2:n // 2 + n // 10] = points[:n // 10]                        # duplicates
    return points


@pytest.mark.parametrize("z", [2, 3, 6, 8, 10])
def test_neighbours_are_the_brute_force_ones_with_ties_in_index_order(z):
    rng = np.random.default_rng(z)
    points = _tied_points(rng, 600, z)
    queries = np.concatenate([_tied_points(rng, 60, z), points[:20], rng.normal(0, 2, (40, z))])   # on grid points too
    for leaf_size in (1, 5, 16, 128):                  # 128: a cap in the first leaf (k <= 128), a padded last leaf
        tree = KdTree(points, leaf_size)
        for k in (1, 20, 120, 600):
            dist, index = tree.query(queries, k)
            ref_dist, ref_index = knn_reference(points, queries, k)
            np.testing.assert_array_equal(index, ref_index, err_msg=f"Z={z} leaf={leaf_size} k={k}")
            np.testing.assert_array_equal(dist, ref_dist, err_msg=f"Z={z} leaf={leaf_size} k={k}")


@pytest.mark.parametrize("z", [2, 5, 6, 8, 9])
def test_distances_and_neighbours_are_ckdtrees_bit_for_bit_without_ties(z):
    rng = np.random.default_rng(10 + z)
    points = np.concatenate([rng.normal(size=(3000, z)), rng.normal(4, 0.2, (300, z))])   # two densities
    queries = np.concatenate([rng.normal(size=(400, z)), points[:30], rng.uniform(-9, 9, (30, z))])
    dist, index = KdTree(points).query(queries, 20)
    ck_dist, ck_index = cKDTree(points).query(queries, 20)
    np.testing.assert_array_equal(dist, ck_dist)
    np.testing.assert_array_equal(index, ck_index)
    np.testing.assert_array_equal(knn_reference(points, queries[:50], 20)[0], ck_dist[:50])   # the reference too


def test_an_answer_depends_on_its_query_alone():
    rng = np.random.default_rng(1)
    points = _tied_points(rng, 2000, 6)
    queries = rng.normal(0, 2, (300, 6))
    tree = KdTree(points)
    dist, index = tree.query(queries, 20)
    back = tree.query(queries[::-1], 20)
    alone = [tree.query(queries[i:i + 1], 20) for i in (0, 150, 299)]
    np.testing.assert_array_equal(back[1][::-1], index)
    np.testing.assert_array_equal(back[0][::-1], dist)
    for i, (d, j) in zip((0, 150, 299), alone):
        np.testing.assert_array_equal(j[0], index[i])
        np.testing.assert_array_equal(d[0], dist[i])
    assert tree.query(np.zeros((0, 6)), 20)[0].shape == (0, 20)


def test_bad_points_and_queries_are_refused_in_one_line():
    tree = KdTree(np.zeros((5, 3)))
    for call, text in ((lambda: KdTree(np.full((4, 2), np.nan)), "finite"), (lambda: KdTree(np.zeros(4)), "(N, Z)"),
                       (lambda: tree.query(np.zeros((2, 4)), 1), "(B, 3)"), (lambda: tree.query(np.zeros((2, 3)), 6), "1..5"),
                       (lambda: tree.query(np.full((1, 3), np.inf), 1), "finite")):
        with pytest.raises(NpvaeError) as err:
            call()
        assert text in str(err.value) and "\n" not in str(err.value)


SCRIPT = r"""
import json, sys
import numpy as np
from npvae.analysis import kdtree
assert kdtree._query_jit is kdtree._query and not hasattr(kdtree._leaf_sq_dists, "py_func"), "JIT not disabled"
rng = np.random.default_rng(2)
points = rng.integers(-2, 3, size=(120, 3)).astype(float)
dist, index = kdtree.KdTree(points, 16).query(rng.normal(0, 1.5, (15, 3)), 7)
json.dump({"dist": dist.tolist(), "index": index.tolist()}, sys.stdout)
"""


def test_the_plain_python_bodies_without_jit_give_the_same_neighbours():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nojit = json.loads(proc.stdout)
    rng = np.random.default_rng(2)
    points = rng.integers(-2, 3, size=(120, 3)).astype(float)
    dist, index = KdTree(points, 16).query(rng.normal(0, 1.5, (15, 3)), 7)
    np.testing.assert_array_equal(np.array(nojit["index"]), index)
    np.testing.assert_array_equal(np.array(nojit["dist"]), dist)


def test_every_leaf_but_the_last_is_full_so_leaves_are_whole_blocks():
    rng = np.random.default_rng(4)
    for n, leaf_size in ((600, 128), (1000, 16), (77, 5), (64, 64), (3, 128)):
        tree = KdTree(rng.normal(size=(n, 3)), leaf_size)
        leaves = np.flatnonzero(tree.left < 0)
        sizes = (tree.stop - tree.start)[leaves]
        assert np.all(sizes[tree.stop[leaves] < n] == leaf_size), (n, leaf_size)
        assert np.all(tree.start[leaves] % leaf_size == 0) and sizes.sum() == n
        assert tree.blocks.shape == (-(-n // leaf_size), 3, leaf_size)


def test_the_padding_of_the_last_leaf_is_never_a_neighbour():
    """Far from the origin, the zero-padded slots of the last leaf would be the nearest points to it."""
    rng = np.random.default_rng(5)
    points = rng.normal(50, 1, (300, 6))                                     # 300 = 2 x 128 + 44: 84 padded slots
    queries = np.concatenate([np.zeros((3, 6)), rng.normal(50, 1, (20, 6))])
    for k in (1, 20, 300):
        dist, index = KdTree(points, 128).query(queries, k)
        ref_dist, ref_index = knn_reference(points, queries, k)
        np.testing.assert_array_equal(index, ref_index)
        np.testing.assert_array_equal(dist, ref_dist)


@pytest.mark.parametrize("m", [20, 31, 64, 128])
def test_the_first_leaf_cap_has_k_points_below_it_and_is_the_kth_when_every_point_is_sampled(m):
    kth_cap = kdtree._kth_cap.py_func
    rng = np.random.default_rng(m)
    for trial in range(200):
        leaf_d = np.round(rng.exponential(size=m), 1)                       # ties on purpose
        k = int(rng.integers(1, m + 1))
        cap = kth_cap(leaf_d, m, k)
        kth = np.sort(leaf_d)[k - 1]                                         # the k-th smallest
        if m < 32:                                                           # every point sampled: exactly the k-th
            assert cap == kth, (m, k)
        else:                                    # a point's distance with k at or below it, or none
            assert cap == np.inf or (cap in leaf_d and np.count_nonzero(leaf_d <= cap) >= k and cap >= kth), (m, k)
    assert any(kth_cap(d, 128, 20) < np.inf for d in rng.exponential(size=(5, 128)))   # a cap is found in practice
