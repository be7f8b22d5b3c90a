"""Speed of the baselines and of the latent-space analyses at the paper's sizes.

- Baselines: fit + reconstruct of PCA, weighted PCA, NMF and weighted NMF with K = 6 on the
  training spectra of a synthetic survey (``--n`` spectra, 75% train), ``--iter`` iterations.
- Noise sensitivity (Fig. 17) at the paper's size: 10 S/N levels x 10,000 draws of one
  1000-pixel spectrum through a random-weight 1000-703-94-(6+6) ReLU MLP standing in for the
  encoder (float32, chunks of 4096).
- LOF (k = 20) and k-NN class separation (k = 15, 5 folds) on a 60,000-point toy latent cloud.

    python benchmarks/analysis_speed.py                     # n 16000, 300 iterations
    python benchmarks/analysis_speed.py --n 64000 --iter 100
"""
import argparse
import time

import numpy as np

from npvae import baselines
from npvae.analysis import knn_separation, lof_scores, noise_sensitivity
from npvae.baselines.metrics import weighted_mse
from npvae.synthetic import make_dataset


def timed(label, fn):
    t0 = time.perf_counter()
    out = fn()
    print(f"{label}: {time.perf_counter() - t0:.1f} s", flush=True)
    return out


def bench_baselines(n, n_iter):
    data = make_dataset(n, rng=0)
    train, valid = data.subset("train"), data.subset("valid")
    print(f"baselines, K = 6, {len(train)} training spectra x 1000, {n_iter} iterations:")
    for name in ("PCA", "WeightedPCA", "NMF", "WeightedNMF"):
        cls = getattr(baselines, name)
        est = cls(6) if name == "PCA" else cls(6, max_iter=n_iter, rng=0)
        timed(f"  {name:12s} fit", lambda: est.fit(train.flux, train.weight))
        rec = timed(f"  {name:12s} reconstruct {len(valid)}", lambda: est.reconstruct(valid.flux, valid.weight))
        print(f"  {name:12s} validation weighted MSE {weighted_mse(valid.flux, rec, valid.weight):.3f}")


def bench_noise():
    rng = np.random.default_rng(0)
    sizes = [1000, 703, 94, 12]
    weights = [(rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes, sizes[1:])]

    def encode(X):
        h = np.maximum(X @ weights[0], 0)
        h = np.maximum(h @ weights[1], 0) @ weights[2]
        return h[:, :6], 0.1 * h[:, 6:] - 2.0

    x = (1 + 0.2 * np.sin(np.arange(1000) / 50)).astype(np.float32)
    timed("noise sensitivity, 10 levels x 10,000 draws", lambda: noise_sensitivity(
        encode, x, np.full(1000, 2500.0), np.geomspace(3, 80, 10), n_draws=10_000, rng=1))


def bench_latent():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=2.0, size=(4, 6))
    labels = rng.choice(4, size=60_000, p=[0.6, 0.32, 0.06, 0.02])
    mu = centres[labels] + rng.normal(size=(60_000, 6))
    timed("LOF k=20, 60,000 x 6", lambda: lof_scores(mu, k=20))
    timed("kNN separation k=15, 5 folds, 60,000 x 6", lambda: knn_separation(mu, labels.astype(str), rng=0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16000)
    ap.add_argument("--iter", type=int, default=300)
    args = ap.parse_args()
    bench_noise()
    bench_latent()
    bench_baselines(args.n, args.iter)


if __name__ == "__main__":
    main()
