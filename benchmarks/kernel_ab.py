#!/usr/bin/env python3
"""A/B of the step's Numba kernels against an older copy of npvae/nn/kernels.py, in one process.

The kernels run in isolation with the shapes of the paper's model at batch 64 (1.49 million
parameters, 64 x 1000 residual, z 64 x 6, 200 prior samples), the two versions alternating,
15 rounds; the time is the thread's CPU time, which other processes on a shared machine disturb
far less than wall time (their cache traffic still does). Which version runs first alternates.
The Adam kernel is the same code in both: its row (the control) shows the method's noise.

    git show <old commit>:npvae/nn/kernels.py > /tmp/old_kernels.py
    python benchmarks/kernel_ab.py /tmp/old_kernels.py
"""
import importlib.util
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from npvae.nn import kernels as new

N_PARAMS, ROUNDS = 1_493_012, 15


def load(path):
    """The module at ``path`` (an older kernels.py), imported under another name."""
    spec = importlib.util.spec_from_file_location("old_kernels", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_kernels"] = module          # so that Numba's cache of it can be loaded again
    spec.loader.exec_module(module)
    return module


def cases(old):
    """name -> (old callable, new callable), each one step's worth of that kernel."""
    rng = np.random.default_rng(0)
    dt = np.float32
    adam = {k: [np.zeros(N_PARAMS, dt), (rng.standard_normal(N_PARAMS) * 1e-3).astype(dt),
                np.zeros(N_PARAMS, dt), np.zeros(N_PARAMS, dt)] for k in ("old", "new")}
    x = rng.standard_normal((64, 1000)).astype(dt)
    xh, w, d = x + 0.1, np.ones_like(x), np.empty_like(x)
    z, p = rng.standard_normal((64, 6)).astype(dt), rng.standard_normal((200, 6)).astype(dt)
    return {
        "adam_update (control)": (lambda: old.adam_update(*adam["old"], 1e-9, 0.9, 0.999, 1e-8),
                                  lambda: new.adam_update(*adam["new"], 1e-9, 0.9, 0.999, 1e-8)),
        "mmd_rbf_terms": (lambda: old.mmd_rbf_terms(z, p, 1.0, np.zeros_like(z)),
                          lambda: new.mmd_rbf_terms(z, p, 1.0, np.zeros_like(z))),
        "prior_kernel_mean": (lambda: old.prior_kernel_mean(p), lambda: new.prior_kernel_mean(p)),
        "weighted_residual": (lambda: old.weighted_residual(x, xh, w, 1.0, d),
                              lambda: new.weighted_residual(x, xh, w, 1.0, d)),
    }


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    table = cases(load(sys.argv[1]))
    times = {(name, v): [] for name in table for v in ("old", "new")}
    with threadpool_limits(limits=1):
        for pair in table.values():
            pair[0](), pair[1]()                         # compile / load the cached machine code
        for r in range(ROUNDS):
            for name, pair in table.items():
                reps = 10 if name.startswith("adam") else 100
                order = list(zip(("old", "new"), pair))
                for version, fn in (order if r % 2 == 0 else order[::-1]):   # who goes first alternates
                    t0 = time.thread_time()
                    for _ in range(reps):
                        fn()
                    times[name, version].append((time.thread_time() - t0) / reps * 1e6)
    total = {"old": 0.0, "new": 0.0}
    for name in table:
        old_us, new_us = (float(np.median(times[name, v])) for v in ("old", "new"))
        if "control" not in name:
            total["old"] += old_us
            total["new"] += new_us
        print(f"{name:26s} old {old_us:7.1f} us   new {new_us:7.1f} us   ({old_us - new_us:+.1f} us saved)")
    print(f"SUMMARY kernels per step (without the control), median thread CPU time: old {total['old']:.0f} us, new {total['new']:.0f} us, "
          f"saved {total['old'] - total['new']:.0f} us")


if __name__ == "__main__":
    main()
