#!/usr/bin/env python3
"""The Adam pass on real training states: operation order, buffer alignment, growth with steps.

Trains the paper's 6-latent model (float32, batch 64, 1 BLAS thread, train_throughput's Stepper
and data) and keeps copies of (parameters, gradient, m, v, t) just before the Adam steps named
by ``--at``. On each state it times one Adam pass (thread CPU time, alternating, ``--rounds``)
for four variants: the step formed as lr_t (m / (sqrt(v) + eps_t)) (npvae's kernel) or as
(lr_t m) / (sqrt(v) + eps_t) (the form before, which makes lr_t m subnormal for a decaying
moment below tiny / lr_t), each with the four arrays 64-byte aligned or all at 16 bytes past
a 64-byte boundary (where the allocator puts them). With ``--alone S`` it also runs S Adam
steps alone on random gradients (a fifth of them zero) and prints the pass time per 500 steps.

    python benchmarks/adam_pass.py --at 750 2000 --alone 3000
"""
import argparse
import inspect
import math
import sys
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

import npvae
from npvae.nn import kernels
from npvae.nn.adam import Adam, flat_base
from train_throughput import Stepper, make_data


NEW_FORM, OLD_FORM = "lr_t * (mi / (np.sqrt(vi) + eps_t))", "lr_t * mi / (np.sqrt(vi) + eps_t)"


def product_first_kernel():
    """npvae's Adam loop with the step as (lr_t m) / (sqrt(v) + eps_t): its source, one line changed."""
    source = inspect.getsource(kernels._adam_update)
    if NEW_FORM not in source:
        sys.exit("npvae's Adam kernel no longer has the line this benchmark changes")
    namespace = {"np": np}
    exec(source.replace(NEW_FORM, OLD_FORM), namespace)
    return namespace["_adam_update"]


KERNELS = {"ratio first": numba.njit(**kernels.JIT_OPTIONS)(kernels._adam_update),
           "product first": numba.njit(**{**kernels.JIT_OPTIONS, "cache": False})(product_first_kernel())}


def at_offset(n, offset_bytes):
    """A float32 (n,) array starting ``offset_bytes`` past a 64-byte boundary."""
    raw = np.empty(n + 32, np.float32)
    skip = ((-raw.ctypes.data) % 64 + offset_bytes) // 4
    return raw[skip:skip + n]


def snapshots(steps, n):
    """{t: (p, g, m, v)} copies just before Adam step t, from a real training run."""
    X, W = make_data(n, 1000, "float32", np.random.default_rng(0))
    model = npvae.InfoVAE(dtype="float32", seed=0)
    model.mean_[...] = X.mean(0)
    st = Stepper(model, X, W, 64)
    out = {}
    for k, idx in zip(range(1, max(steps) + 1), st.batches()):
        st.prepare(idx)
        st.gradients()
        if k in steps:
            out[k] = tuple(a.copy() for a in (model.flat_params, st.flat_grads, st.opt.m, st.opt.v))
        st.update()
    return out


def time_variants(state, t, rounds):
    """Median seconds of one pass for each (kernel, offset) variant on ``state``."""
    f = np.float32
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    scalars = (f(1e-3 * math.sqrt(c2) / c1), f(0.9), f(1) - f(0.9), f(0.999), f(1) - f(0.999),
               f(1e-8 * math.sqrt(c2)), np.finfo(f).tiny, np.finfo(f).max)
    n = state[0].size
    buffers = {off: [at_offset(n, off) for _ in range(4)] for off in (0, 16)}
    variants = [(k, off) for k in KERNELS for off in buffers]
    times = {v: [] for v in variants}
    for r in range(rounds):
        for kernel, off in (variants if r % 2 == 0 else variants[::-1]):
            bufs = buffers[off]
            for dst, src in zip(bufs, state):
                dst[...] = src
            t0 = time.thread_time()
            KERNELS[kernel](*bufs, *scalars)
            times[(kernel, off)].append(time.thread_time() - t0)
    zone = np.mean((state[2] != 0) & (np.abs(scalars[0] * state[2].astype(np.float64)) < scalars[-2]))
    return {v: float(np.median(x)) for v, x in times.items()}, zone


def adam_alone(steps):
    """Pass time per 500 steps of Adam alone on fresh random gradients (a fifth always zero)."""
    model = npvae.InfoVAE(dtype="float32", seed=0)
    opt, grads = Adam(model.params), model.new_grads()
    flat = flat_base(list(grads.values()))
    rng = np.random.default_rng(0)
    pool = (rng.standard_normal(flat.size + 4096) * 1e-3).astype(np.float32)
    dead = rng.random(flat.size) < 0.2
    times = []
    for _ in range(steps):
        off = rng.integers(0, 4096)
        flat[...] = pool[off:off + flat.size]
        flat[dead] = 0
        t0 = time.thread_time()
        opt.step(grads)
        times.append(time.thread_time() - t0)
    times = 1e6 * np.array(times)
    print("Adam alone, median us per 500 steps:", " ".join(f"{np.median(times[i:i + 500]):.0f}"
                                                          for i in range(0, steps, 500)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--at", type=int, nargs="+", default=[750, 2000], help="Adam steps to snapshot")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--alone", type=int, default=0, help="steps of Adam alone (0: skip)")
    args = ap.parse_args()
    with threadpool_limits(limits=1):
        for t, state in snapshots(set(args.at), args.n).items():
            med, zone = time_variants(state, t, args.rounds)
            print(f"step {t}: {100 * zone:.2f}% of m below tiny / lr_t; " + ", ".join(
                f"{k} at +{off} B {1e6 * s:.0f} us" for (k, off), s in med.items()), flush=True)
        if args.alone:
            adam_alone(args.alone)


if __name__ == "__main__":
    sys.exit(main())
