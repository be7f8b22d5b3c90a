"""Streaming training from a sharded dataset against training on the same rows in memory.

Usage: python benchmarks/streaming_fit.py [--n 20000] [--shard-size 5000] [--epochs 1] [--out DIR]

Makes a sharded synthetic dataset (``npvae synth --shard-size``, in this process) unless
``--out`` already holds one, then trains the paper's 6-latent InfoVAE for ``--epochs`` epochs
twice, each in a fresh child process with BLAS on one thread: ``memory`` reads the training
and validation rows into arrays first, ``stream`` passes the lazy rows (``ShardedArray.select``)
to ``fit``. Prints the wall time of ``fit``, spectra per second, the peak resident memory of
the child (getrusage; it counts the pages of the memory-mapped shards that the child touched,
file pages the kernel may drop when memory is short) and whether the two runs gave the same
weights (they must: same seed). The shards are read once before timing, so the page cache is
warm for both.
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
import npvae
mode, folder, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
ds = npvae.load_dataset(folder)
train, valid = ds.split == "train", ds.split == "valid"
data = [ds.flux.select(train), ds.weight.select(train), ds.flux.select(valid), ds.weight.select(valid)]
if mode == "memory":
    data = [np.asarray(a) for a in data]
with threadpool_limits(1):
    model = npvae.InfoVAE(seed=0)
    t0 = time.perf_counter()
    model.fit(*data, max_epochs=epochs, verbose=False)
    seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "n_train": int(train.sum()), "peak_mb": resource.getrusage(
    resource.RUSAGE_SELF).ru_maxrss / 1024, "weights": float(np.abs(model.flat_params).sum())}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--shard-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", default=None, help="sharded dataset folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.out or Path(tmp) / "shards")
        if not (folder / "manifest.json").exists():
            subprocess.run([sys.executable, "-m", "npvae.cli", "synth", "--n", str(args.n), "--shard-size",
                            str(args.shard_size), "--out", str(folder), "--scheduler", "none", "--quiet"],
                           check=True)
        for path in sorted(folder.glob("shard-*.fits")):
            path.read_bytes()                                 # warm the page cache for both runs
        results = {}
        for mode in ("memory", "stream"):
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder), str(args.epochs)],
                                 check=True, capture_output=True, text=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
        for mode, r in results.items():
            rate = r["n_train"] * args.epochs / r["seconds"]
            print(f"{mode:7s} fit {r['seconds']:7.1f} s  {rate:7.0f} spectra/s  peak RSS {r['peak_mb']:7.0f} MB")
        same = results["memory"]["weights"] == results["stream"]["weights"]
        print(f"same weights: {same}")


if __name__ == "__main__":
    main()
