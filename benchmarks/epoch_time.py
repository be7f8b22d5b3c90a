#!/usr/bin/env python3
"""Time one full training epoch of npvae: the paper's model on 47,000 x 1000 float32 spectra.

An epoch here is what ``npvae.train.loop.fit`` does per epoch: shuffle, 735 minibatch steps of 64
(the last one 24) with fresh noise, Adam, then the validation objective on 15,600 spectra
(docs/training.md). Synthetic numbers: flux N(0, 1), weights uniform in [0.5, 2] with 5% zeros,
model 1000-703-94-6, lambda 3.02, float32. Prints the epoch time, its training and validation
parts and spectra/s (47,000 / epoch time), plus the mean number of cores other processes used
and the hypervisor stole (a timing is only trustworthy when both are near 0 on a 2-core machine).

npvae runs in a fresh process of its own (this script with ``--worker``). With ``--torch-python
PATH`` (a Python with torch), runs benchmarks/torch_reference.py (the same model in PyTorch)
--quick after npvae, in another fresh process, and prints the ratio, the median ratio last.
That reference's epoch has no validation pass, so the ratio is conservative for npvae. Target:
npvae's epoch <= half the reference's.

    python benchmarks/epoch_time.py                       # 1 warm-up + 3 timed epochs, 2 threads
    python benchmarks/epoch_time.py --threads 1 --epochs 2
    python benchmarks/epoch_time.py --torch-python /path/to/venv/bin/python
    python benchmarks/epoch_time.py --torch-python /path/to/venv/bin/python --rounds 5
        # alternating rounds; the timings on these VMs vary by 10-30% between minutes
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import npvae

TORCH_BENCH = Path(__file__).resolve().parent / "torch_reference.py"      # the same model in PyTorch


def cpu_snapshot():
    """(wall s, busy CPU-s of the machine, this process's CPU-s, steal CPU-s) from /proc/stat, or None."""
    try:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    t, hz = os.times(), os.sysconf("SC_CLK_TCK")
    return time.perf_counter(), (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, t.user + t.system, v[7] / hz


def other_load(s0, s1):
    """Mean number of cores used by other processes, and stolen by the hypervisor, between two
    snapshots (nan if unknown)."""
    if s0 is None or s1 is None:
        return float("nan"), float("nan")
    wall = s1[0] - s0[0]
    return max(0.0, (s1[1] - s0[1]) - (s1[2] - s0[2])) / wall, (s1[3] - s0[3]) / wall


def synthetic(n, dim, rng):
    """Flux (n, dim) N(0,1) and weights (n, dim) uniform [0.5, 2] with 5% zeros, float32."""
    flux = rng.standard_normal((n, dim), dtype=np.float32)
    weight = rng.uniform(0.5, 2.0, (n, dim)).astype(np.float32)
    weight[rng.random((n, dim)) < 0.05] = 0.0
    return flux, weight


def time_epochs(args, X, W, Xv, Wv):
    """Per-epoch wall times (s), training parts (s) and other-process load of ``args.epochs`` epochs."""
    model = npvae.InfoVAE(X.shape[1], (703, 94), 6, lam=3.02, seed=0, dtype=args.dtype)
    model.fit(X[:640], W[:640], Xv[:640], Wv[:640], max_epochs=1, verbose=False)      # JIT, buffers
    stamps = []
    s0 = cpu_snapshot()
    stamps.append(time.perf_counter())
    model.fit(X, W, Xv, Wv, batch_size=args.batch_size, max_epochs=args.epochs + 1, verbose=False,
              es_patience=1000, lr_patience=1000, callback=lambda m, rec: stamps.append(time.perf_counter()))
    load = other_load(s0, cpu_snapshot())
    walls = np.diff(stamps)[1:]                                   # drop the first (warm-up) epoch
    train = np.array([rec["seconds"] for rec in model.history_])[1:]
    return walls, train, load


def run_fresh(command):
    """Run ``command`` in a fresh process; return its stdout (exit with its output if it failed)."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return result.stdout


def run_torch(python, n_train):
    """Run the PyTorch reference --quick in a fresh process; return (epoch seconds, its SUMMARY line)."""
    out = run_fresh([python, str(TORCH_BENCH.resolve()), "--quick", "--n", str(n_train)])
    summary = [line for line in out.splitlines() if line.startswith("SUMMARY")]
    if not summary:
        sys.exit(f"torch reference printed no SUMMARY:\n{out[-2000:]}")
    match = re.search(r"([\d,.]+)\s*spectra/s", summary[-1])
    speed = float(match.group(1).replace(",", "")) if match else float("nan")
    return n_train / speed, summary[-1]


def run_npvae(args):
    """npvae's epochs in a fresh process (this script with --worker); return the median epoch (s)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker"] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
        if k in ("n_train", "n_val", "batch_size", "epochs", "threads", "dtype")]
    out = run_fresh(command)
    print(out.rstrip())
    return float([line for line in out.splitlines() if line.startswith("RESULT")][-1].split()[1])


def worker(args):
    """Time npvae's epochs in this process; print them and 'RESULT <median epoch s>'."""
    rng = np.random.default_rng(0)
    X, W = synthetic(args.n_train, 1000, rng)
    Xv, Wv = synthetic(args.n_val, 1000, rng)
    with threadpool_limits(limits=args.threads):
        walls, train, load = time_epochs(args, X, W, Xv, Wv)
    print(f"RESULT {report_npvae(args, walls, train, load):.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-train", type=int, default=47_000)
    ap.add_argument("--n-val", type=int, default=15_600)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--torch-python", default=None, help="a Python with torch: also run the reference")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat npvae then the reference this many times; print the median ratio")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)   # one npvae measurement here
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    ratios = []
    for r in range(args.rounds):
        if args.rounds > 1:
            print(f"round {r + 1} of {args.rounds}")
        epoch = run_npvae(args)
        if args.torch_python:
            torch_epoch, summary = run_torch(args.torch_python, args.n_train)
            ratios.append(epoch / torch_epoch)
            print(f"  torch reference: {summary}")
            print(f"  epoch ratio npvae / torch = {ratios[-1]:.2f} (target <= 0.5)")
    if ratios:
        print(f"SUMMARY epoch ratio npvae / torch over {len(ratios)} rounds: "
              f"{' '.join(f'{x:.2f}' for x in ratios)}; median {statistics.median(ratios):.2f}")


def report_npvae(args, walls, train, load):
    """Print npvae's epoch times; return the median epoch (s)."""
    epoch = statistics.median(walls)
    print(f"npvae {npvae.__version__} {args.dtype}, {args.threads} threads, batch {args.batch_size}: "
          f"{args.n_train} train + {args.n_val} validation spectra")
    print(f"  epoch times (s): {' '.join(f'{w:.2f}' for w in walls)}; median {epoch:.2f} s = "
          f"{statistics.median(train):.2f} s training + {epoch - statistics.median(train):.2f} s validation")
    print(f"  {args.n_train / epoch:,.0f} spectra/s per whole epoch, {args.n_train / statistics.median(train):,.0f} "
          f"in the training steps; other processes used {load[0]:.2f} cores meanwhile, the hypervisor "
          f"stole {load[1]:.2f}")
    return epoch


if __name__ == "__main__":
    main()
