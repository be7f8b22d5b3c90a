"""Successive halving against the plain random search over the same configurations.

Both searches draw the same N configurations (npvae.train.search.sample_configs) for one latent
size; the plain search trains each to ``--epochs`` (with early stopping), successive halving
(npvae.train.search_halving, eta = 3) trains all for a few epochs and only the best 1/eta of each
rung further. Printed: the best validation reconstruction loss of each, its relative gap, and
the cost (epochs trained in all, summed training seconds, wall time). The target is a gap
within 2% at <= 1/4 of the cost. Both searches resume if the script is run again on the same
--out (the wall times then cover only the last run; the epochs and seconds are the whole).

    npvae synth --n 8000 --out quick.fits        # or the demo's dataset.fits
    python benchmarks/search_halving.py quick.fits --n-configs 9 --workers 1 --out /tmp/halving_bench

The last line starts with SUMMARY.
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

from npvae.commands.train import read_training_data
from npvae.train import search, search_halving
from npvae.train.search import read_results


def cost(rows):
    """(epochs trained, training seconds): one configuration's epochs once, its seconds summed over calls."""
    return sum(r["epochs"] for r in rows), sum(r["seconds"] for r in rows)


def halving_cost(out):
    """Epochs (each configuration's last rung) and seconds (all rungs) of a halving search folder."""
    rungs = sorted(out.glob("rung_*.csv"))
    last = {}
    seconds = 0.0
    for path in rungs:
        for i, row in read_results(path).items():
            last[i] = row["epochs"]
            seconds += row["seconds"]
    return sum(last.values()), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="dataset FITS file (npvae synth / preprocess)")
    parser.add_argument("--n-configs", type=int, default=9)
    parser.add_argument("--latent", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="search_halving_bench")
    args = parser.parse_args()
    out = Path(args.out)
    X, W, Xv, Wv = read_training_data(args.data, seed=args.seed)
    common = dict(n_latent=args.latent, n_configs=args.n_configs, seed=args.seed, n_workers=args.workers,
                  max_epochs=args.epochs, verbose=False)
    print(f"{len(X)} training, {len(Xv)} validation spectra; Z={args.latent}, {args.n_configs} configurations, "
          f"{args.epochs} epochs, {args.workers} worker(s); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores", flush=True)
    t0 = time.perf_counter()
    halved = search_halving(X, W, Xv, Wv, out_dir=out / "halving", eta=args.eta, **common)
    wall_h = time.perf_counter() - t0
    epochs_h, seconds_h = halving_cost(out / "halving")
    print(f"halving: best val recon {halved[0]['val_recon']:.5g} (id {halved[0]['id']}), {epochs_h} epochs, "
          f"{seconds_h:.0f} s training, {wall_h:.0f} s wall", flush=True)
    t0 = time.perf_counter()
    plain = search(X, W, Xv, Wv, out_dir=out / "plain", **common)
    wall_p = time.perf_counter() - t0
    epochs_p, seconds_p = cost(plain)
    print(f"plain:   best val recon {plain[0]['val_recon']:.5g} (id {plain[0]['id']}), {epochs_p} epochs, "
          f"{seconds_p:.0f} s training, {wall_p:.0f} s wall", flush=True)
    summary = {"n_configs": args.n_configs, "gap": halved[0]["val_recon"] / plain[0]["val_recon"] - 1,
               "epoch_ratio": epochs_h / epochs_p, "seconds_ratio": seconds_h / seconds_p,
               "halving_best": halved[0]["val_recon"], "plain_best": plain[0]["val_recon"],
               "plain_ranking": [r["id"] for r in plain]}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
