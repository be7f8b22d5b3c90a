"""Why npvae's NMF reconstructs worse than PCA on the quick dataset (the paper finds it slightly better).

Four experiments on the training/validation split of a dataset file (the quick preset's 8,000
synthetic spectra by default), each at 2 and 10 parameters, scored with the paper's Fig. 3
metric (mean weighted squared error on the validation set, npvae.baselines.metrics.weighted_mse):

1. convergence: the unweighted objective and the validation metric of NMF after 100, 300
   (the reproduce preset), 1000 and 2000 updates (tol = 0, so all are run), with ``--solver mu``
   (multiplicative updates) or ``hals`` (npvae's default);
2. initialisation: three random starts (seeds) at 300 updates;
3. objective vs metric: NMF (unweighted, the paper's) against WeightedNMF (minimises the metric);
4. non-negativity: the fraction of negative flux, and the part of the metric that no
   non-negative model can remove (sum w min(x, 0)^2 / (N D): a reconstruction >= 0 is at least
   that far from a negative pixel);
5. the count of templates: NMF has no mean, so PCA with k components has k + 1 templates.
   The rank-k truncated SVD of the training set (no mean) is the best any k-template model can
   do on the unweighted training objective (Eckart-Young): sum_(i > k) s_i^2 / (N D) is a lower
   bound of NMF's objective; PCA without its mean shows it on the validation metric.

    python benchmarks/nmf_vs_pca.py [DATASET.fits] [--sizes 2 10] [--iters 100 300 1000 2000] \
        [--solver hals|mu] [--seeds 1 2 3] [--weighted-iters 300]

The last line starts with SUMMARY.
"""
import argparse
import json
import os
import platform
import time

import numpy as np
from threadpoolctl import threadpool_limits

from npvae.baselines import NMF, PCA, WeightedNMF
from npvae.baselines.metrics import weighted_mse
from npvae.commands.train import read_training_data

DEFAULT = os.path.expanduser("~/npvae_data/demo_runs/synthetic_n8000_e30_s0/dataset.fits")


def nmf_metric(cls, k, X, W, Xv, Wv, n_iter, seed=0, solver=None):
    """(validation metric, final training objective per value, seconds) of one NMF fit."""
    t0 = time.perf_counter()
    est = cls(k, max_iter=n_iter, tol=0.0, rng=seed, solver=solver).fit(X, W)
    score = weighted_mse(Xv, est.reconstruct(Xv, Wv), Wv)
    return score, est.objective_history_[-1] / X.size, time.perf_counter() - t0


def pca_without_mean(k, X, Xv):
    """Reconstruction of Xv by the top-k right singular vectors of X itself (no mean)."""
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    P = vt[:k]                                                      # (K, D)
    return (Xv @ P.T) @ P                                           # (V, D)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=DEFAULT)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--iters", type=int, nargs="+", default=[100, 300, 1000, 2000])
    parser.add_argument("--weighted-iters", type=int, nargs="*", default=[300])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--solver", choices=("hals", "mu"), default="hals", help="of the unweighted NMF")
    args = parser.parse_args()
    X, W, Xv, Wv = (np.asarray(a, np.float64) for a in read_training_data(args.data))
    print(f"{args.data}: {len(X)} training, {len(Xv)} validation spectra; {platform.machine()}, "
          f"{os.cpu_count()} cores, 1 BLAS thread")
    neg = X < 0
    good = W > 0
    floor = float((Wv * np.minimum(Xv, 0.0) ** 2).mean())
    summary = {"negative_fraction": float(neg.mean()), "negative_fraction_good": float(neg[good].mean()),
               "negative_floor_val": floor}
    print(f"negative flux: {100 * neg.mean():.2f}% of training pixels ({100 * neg[good].mean():.2f}% of those "
          f"with weight > 0); metric floor for a non-negative model on validation: {floor:.4g}")
    s2 = np.linalg.svd(np.maximum(X, 0.0), compute_uv=False) ** 2            # (D,) of the clipped data NMF fits
    for k in args.sizes:
        bound = float(s2[k:].sum() / X.size)
        print(f"k={k}: lower bound of NMF's objective per value (rank-{k} SVD, Eckart-Young): {bound:.5g}")
        row = {"svd_bound": bound, "PCA": weighted_mse(Xv, PCA(k).fit(X).reconstruct(Xv), Wv),
               "PCA_no_mean": weighted_mse(Xv, pca_without_mean(k, X, Xv), Wv),
               "PCA_k_minus_1": weighted_mse(Xv, PCA(k - 1).fit(X).reconstruct(Xv), Wv) if k > 1 else None}
        print(f"k={k}: PCA {row['PCA']:.4g}, PCA without mean {row['PCA_no_mean']:.4g}, "
              f"PCA with k-1 components + mean {row['PCA_k_minus_1']}")
        for n_iter in args.iters:
            score, obj, sec = nmf_metric(NMF, k, X, W, Xv, Wv, n_iter, solver=args.solver)
            row[f"NMF_{args.solver}_{n_iter}"] = score
            print(f"  NMF ({args.solver}) {n_iter:5d} updates: metric {score:.4g}, objective/value {obj:.5g} ({sec:.0f} s)",
                  flush=True)
        row["NMF_seeds_300"] = [nmf_metric(NMF, k, X, W, Xv, Wv, 300, seed, args.solver)[0] for seed in args.seeds]
        print(f"  NMF ({args.solver}) 300 updates, seeds {args.seeds}: "
              f"{', '.join(f'{v:.4g}' for v in row['NMF_seeds_300'])}", flush=True)
        for n_iter in args.weighted_iters:
            score, _, sec = nmf_metric(WeightedNMF, k, X, W, Xv, Wv, n_iter)
            row[f"WeightedNMF_{n_iter}"] = score
            print(f"  WeightedNMF {n_iter} updates: metric {score:.4g} ({sec:.0f} s)", flush=True)
        summary[f"k{k}"] = row
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    with threadpool_limits(limits=1):
        main()
