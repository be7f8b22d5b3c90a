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
    python benchmarks/vcpu_placement.py --independent            # nothing shared: the control

``--independent`` is the control: two processes, pinned to CPU 0 and CPU 1, each run the one-thread
step on a model of its own (nothing shared between the CPUs); after each window both wait while
the parent probes. If the far placement slowed the CPUs or their memory, it would show here too.

The last line starts with SUMMARY: the step's median in windows with a near and with a far
placement, and the share of slow windows (median > 1.25 x the near median) in each.
"""
import argparse
import multiprocessing
import os
import sys
import threading
import time

import numba
import numpy as np

import npvae
from npvae.train.taskqueue import _load, _store
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


def _independent_worker(cpu, every, barrier, results, stop):
    """One process of the control: the one-thread step on its own model, pinned to ``cpu``; after
    each window of ``every`` steps it sends the window's median and waits for the probe."""
    os.sched_setaffinity(0, {cpu})
    X, W = make_data(20_000, 1000, "float32", np.random.default_rng(cpu))
    model = npvae.InfoVAE(dtype="float32", seed=cpu)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, 64)
    with stepper.threads(1, "blas"):
        batches = stepper.batches()
        for _ in range(20):                                  # compile, page in
            stepper.step(next(batches))
        barrier.wait()
        while not stop.is_set():
            walls = []
            for _ in range(every):
                t0 = time.perf_counter()
                stepper.step(next(batches))
                walls.append(time.perf_counter() - t0)
            results.put((cpu, 1e3 * float(np.median(walls[5:]))))
            barrier.wait()                                   # both windows done: the parent probes
            barrier.wait()                                   # probe done


def run_independent(seconds, every, n_round_trips):
    """[(window step median ms on the CPU-0 process, on the CPU-1 process, round trip ns)]."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results, stop = ctx.Barrier(3), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_independent_worker, args=(cpu, every, barrier, results, stop)) for cpu in (0, 1)]
    for proc in procs:
        proc.start()
    barrier.wait()
    rows, t_end = [], time.perf_counter() + seconds
    while not stop.is_set():
        barrier.wait()
        rt = placement_probe(n_round_trips)
        medians = dict(results.get() for _ in procs)
        rows.append((medians[0], medians[1], rt))
        if time.perf_counter() >= t_end:
            stop.set()
        barrier.wait()
    for proc in procs:
        proc.join()
    return rows


def summarise_independent(rows):
    """The control's SUMMARY line: each process's step median in near and in far windows."""
    rows = np.array(rows)
    parts = []
    for name, mask in (("near", rows[:, 2] <= FAR_NS), ("far", (rows[:, 2] > FAR_NS) & (rows[:, 2] <= UNCLASSIFIED_NS))):
        if mask.any():
            parts.append(f"{name} {int(mask.sum())} windows: round trip {np.median(rows[mask, 2]):.0f} ns, step median "
                         f"CPU 0 {np.median(rows[mask, 0]):.2f} ms, CPU 1 {np.median(rows[mask, 1]):.2f} ms")
        else:
            parts.append(f"{name} 0 windows")
    left_out = int((rows[:, 2] > UNCLASSIFIED_NS).sum())
    return (f"SUMMARY vcpu_placement independent one-thread steps, {len(rows)} windows ({left_out} over "
            f"{UNCLASSIFIED_NS} ns left out): " + "; ".join(parts))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=90.0)
    ap.add_argument("--every", type=int, default=200, help="steps per window (a probe after each)")
    ap.add_argument("--round-trips", type=int, default=4000)
    ap.add_argument("--layout", default="offload", choices=("offload", "blas"))
    ap.add_argument("--independent", action="store_true",
                    help="the control: two processes, each the one-thread step on its own model")
    args = ap.parse_args()
    if not placement_available():
        sys.exit("vcpu_placement.py needs CPUs 0 and 1")
    print("machine:", machine())
    round_trip_ns(1000)                                            # compile
    if args.independent:
        os.environ["OPENBLAS_NUM_THREADS"] = "1"                   # the workers' BLAS, before they import NumPy
        rows = run_independent(args.seconds, args.every // 2, args.round_trips)
        print("windows (CPU 0 ms / CPU 1 ms / round trip ns):", " ".join(f"{a:.2f}/{b:.2f}/{r:.0f}" for a, b, r in rows))
        print(summarise_independent(rows))
        return 0
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
