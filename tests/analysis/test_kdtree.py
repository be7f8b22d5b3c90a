"""The kd-tree of the LOF queries against a brute-force reference and against SciPy's cKDTree."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial import cKDTree

from _reference import knn_reference
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
    for leaf_size in (1, 5, 16):
        tree = KdTree(points, leaf_size)
        for k in (1, 20, 600):
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
assert kdtree._query_jit is kdtree._query and not hasattr(kdtree._sq_dist, "py_func"), "JIT not disabled"
rng = np.random.default_rng(2)
points = rng.integers(-2, 3, size=(120, 3)).astype(float)
dist, index = kdtree.KdTree(points, 4).query(rng.normal(0, 1.5, (15, 3)), 7)
json.dump({"dist": dist.tolist(), "index": index.tolist()}, sys.stdout)
"""


def test_the_plain_python_bodies_without_jit_give_the_same_neighbours():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    nojit = json.loads(proc.stdout)
    rng = np.random.default_rng(2)
    points = rng.integers(-2, 3, size=(120, 3)).astype(float)
    dist, index = KdTree(points, 4).query(rng.normal(0, 1.5, (15, 3)), 7)
    np.testing.assert_array_equal(np.array(nojit["index"]), index)
    np.testing.assert_array_equal(np.array(nojit["dist"]), dist)
