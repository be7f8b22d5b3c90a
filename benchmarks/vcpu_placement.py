#!/usr/bin/env python3
"""Where the host runs the two vCPUs, and what it does to the training step.

The training step with the helper thread (``fit(offload=True)``) hands data between the two
threads every step: the main thread reads the output layer's weights for dx, then the helper's
Adam update rewrites them; the forward products read what the other thread wrote. On an EPYC host
that is fast when the two virtual CPUs run on cores that share an L3 cache, and slow when the host
puts them on cores that do not (another CCD, or another socket). The VM cannot see where it runs:
its topology, steal time and scheduler counters do not change.

This script measures it from inside. It runs the paper model's step (float32, batch 64, as
step_stability.py) and every ``--every`` steps, outside the timing, two threads pinned to CPU 0
and CPU 1 pass a cache line back and forth (an atomic counter, ``--round-trips`` times, median of
3): the round trip took 60-160 ns between cores that share an L3 and 390-460 ns between cores
that do not (200-400 in one earlier run); the cut is FAR_NS. A third level, 950-990 ns, came with fast and with slow windows
(another socket, or a probe disturbed by another thread: not told apart); those windows are left
out. Each window of steps is classified by the probe at its end. With ``--layout blas``
OpenBLAS's spinning workers share the CPUs with the probe, and many probes land over 700 ns.

    python benchmarks/vcpu_placement.py                          # 90 s, helper layout
    python benchmarks/vcpu_placement.py --seconds 60 --layout blas

The last line starts with SUMMARY: the step's median in windows with a near and with a far
placement, and the share of slow windows (median > 1.25 x the near median) in each.
"""
import argparse
import os
import sys
import threading
import time

import numba
import numpy as np

import npvae
from npvae.train.offload import _load, _store
from train_throughput import Stepper, machine, make_data

FAR_NS = 300               # a round trip above this: the two vCPUs share no L3 (clusters 110-160, 390-460)
UNCLASSIFIED_NS = 700      # above this (950-990 ns seen, with fast and slow steps): left out
SLOW = 1.25


@numba.njit(nogil=True, cache=True)
def _player(flag, parity, n):
    """Wait for the counter to reach 2k + parity, then advance it (n times)."""
    for k in range(n):
        want = 2 * k + parity
        while _load(flag, 0) != want:
            pass
        _store(flag, 0, want + 1)


def round_trip_ns(n=4000):
    """Nanoseconds per round trip of one cache line between threads pinned to CPU 0 and CPU 1."""
    flag = np.zeros(16, np.int64)

    def play(cpu):
        os.sched_setaffinity(0, {cpu})
        _player(flag, cpu, n)

    threads = [threading.Thread(target=play, args=(cpu,)) for cpu in (0, 1)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (time.perf_counter() - t0) / n * 1e9


def placement_available():
    """True when this process may run on CPU 0 and CPU 1 (what the probe pins its threads to)."""
    return {0, 1} <= os.sched_getaffinity(0)


def placement_probe(n=4000):
    """Median of 3 round trips (ns), or NaN without CPUs 0 and 1; run it while the step's threads
    are idle."""
    if not placement_available():
        return float("nan")
    time.sleep(0.01)                      # the helper thread goes to sleep after a few ms idle
    return float(np.median([round_trip_ns(n) for _ in range(3)]))


def run(stepper, seconds, every, n_round_trips):
    """[(window step median ms, round trip ns at the window's end)] over ``seconds``."""
    walls, windows = [], []
    t_end = time.perf_counter() + seconds
    for idx in stepper.batches():
        if time.perf_counter() >= t_end:
            break
        t0 = time.perf_counter()
        stepper.step(idx)
        walls.append(time.perf_counter() - t0)
        if len(walls) == every:
            windows.append((1e3 * float(np.median(walls[5:])), placement_probe(n_round_trips)))
            walls = []
    return windows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--every", type=int, default=200, help="steps per window (a probe after each)")
    ap.add_argument("--round-trips", type=int, default=4000)
    ap.add_argument("--layout", default="offload", choices=("offload", "blas"))
    args = ap.parse_args()
    if not placement_available():
        sys.exit("vcpu_placement.py needs CPUs 0 and 1")
    print("machine:", machine())
    round_trip_ns(1000)                                            # compile
    X, W = make_data(20_000, 1000, "float32", np.random.default_rng(0))
    model = npvae.InfoVAE(dtype="float32", seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, 64)
    with stepper.threads(2, args.layout):
        windows = np.array(run(stepper, args.seconds, args.every, args.round_trips))
    step_ms, rt = windows[:, 0], windows[:, 1]
    print("windows (step median ms / round trip ns):", " ".join(f"{s:.2f}/{r:.0f}" for s, r in windows))
    unclassified = rt > UNCLASSIFIED_NS
    if unclassified.any():
        print(f"{int(unclassified.sum())} probes over {UNCLASSIFIED_NS} ns (unclassified) left out")
        step_ms, rt = step_ms[~unclassified], rt[~unclassified]
    far = rt > FAR_NS
    near_med = float(np.median(step_ms[~far])) if (~far).any() else float(np.median(step_ms))
    slow = step_ms > SLOW * near_med
    parts = []
    for name, mask in (("near", ~far), ("far", far)):
        if mask.any():
            parts.append(f"{name} {int(mask.sum())} windows: round trip {np.median(rt[mask]):.0f} ns, step median "
                         f"{np.median(step_ms[mask]):.2f} ms, slow {slow[mask].mean():.2f}")
        else:
            parts.append(f"{name} 0 windows")
    print(f"SUMMARY vcpu_placement {args.layout} {len(windows)} windows of {args.every} steps: " + "; ".join(parts))


if __name__ == "__main__":
    sys.exit(main())
