#!/usr/bin/env python3
"""Speed of the weighted NMF's multiplicative updates: NumPy (nmf_step) against the fused kernels.

Runs ``--iter`` updates (tol 0) from the same start on the first ``--n`` training spectra of a
dataset file (or of a new synthetic survey), once with the NumPy updates (``nmf_step`` and
``nmf_objective``, the reference) and once with the fused Numba kernels that ``WeightedNMF``
uses (``npvae.baselines.weighted_mu``), each in a fresh process, the two alternating, for
``--rounds`` rounds and each ``--k``. Printed: wall seconds per iteration of each round, the
medians, their ratio and the two final chi^2 (which agree to rounding). The first fused
iteration includes no compilation: the kernels are compiled (or loaded from Numba's cache)
before the clock starts.

    python benchmarks/weighted_nmf_speed.py --data survey.fits --n 20000 --k 2 10 --iter 20
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np

from npvae.baselines.models import nmf_objective, nmf_step
from npvae.baselines.weighted_mu import h_statistics, multiplicative_updates, update_codes
from npvae.data.dataset import load_dataset
from npvae.synthetic import make_dataset

TINY = 1e-12


def one_run(args, method, k):
    """Time ``args.iter`` updates of ``method`` ("numpy" or "fused") at k components; -> dict."""
    data = load_dataset(args.data) if args.data else make_dataset(int(args.n / 0.75) + 1000, rng=0)
    train = data.subset("train").without_stars()
    X = np.maximum(np.asarray(train.flux[:args.n], np.float64), 0.0)      # (N, D)
    W = np.ascontiguousarray(train.weight[:args.n], np.float64)          # (N, D)
    rng = np.random.default_rng(0)
    scale = np.sqrt(X.mean() / k)
    C, H = scale * rng.uniform(0.1, 1.0, (X.shape[0], k)), scale * rng.uniform(0.1, 1.0, (k, X.shape[1]))
    h_statistics(X[:64], W[:64], C[:64], H)                              # compile / load the kernels
    update_codes(X[:64], W[:64], C[:64].copy(), H, TINY)
    t0 = time.perf_counter()
    if method == "numpy":
        WX = W * X                                                       # (N, D)
        for _ in range(args.iter):
            C, H = nmf_step(X, W, C, H, WX)
            chi2 = nmf_objective(X, W, C, H)
    else:
        steps = multiplicative_updates(X, W, C, H, TINY)
        for _ in range(args.iter):
            C, H, chi2 = next(steps)
    seconds = time.perf_counter() - t0
    return {"method": method, "k": k, "n": X.shape[0], "s_per_iter": seconds / args.iter, "chi2": chi2}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset file (default: a new synthetic survey)")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--k", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--iter", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)    # METHOD:K, in the child
    args = parser.parse_args(argv)
    if args.one:
        method, k = args.one.split(":")
        print(json.dumps(one_run(args, method, int(k))))
        return
    base = [sys.executable, __file__, "--n", str(args.n), "--iter", str(args.iter)]
    base += ["--data", args.data] if args.data else []
    for k in args.k:
        times = {"numpy": [], "fused": []}
        for r in range(args.rounds):
            for method in ("numpy", "fused") if r % 2 == 0 else ("fused", "numpy"):
                out = subprocess.run(base + ["--one", f"{method}:{k}"], capture_output=True, text=True, check=True)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                times[method].append(res["s_per_iter"])
                print(f"K = {k}, round {r + 1}, {method:5s}: {res['s_per_iter']:.3f} s/iteration "
                      f"({res['n']} spectra), final chi^2 {res['chi2']:.10e}", flush=True)
        a, b = np.median(times["numpy"]), np.median(times["fused"])
        print(f"K = {k}: median {a:.3f} s (numpy) vs {b:.3f} s (fused) per iteration: {a / b:.2f}x")


if __name__ == "__main__":
    main()
