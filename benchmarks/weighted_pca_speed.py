#!/usr/bin/env python3
"""Speed of the weighted PCA fit (npvae.baselines.WeightedPCA), before and after npvae.baselines.als.

Fits K components to the first ``--n`` training spectra (galaxies and quasars) of a dataset file,
or of a new synthetic survey, three ways from the same start, ``--iter`` iterations each (tol 0):

- before: plain alternation as npvae first wrote it (copied below: (N, K^2) and (D, (K+1)^2)
  normal matrices, np.linalg.solve, chi^2 from an (N, D) residual);
- after, plain: ``weighted_als(extrapolate=False)``, the same iterates (packed normal equations,
  Numba Cholesky, chi^2 from the normal equations);
- after, extrapolated: the default.

Printed: seconds, seconds per iteration, final chi^2, and the iteration at which the extrapolated
fit reaches the chi^2 the plain fits end at.

    python benchmarks/weighted_pca_speed.py --data survey.fits --n 10000 --k 10 --iter 100
"""
import argparse
import time

import numpy as np

from npvae.baselines import WeightedPCA
from npvae.baselines.als import weighted_als
from npvae.baselines.models import _weighted_mean
from npvae.data.dataset import load_dataset
from npvae.synthetic import make_dataset


def before(X, W, mean, P, n_iter):
    """The first implementation's loop (plain alternating least squares); returns chi^2 per iteration."""
    def solve(A, b):
        K = A.shape[-1]
        scale = np.trace(A, axis1=1, axis2=2) / K
        A = A + 1e-10 * np.where(scale > 0, scale, 1.0)[:, None, None] * np.eye(K)
        return np.linalg.solve(A, b[..., None])[..., 0]

    def codes(Xc, P):
        K = P.shape[0]
        PP = (P[:, None, :] * P[None, :, :]).reshape(K * K, -1)
        return solve((W @ PP.T).reshape(-1, K, K), (W * Xc) @ P.T)

    def components(C):
        K = C.shape[1]
        CC = (C[:, :, None] * C[:, None, :]).reshape(-1, K * K)
        return solve((W.T @ CC).reshape(-1, K, K), (W * X).T @ C).T

    ones, history = np.ones((X.shape[0], 1)), []
    for _ in range(n_iter):
        C = codes(X - mean, P)
        PM = components(np.hstack([C, ones]))
        P, mean = PM[:-1], PM[-1]
        history.append(float((W * (X - mean - C @ P) ** 2).sum()))
    return np.array(history)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="dataset file (default: a new synthetic survey)")
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iter", type=int, default=100)
    args = parser.parse_args(argv)
    data = load_dataset(args.data) if args.data else make_dataset(int(args.n / 0.75) + 1000, rng=0)
    train = data.subset("train").without_stars()
    X, W = (np.asarray(a[:args.n], np.float64) for a in (train.flux, train.weight))
    mean = _weighted_mean(X, W)
    P = WeightedPCA(args.k)._initial_components(X - mean, W)
    print(f"weighted PCA, K = {args.k}, {X.shape[0]} x {X.shape[1]} spectra, {args.iter} iterations")
    runs = {"before": lambda: before(X, W, mean, P, args.iter),
            "after, plain": lambda: weighted_als(X, W, mean, P, args.iter, tol=0.0, extrapolate=False)[3],
            "after, extrapolated": lambda: weighted_als(X, W, mean, P, args.iter, tol=0.0)[3]}
    histories = {}
    for name, run in runs.items():
        t0 = time.perf_counter()
        histories[name] = h = run()
        seconds = time.perf_counter() - t0
        print(f"  {name:20s} {seconds:7.1f} s  {seconds / len(h):.3f} s/iteration  chi^2 {h[-1]:.8e}", flush=True)
    target = histories["after, plain"][-1]
    hit = np.flatnonzero(histories["after, extrapolated"] <= target)
    print(f"  the extrapolated fit reaches the plain fit's final chi^2 at iteration "
          f"{hit[0] + 1 if hit.size else 'never'} of {args.iter}")


if __name__ == "__main__":
    main()
