#!/usr/bin/env python3
"""Step-time stability of npvae's training step: 5,000 consecutive steps in a fresh process.

The paper's 6-latent model (1000-703-94-6), float32, batch 64, Adam, M = 200 prior samples, on
the synthetic spectra of benchmarks/train_throughput.py (20,000 of them: the steps run through
the shuffled set epoch after epoch). A step is what the training loop does (train_throughput's
Stepper): gather the batch and draw the noise ("data"), loss_and_grads and the loss-term check
("grads"), the Adam pass with its gradient check ("adam"). Each step is timed (wall and process
CPU time) with its minor page faults and context switches, so a slow step can be told apart:
page faults, preemption (involuntary switches, other processes), or the step itself. Every
``--probe-every`` steps (outside the timing) the script counts subnormal numbers in the
activations, gradients, Adam's moments and the parameters, and the smallest non-zero magnitude
of each (a product of two of them is subnormal only below about 1e-19 each, in float32), and
times a cache-line round trip between CPU 0 and CPU 1 (benchmarks/vcpu_placement.py): the slow
mode is the host running the two vCPUs on cores that share no L3.

    python benchmarks/step_stability.py                       # 5,000 steps, 2 BLAS threads
    python benchmarks/step_stability.py --threads 1 --steps 2000

Target (on a quiet machine): the 95th percentile of the step time within 1.25x of its median.
Prints the other processes' CPU use over the run (from /proc/stat): a run with more than ~0.05
cores used by others is not a valid timing. The last line starts with SUMMARY.
"""
import argparse
import json
import resource
import sys
import time

import numpy as np

import npvae
from epoch_time import cpu_snapshot, other_load
from train_throughput import Stepper, machine, make_data
from vcpu_placement import FAR_NS, UNCLASSIFIED_NS, placement_probe

SLOW = 1.25          # a step slower than SLOW x the median counts as slow (the target's ratio)
FIRST = 1500         # the early phase: steps 1-1500 against the rest


def subnormal_probe(model, stepper):
    """{group: (count of subnormal values, smallest non-zero |value|)} over the step's arrays.

    Activations and their gradients are the model's workspace buffers (the last step's values).
    """
    tiny = np.finfo(model.dtype).tiny
    groups = {"activations": list(model._work.values()),          # the workspace, read only
              "gradients": list(stepper.grads.values()),
              "adam m": [stepper.opt.m], "adam v": [stepper.opt.v], "params": [model.flat_params]}
    out = {}
    for name, arrays in groups.items():
        count, smallest = 0, np.inf
        for a in arrays:
            mag = np.abs(a[np.isfinite(a)])
            nonzero = mag[mag > 0]
            count += int(np.count_nonzero(nonzero < tiny))
            if nonzero.size:
                smallest = min(smallest, float(nonzero.min()))
        out[name] = (count, smallest)
    return out


def anon_huge_kib():
    """This process's anonymous memory in transparent huge pages (kB; /proc/self/smaps_rollup), or -1.

    khugepaged collapses NumPy's large buffers (madvised for huge pages) into 2 MiB pages some
    seconds into a run; logged at every probe to see whether a slow phase starts with it."""
    try:
        with open("/proc/self/smaps_rollup") as fh:
            return next(int(l.split()[1]) for l in fh if l.startswith("AnonHugePages:"))
    except (OSError, StopIteration):
        return -1


def run_steps(stepper, n_steps, probe_every):
    """Per-step records (wall s of each phase, CPU s, faults, switches) and the probes."""
    rows, probes = [], []
    clock, cpu, usage = time.perf_counter, time.process_time, resource.getrusage
    for k, idx in zip(range(n_steps), stepper.batches()):
        r0, c0, t0 = usage(resource.RUSAGE_SELF), cpu(), clock()
        stepper.prepare(idx)
        t1 = clock()
        stepper.gradients()
        t2 = clock()
        stepper.update()
        t3, c1, r1 = clock(), cpu(), usage(resource.RUSAGE_SELF)
        rows.append((t3 - t0, t1 - t0, t2 - t1, t3 - t2, c1 - c0, r1.ru_minflt - r0.ru_minflt,
                     r1.ru_nivcsw - r0.ru_nivcsw, r1.ru_nvcsw - r0.ru_nvcsw))
        if probe_every and (k % probe_every == 0 or k == n_steps - 1):
            probes.append((k + 1, subnormal_probe(stepper.model, stepper), anon_huge_kib(),
                           float(np.median([r[3] for r in rows[-probe_every:]])),
                           float(np.median([r[0] for r in rows[-probe_every:]])), placement_probe()))
    return np.array(rows), probes


def after_probes(n_steps, probe_every):
    """Mask (S,) of the steps that follow a probe: its temporaries evict the caches and return
    memory to the system, so these steps are slower and fault; they are left out of the timing."""
    mask = np.zeros(n_steps, bool)
    if probe_every:
        mask[1::probe_every] = True
    return mask


def report(rows, probes, load, args):
    """Print the statistics (without the steps right after a probe); return the SUMMARY fields."""
    skip = after_probes(len(rows), args.probe_every)
    if skip.any():
        print(f"({int(skip.sum())} steps right after a subnormal probe left out: median "
              f"{1e3 * np.median(rows[skip, 0]):.2f} ms, {rows[skip, 5].mean():.0f} page faults each)")
    print(f"step 1 (loads the compiled kernels, first touch of every buffer): {1e3 * rows[0, 0]:.1f} ms, "
          f"{int(rows[0, 5])} page faults; left out below")
    skip[0] = True
    faults = rows[:, 5]
    print(f"page faults: step 1 {int(faults[0])}, steps 2-10 {int(faults[1:10].sum())}, steps 11-{len(faults)} "
          f"{int(faults[10:].sum())} (max {int(faults[10:].max()) if len(faults) > 10 else 0} in one step); "
          f"involuntary context switches {int(rows[:, 6].sum())}, voluntary {int(rows[:, 7].sum())}")
    rows = rows[~skip]
    wall = rows[:, 0] * 1e3                                              # (S,) ms
    med, p95 = np.median(wall), np.percentile(wall, 95)
    print(f"step time (wall): median {med:.2f} ms, p95 {p95:.2f} ms, p95/median {p95 / med:.2f} "
          f"(target <= {SLOW}); mean {wall.mean():.2f} ms = {64e3 / wall.mean():,.0f} spectra/s")
    first, rest = wall[:FIRST], wall[FIRST:]
    if rest.size:
        print(f"  steps 1-{FIRST}: median {np.median(first):.2f} ms, p95 {np.percentile(first, 95):.2f}; "
              f"steps {FIRST + 1}-{len(wall)}: median {np.median(rest):.2f} ms, p95 {np.percentile(rest, 95):.2f}")
    blocks = range(0, len(wall), 500)
    print("  median per 500 steps (ms):", " ".join(f"{np.median(wall[b:b + 500]):.2f}" for b in blocks))
    names = ("data", "grads", "adam")
    print("  phases, median ms:", ", ".join(f"{n} {1e3 * np.median(rows[:, i + 1]):.3f}" for i, n in enumerate(names)),
          f"; CPU/wall {np.median(rows[:, 4] / rows[:, 0]):.2f} (2 threads busy = 2)")
    slow = wall > SLOW * med
    print(f"  slow steps (> {SLOW} x median): {int(slow.sum())} of {len(wall)}", end="")
    if slow.any():
        fast = ~slow
        print("; slow vs other steps, median: " + ", ".join(
            f"{n} {1e3 * np.median(rows[slow, i + 1]):.3f} vs {1e3 * np.median(rows[fast, i + 1]):.3f} ms"
            for i, n in enumerate(names))
            + f"; mean page faults {rows[slow, 5].mean():.2f} vs {rows[fast, 5].mean():.2f}, "
            f"involuntary switches {rows[slow, 6].mean():.2f} vs {rows[fast, 6].mean():.2f}")
    else:
        print()
    for step, probe, huge, adam, _, _ in probes:
        print(f"subnormals after step {step}: " + ", ".join(
            f"{name} {count} (min |x| {smallest:.1e})" for name, (count, smallest) in probe.items())
            + f"; AnonHugePages {huge} kB; adam phase median since the last probe {1e3 * adam:.3f} ms")
    if probes:
        print("where the host ran the two vCPUs (benchmarks/vcpu_placement.py), at each probe: "
              + " ".join(f"{1e3 * wall:.2f} ms/{rt:.0f} ns" for *_, wall, rt in probes[1:])
              + f" (step median since the last probe / cache-line round trip CPU0-CPU1; over {FAR_NS} ns: "
              f"no shared L3, over {UNCLASSIFIED_NS}: unclassified)")
    print(f"other processes used {load[0]:.2f} cores meanwhile, the hypervisor stole {load[1]:.2f}"
          + ("  <- not a valid timing" if load[0] > 0.05 else ""))
    return med, p95, first, rest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--n", type=int, default=20_000, help="synthetic spectra the steps run through")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads")
    ap.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    ap.add_argument("--layout", default="offload", choices=("offload", "blas"),
                    help="offload: the helper thread of npvae.train.offload, as fit(offload=True); blas: threads inside BLAS, as fit")
    ap.add_argument("--probe-every", type=int, default=500, help="subnormal probe interval (0: none)")
    ap.add_argument("--json", default=None, help="write the per-step records here")
    args = ap.parse_args()
    print("machine:", machine())
    print(f"step_stability: {args.steps} steps, {args.dtype}, batch {args.batch}, {args.threads} BLAS threads, "
          f"{args.n} spectra")
    X, W = make_data(args.n, 1000, args.dtype, np.random.default_rng(0))
    model = npvae.InfoVAE(dtype=args.dtype, seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, args.batch)
    with stepper.threads(args.threads, args.layout):
        s0 = cpu_snapshot()
        rows, probes = run_steps(stepper, args.steps, args.probe_every)
        load = other_load(s0, cpu_snapshot())
    med, p95, first, rest = report(rows, probes, load, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"columns": ["wall", "data", "grads", "adam", "cpu", "minflt", "nivcsw", "nvcsw"],
                       "rows": rows.tolist()}, fh)
    split = (f"; steps 1-{FIRST} median {np.median(first):.2f} ms, rest {np.median(rest):.2f} ms"
             if rest.size else "")
    print(f"SUMMARY step_stability {args.dtype} bs{args.batch} {args.threads}thr {args.steps} steps: median "
          f"{med:.2f} ms, p95 {p95:.2f} ms, p95/median {p95 / med:.2f}{split}; other load {load[0]:.2f}; "
          f"vCPUs without a shared L3 at {sum(FAR_NS < p[-1] <= UNCLASSIFIED_NS for p in probes)} of {len(probes)} probes")


if __name__ == "__main__":
    sys.exit(main())
