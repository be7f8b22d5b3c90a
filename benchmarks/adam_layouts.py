#!/usr/bin/env python3
"""Where Adam runs in a training step: three layouts of the same update, timed side by side.

The training step (train_throughput's Stepper: gather, noise, loss_and_grads, Adam) of the
paper's 6-latent model, float32, batch 64, 2 BLAS threads, with the Adam update placed three ways:

- ``after``: one fused Numba pass over all 1.5 M parameters after the backward pass (what
  ``fit`` does);
- ``per-layer``: each layer's weights and bias updated as soon as the backward pass has used
  them for the last time (its dW, db and dx done), so its gradient is still in cache (the
  backward's ``linear_act_backward`` wrapped: a benchmark-only change);
- ``two-thread``: the same pass split in halves, one in a second Python thread (the kernel
  releases the GIL).

All three give the same parameters bit for bit (checked: the sum of the final parameters is
printed). Each measurement is a fresh process (one warm-up epoch of 20,000 spectra, then 4
epochs timed step by step); the layouts alternate, ``--rounds`` times; per-step median, 10th and
90th percentiles, in ms. Results: benchmarks/README.md ("Where Adam runs").

    python benchmarks/adam_layouts.py --rounds 5
"""
import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.nn import kernels
from npvae.nn import model as model_module
from train_throughput import Stepper, make_data

LAYOUTS = ("after", "per-layer", "two-thread", "reversed")


def adam_scalars(opt):
    """Start Adam step t + 1: its (lr_t, beta1, beta2, eps_t), the scalars of kernels.adam_update."""
    lr_t, eps_t = opt.start_step()
    return lr_t, opt.beta1, opt.beta2, eps_t


def per_layer(stepper):
    """Update each layer right after its last use in the backward pass (wraps linear_act_backward)."""
    opt, flat_g, flat_p = stepper.opt, stepper.flat_grads, stepper.model.flat_params
    state = {}
    backward = model_module.linear_act_backward

    def backward_then_update(dy, cache, dW, db, need_dx=True, dx_out=None):
        dx = backward(dy, cache, dW, db, need_dx=need_dx, dx_out=dx_out)
        lo = (dW.ctypes.data - flat_g.ctypes.data) // flat_g.itemsize       # W then b, adjacent
        part = slice(lo, lo + dW.size + db.size)
        state["bad"] += kernels.adam_update(flat_p[part], flat_g[part], opt.m[part], opt.v[part],
                                            *state["scalars"])
        return dx

    def gradients():
        state["scalars"], state["bad"] = adam_scalars(opt), 0
        stepper.model.loss_and_grads(*stepper.cur, stepper.prior, stepper.grads)

    model_module.linear_act_backward = backward_then_update
    stepper.gradients, stepper.update = gradients, lambda: None


def two_threads(stepper):
    """Split the fused pass in halves; the first half runs in a second thread."""
    opt, flat_g, flat_p = stepper.opt, stepper.flat_grads, stepper.model.flat_params
    half = flat_p.size // 2
    go, done, state = threading.Event(), threading.Event(), {}

    def part(lo, hi):
        return kernels.adam_update(flat_p[lo:hi], flat_g[lo:hi], opt.m[lo:hi], opt.v[lo:hi], *state["scalars"])

    def worker():
        while True:
            go.wait()
            go.clear()
            state["bad"] = part(0, half)
            done.set()

    def update():
        state["scalars"] = adam_scalars(opt)
        go.set()
        bad = part(half, flat_p.size)
        done.wait()
        done.clear()
        if bad + state["bad"]:
            raise RuntimeError("diverged: gradient")

    threading.Thread(target=worker, daemon=True).start()
    stepper.update = update


def reversed_layers(stepper):
    """The same fused pass, layer by layer from the last to the first (one call per layer).

    The next forward pass reads the first layer's weights first; updated last, they are the
    ones still in cache.
    """
    opt, flat_g, flat_p, model = stepper.opt, stepper.flat_grads, stepper.model.flat_params, stepper.model
    parts, start = [], 0
    for name, n_in, n_out in model.layout:
        size = (n_in + 1) * n_out                                        # W then b
        parts.append(slice(start, start + size))
        start += size

    def update():
        scalars = adam_scalars(opt)
        bad = 0
        for part in reversed(parts):
            bad += kernels.adam_update(flat_p[part], flat_g[part], opt.m[part], opt.v[part], *scalars)
        if bad:
            raise RuntimeError("diverged: gradient")

    assert start == flat_p.size
    stepper.update = update


def worker(layout, n):
    """One fresh process: warm-up epoch, then 4 epochs timed per step; prints a RESULT line."""
    X, W = make_data(n, 1000, "float32", np.random.default_rng(0))
    model = npvae.InfoVAE(dtype="float32", seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, 64)
    {"after": lambda s: None, "per-layer": per_layer, "two-thread": two_threads,
     "reversed": reversed_layers}[layout](stepper)
    stepper.epoch()
    times = []
    for _ in range(4):
        order = stepper.rng.permutation(n)
        for s in range(0, n - 63, 64):
            t0 = time.perf_counter()
            stepper.step(order[s:s + 64])
            times.append(time.perf_counter() - t0)
    ms = 1e3 * np.array(times)
    print("RESULT " + json.dumps({"layout": layout, "median": float(np.median(ms)), "p10": float(np.percentile(ms, 10)),
                                  "p90": float(np.percentile(ms, 90)),
                                  "param_sum": float(model.flat_params.sum(dtype=np.float64))}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS))
    ap.add_argument("--worker", choices=LAYOUTS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.n)
        return
    layouts = tuple(args.layouts)
    results = {k: [] for k in layouts}
    for r in range(args.rounds):
        for layout in (layouts if r % 2 == 0 else layouts[::-1]):
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", layout, "--n", str(args.n)],
                                 capture_output=True, text=True, check=True).stdout
            res = json.loads(out.split("RESULT ", 1)[1])
            results[layout].append(res)
            print(f"round {r + 1} {layout:10s} median {res['median']:.3f} p10 {res['p10']:.3f} p90 {res['p90']:.3f} ms"
                  f"  (parameter sum {res['param_sum']:.9g})", flush=True)
    sums = {res["param_sum"] for rs in results.values() for res in rs}
    print("SUMMARY median of the per-process medians, ms per step: " + ", ".join(
        f"{k} {np.median([x['median'] for x in v]):.3f}" for k, v in results.items())
        + f"; same parameters in every run: {len(sums) == 1}")


if __name__ == "__main__":
    main()
