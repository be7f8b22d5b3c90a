#!/usr/bin/env python3
"""Why npvae's autoencoder reconstructs as well as or better than its InfoVAE (the paper: VAE < AE).

Not a timing. Trains, on one synthetic survey and with one architecture (Table 1 for the latent
size), four models whose objectives differ only in the price they pay for a usable latent
space, and prints each one's Fig. 3 metric on the validation set (mean over spectra and pixels
of w (x' - x)^2, reconstruction from the latent MEAN):

- ``AE``: the plain autoencoder, reconstruction only;
- ``VAE``: the paper's InfoVAE, alpha = 0 and Table 1's lambda (KL weight 1, MMD weight lambda - 1);
- ``VAE, KL off``: alpha = 1, lambda = 1 (KL weight 0, MMD weight 1): a stochastic encoder whose
  variance is free, i.e. the VAE's sampling without the KL bottleneck;
- ``VAE, lambda 1``: alpha = 0, lambda = 1: the plain VAE (KL only, no MMD).

If the gap between AE and VAE came from an npvae defect in the sampling or the decoder path,
every VAE variant would trail the AE. If it is the price of a regulariser, removing that term
closes it. The results and their reading are in docs/results/full/README.md. The paper's AE was a separate TensorFlow model with its own training, which
this experiment cannot reproduce.

    python benchmarks/ae_vs_vae.py                       # 8,000 spectra, 6 latents, 30 epochs
    python benchmarks/ae_vs_vae.py --n 8000 --latents 2 6 --epochs 30
"""
import argparse
import json
import time

import numpy as np

from npvae.baselines import metrics
from npvae.data.dataset import load_dataset
from npvae.synthetic import make_dataset
from npvae.train import make_model

VARIANTS = {"AE": ("ae", {}), "VAE": ("vae", {}), "VAE, KL off": ("vae", {"alpha": 1.0, "lam": 1.0}),
            "VAE, lambda 1": ("vae", {"alpha": 0.0, "lam": 1.0})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=8000)
    ap.add_argument("--latents", type=int, nargs="+", default=[6])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    path = f"/tmp/npvae_ae_vs_vae_{args.n}_{args.seed}.fits"
    try:
        ds = load_dataset(path)
    except Exception:
        make_dataset(args.n, rng=args.seed, path=path, verbose=False)
        ds = load_dataset(path)
    train, valid = (ds.subset(s).without_stars() for s in ("train", "valid"))
    rows = []
    for z in args.latents:
        for name, (kind, opts) in VARIANTS.items():
            model = make_model(kind, z, seed=args.seed + z, **opts)
            t0 = time.perf_counter()
            model.fit(train.flux, train.weight, valid.flux, valid.weight, max_epochs=args.epochs, verbose=False)
            xhat = model.reconstruct(valid.flux)
            mse = float(np.mean(metrics.weighted_mse_per_spectrum(valid.flux, xhat, valid.weight)))
            row = {"latents": z, "model": name, "weighted_mse": mse, "epochs": len(model.history_),
                   "seconds": round(time.perf_counter() - t0, 1)}
            if kind == "vae":
                logvar = model.encode(valid.flux)[1]
                row["median_latent_std"] = float(np.median(np.exp(0.5 * logvar)))
            rows.append(row)
            print(f"Z={z} {name:14s} weighted MSE {mse:.4f}  epochs {row['epochs']}  "
                  f"median latent std {row.get('median_latent_std', float('nan')):.3g}  ({row['seconds']} s)",
                  flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
