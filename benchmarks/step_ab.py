#!/usr/bin/env python3
"""A/B of the whole training step between two copies of the npvae package, in thread CPU time.

The paper's 6-latent model (1000-703-94-6), float32, batch 64, Adam, M = 200 prior samples, on
the synthetic spectra of benchmarks/train_throughput.py. Each measurement is a fresh process
that imports npvae from one tree (``PYTHONPATH``), runs ``--warm`` steps, then times ``--steps``
steps phase by phase (train_throughput's Stepper: "data" = gather + noise, "grads" =
loss_and_grads, "check" = the divergence test, "adam" = the optimiser step) with the thread's
CPU time and one BLAS thread: other processes on a shared machine disturb that far less than
wall time (their cache traffic still does). The two trees alternate, which goes first
alternating too, ``--rounds`` times; the medians per phase and the median per-round ratio of
the step times come last.

    git archive <old commit> npvae | tar -x -C /tmp/npvae_old      # the tree to compare with
    python benchmarks/step_ab.py /tmp/npvae_old . --rounds 6

The last line starts with SUMMARY.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PHASES = ("data", "grads", "check", "adam")


def worker(args):
    """One measurement in this process: prints a JSON line of per-phase median seconds."""
    from threadpoolctl import threadpool_limits

    import npvae
    from npvae.train import guards
    from train_throughput import Stepper, make_data

    X, W = make_data(args.n, 1000, "float32", np.random.default_rng(0))
    model = npvae.InfoVAE(dtype="float32", seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, 64)
    clock = time.thread_time
    rows = []
    with threadpool_limits(limits=1):
        for k in range(args.warm + args.steps):
            idx = stepper.rng.integers(0, len(X), 64)                       # (B,)
            t0 = clock()
            stepper.prepare(idx)
            t1 = clock()
            terms, _ = model.loss_and_grads(*stepper.cur, stepper.prior, stepper.grads)
            t2 = clock()
            if guards.first_non_finite(terms) is not None:
                raise RuntimeError("diverged")
            t3 = clock()
            stepper.update()
            t4 = clock()
            if k >= args.warm:
                rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0))
    med = np.median(np.array(rows), axis=0)
    print("RESULT " + json.dumps({"file": npvae.__file__, **dict(zip(PHASES + ("step",), med.tolist()))}))


def run_tree(tree, args):
    """Per-phase medians (dict) of one fresh process importing npvae from ``tree``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(tree).resolve()), str(HERE)]))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--steps", str(args.steps),
           "--warm", str(args.warm), "--n", str(args.n)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [l for l in res.stdout.splitlines() if l.startswith("RESULT ")]
    if res.returncode != 0 or not lines:
        sys.exit(f"failed in {tree}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    out = json.loads(lines[-1][len("RESULT "):])
    if not out.pop("file").startswith(str(Path(tree).resolve())):
        sys.exit(f"the worker did not import npvae from {tree}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old", nargs="?", help="the tree holding the npvae package to compare with")
    ap.add_argument("new", nargs="?", default=str(HERE.parent), help="the tree under test (default: this one)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=300, help="timed steps per process")
    ap.add_argument("--warm", type=int, default=100, help="untimed steps first (compilation, first touch)")
    ap.add_argument("--n", type=int, default=4000, help="synthetic spectra to draw batches from")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    if args.old is None:
        ap.error("give the tree to compare with")
    results = {"old": [], "new": []}
    for rnd in range(args.rounds):
        order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
        for name in order:
            results[name].append(run_tree(getattr(args, name), args))
        print(f"round {rnd + 1}: " + ", ".join(
            f"{name} step {1e3 * results[name][-1]['step']:.3f} ms" for name in ("old", "new")), flush=True)
    for name in ("old", "new"):
        print(f"{name}: " + ", ".join(
            f"{p} {1e3 * np.median([r[p] for r in results[name]]):.3f}" for p in PHASES + ("step",)) + " ms (medians)")
    ratio = np.median([n["step"] / o["step"] for o, n in zip(results["old"], results["new"])])
    print(f"SUMMARY median per-round step ratio new/old {ratio:.3f} over {args.rounds} rounds "
          f"(thread CPU time, 1 BLAS thread)")


if __name__ == "__main__":
    sys.exit(main())
