"""Speed of the LOF's neighbour query: npvae's kd-tree against SciPy's cKDTree (the path before it).

Default: reference points and queries drawn from a standard normal in Z dimensions (the InfoVAE
prior that training latents follow). ``--latents FILE --model RUN``: a real reference instead,
the model's training latents (what ``npvae encode`` scores against), queried with the MU column
of the first ``--queries`` rows of a LATENTS file; the LOF scores are then also checked against
the file's OUTLIER column when it has one. k = 20 neighbours; thread CPU microseconds per query
on one thread, queries in chunks of ``--chunk`` rows (an encode task's chunk), the two programs
alternating ``--repeat`` times on the same queries; distances are checked equal bit for bit, and
the neighbours too except where equal distances leave cKDTree's order open.

Each reference is also FITTED both ways, wall seconds (median of ``--repeat``): scikit-learn's
``LocalOutlierFactor(n_neighbors=k, novelty=True).fit`` (the path before npvae's own fit; its
first import timed too) against :func:`npvae.analysis.outliers.fit_lof_reference` (after a
warm-up call: the Numba kernels loaded), with the k-distances and lrd checked equal bit for bit.

    python benchmarks/lof_speed.py [--n 20000 47000] [--z 6] [--queries 16384] [--repeat 3]
    python benchmarks/lof_speed.py --latents W/latents.fits --model W/run [--queries 16384]
"""
import argparse
import statistics
import time

import numpy as np
from scipy.spatial import cKDTree

import npvae.train
from npvae.analysis.kdtree import KdTree
from npvae.analysis.outliers import fit_lof_reference, lof_novelty_scores
from npvae.apply.spectra import CHUNK
from npvae.data.fitsfast import read_rows
from npvae.paper import LOF_K


def cpu_us(query, queries, chunk):
    """Thread CPU microseconds per query of query(rows) over the queries, chunk by chunk."""
    t0 = time.thread_time()
    for lo in range(0, len(queries), chunk):
        query(queries[lo:lo + chunk])
    return (time.thread_time() - t0) / len(queries) * 1e6


def check_same(old, new):
    """Distances equal bit for bit; neighbours equal where no two distances in a row tie."""
    assert np.array_equal(old[0], new[0]), "the distances differ"
    tied = (np.diff(new[0], axis=1) == 0).any(axis=1)                     # (B,) rows with equal distances
    assert np.array_equal(old[1][~tied], new[1][~tied]), "the neighbours differ"
    return int(tied.sum())


def compare(label, points, queries, args):
    """Time cKDTree and the kd-tree on the same queries and print the medians."""
    old, new = cKDTree(points), KdTree(points)
    n_tied = check_same(old.query(queries, LOF_K), new.query(queries, LOF_K))   # also the Numba warm-up
    times = {"cKDTree": [], "kd-tree": []}
    for _ in range(args.repeat):
        times["cKDTree"].append(cpu_us(lambda q: old.query(q, LOF_K), queries, args.chunk))
        times["kd-tree"].append(cpu_us(lambda q: new.query(q, LOF_K), queries, args.chunk))
    print(f"{label}, k = {LOF_K}, {len(queries)} queries in chunks of {args.chunk} ({n_tied} rows with tied "
          f"distances): thread CPU us per query, median (range) of {args.repeat}")
    for name, t in times.items():
        print(f"  {name:8s} {statistics.median(t):6.1f}  ({min(t):.1f}-{max(t):.1f})")


def compare_fit(points, args):
    """Wall seconds of the LOF fit: scikit-learn's against npvae's, and their k-distances and lrd compared."""
    t = time.perf_counter()
    from sklearn.neighbors import LocalOutlierFactor                       # only here: npvae never imports it
    imported = time.perf_counter() - t
    fit_lof_reference(points[:LOF_K + 1])                                  # the Numba warm-up
    times = {"scikit-learn": [], "npvae": []}
    for _ in range(args.repeat):
        t = time.perf_counter()
        theirs = LocalOutlierFactor(n_neighbors=LOF_K, novelty=True).fit(points)
        times["scikit-learn"].append(time.perf_counter() - t)
        t = time.perf_counter()
        ours = fit_lof_reference(points)
        times["npvae"].append(time.perf_counter() - t)
    same = (np.array_equal(ours.k_distance, theirs._distances_fit_X_[:, LOF_K - 1])
            and np.array_equal(ours.lrd, theirs._lrd))
    print(f"  LOF fit on the {len(points)} reference points, wall s, median (range) of {args.repeat}; "
          f"k-distances and lrd equal bit for bit: {same}")
    for name, t in times.items():
        print(f"  {name:12s} {statistics.median(t):6.3f}  ({min(t):.3f}-{max(t):.3f})")
    print(f"  (import sklearn.neighbors: {imported:.2f} s, here after npvae)")


def real_reference(args):
    """The model's training latents (N, Z) and the MU (B, Z) and OUTLIER (B,) of the file's first rows."""
    reference = np.asarray(npvae.train.load(args.model).train_latents_, dtype=np.float64)
    wanted = ("MU", "OUTLIER")
    _, cols = read_rows(args.latents, 0, args.queries, table="LATENTS", columns=wanted)
    return reference, cols["MU"].astype(np.float64), cols.get("OUTLIER")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20000, 47000], help="reference points")
    parser.add_argument("--z", type=int, default=6, help="dimensions")
    parser.add_argument("--queries", type=int, default=16384)
    parser.add_argument("--chunk", type=int, default=CHUNK, help="queries per call")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latents", help="a LATENTS file (npvae encode): its MU rows are the queries")
    parser.add_argument("--model", help="with --latents: the run whose training latents are the reference")
    args = parser.parse_args(argv)
    if (args.latents is None) != (args.model is None):
        parser.error("--latents and --model go together")
    if args.latents:
        reference, queries, outlier = real_reference(args)
        compare(f"training latents of {args.model}: N = {len(reference)}, Z = {reference.shape[1]}", reference,
                queries, args)
        compare_fit(reference, args)
        if outlier is not None:
            same = np.array_equal(lof_novelty_scores(fit_lof_reference(reference), queries), outlier)
            print(f"  LOF scores equal to the file's OUTLIER column bit for bit: {same}")
        return
    rng = np.random.default_rng(0)
    for n in args.n:
        points, queries = rng.normal(size=(n, args.z)), rng.normal(size=(args.queries, args.z))
        compare(f"N = {n}, Z = {args.z} (standard normal)", points, queries, args)
        compare_fit(points, args)


if __name__ == "__main__":
    main()
