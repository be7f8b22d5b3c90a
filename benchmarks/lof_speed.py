"""Speed of the LOF's neighbour query: npvae's kd-tree against SciPy's cKDTree (the path before it).

Reference points and queries drawn from a standard normal in Z dimensions (the InfoVAE prior
that training latents follow), k = 20 neighbours; thread CPU microseconds per query on one
thread, the two programs alternating ``--repeat`` times on the same queries; the neighbours and
distances are checked equal (continuous data: no ties).

    python benchmarks/lof_speed.py [--n 20000 47000] [--z 6] [--queries 16384] [--repeat 3]
"""
import argparse
import statistics
import time

import numpy as np
from scipy.spatial import cKDTree

from npvae.analysis.kdtree import KdTree
from npvae.paper import LOF_K


def cpu_us(fn, n):
    """Thread CPU microseconds per query of one call of fn()."""
    t0 = time.thread_time()
    fn()
    return (time.thread_time() - t0) / n * 1e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20000, 47000], help="reference points")
    parser.add_argument("--z", type=int, default=6, help="dimensions")
    parser.add_argument("--queries", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    for n in args.n:
        points, queries = rng.normal(size=(n, args.z)), rng.normal(size=(args.queries, args.z))
        old, new = cKDTree(points), KdTree(points)
        a, b = old.query(queries, LOF_K), new.query(queries, LOF_K)         # warm-up (Numba) and check
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), "the neighbours differ"
        times = {"cKDTree": [], "kd-tree": []}
        for _ in range(args.repeat):
            times["cKDTree"].append(cpu_us(lambda: old.query(queries, LOF_K), len(queries)))
            times["kd-tree"].append(cpu_us(lambda: new.query(queries, LOF_K), len(queries)))
        print(f"N = {n}, Z = {args.z}, k = {LOF_K}: thread CPU us per query, median (range) of {args.repeat}")
        for name, t in times.items():
            print(f"  {name:8s} {statistics.median(t):6.1f}  ({min(t):.1f}-{max(t):.1f})")


if __name__ == "__main__":
    main()
