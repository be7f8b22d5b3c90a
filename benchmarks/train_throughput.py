"""Training throughput of npvae's InfoVAE: spectra per second and a per-phase profile.

The paper's 6-latent model (1000-703-94-6), batch 64, Adam, lambda 3.02, M = 200 prior
samples, on synthetic 47,000 x 1000 data made like benchmarks/torch_reference.py (the same model
in PyTorch).
A step is what the training loop does: gather the batch, draw eps and prior, loss_and_grads,
the divergence check of the loss terms, Adam (which also counts non-finite gradient entries). The profile times each
phase in isolation with the same shapes:
GEMM (the 20 matrix products of a step), Adam (one fused pass over all parameters), loss
(weighted residual + MMD + KL kernels), and the rest (bias/activation kernels, gather, noise,
Python overhead) as the difference.

Every measurement runs in a fresh process (one warm-up epoch, then ``--repeats`` timed epochs):
npvae, and with ``--torch-python`` the PyTorch reference with its default Adam and with fused
Adam, alternating, ``--rounds`` times. npvae is never timed in a process where torch ran.

    python benchmarks/train_throughput.py                 # float32 and float64, batch 64
    python benchmarks/train_throughput.py --dtypes float32 --n 20000 --repeats 1 --rounds 5 \
        --torch-python /tmp/torchref-venv/bin/python      # the issue's protocol: one epoch of 20,000

The last line starts with SUMMARY: the median spectra/s of each program and the medians of the
per-round ratios npvae / torch default Adam and npvae / torch fused Adam.
"""
import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import npvae
from npvae.nn import losses
from npvae.nn.adam import flat_base
from npvae.train import guards
from npvae.train.blas_threads import settle_blas_workers
from npvae.train.offload import Offload

N_SPECTRA = 47_000
TORCH_BENCH = Path(__file__).resolve().parent / "torch_reference.py"      # the same model in PyTorch


def make_data(n, d, dtype, rng):
    """Smooth positive 'spectra' + noise, and ivar-like weights with ~5% zeros (as the torch bench)."""
    lam = np.linspace(0.0, 1.0, d)
    amp = rng.uniform(0.5, 2.0, size=(n, 1))
    slope = rng.normal(0.0, 0.3, size=(n, 1))
    x = (amp * (1.0 + slope * lam) + 0.1 * rng.standard_normal((n, d))).astype(dtype)
    w = rng.uniform(0.5, 2.0, size=(n, d)).astype(dtype)
    w[rng.random((n, d)) < 0.05] = 0
    return x, w


class Stepper:
    """The training hot loop with preallocated buffers (what npvae.train.loop does per batch)."""

    def __init__(self, model, X, W, batch):
        self.model, self.X, self.W, self.batch = model, X, W, batch
        settle_blas_workers()                                      # as fit does before its first step
        self.opt = npvae.Adam(model.params, lr=1e-3)
        self.grads = model.new_grads()
        self.flat_grads = flat_base(list(self.grads.values()))     # (P,) the buffer they tile
        dt = model.dtype
        self.xb = np.empty((batch, X.shape[1]), dt)
        self.wb = np.empty((batch, X.shape[1]), dt)
        self.eps = np.empty((batch, model.n_latent), dt)
        self.prior = np.empty((model.n_prior, model.n_latent), dt)
        self.rng = np.random.default_rng(1)
        self.offload = None                                        # an entered Offload, as fit's

    def threads(self, threads, layout="offload"):
        """The context the steps run in: BLAS limited to ``threads`` and, with the "offload" layout
        and 2 threads or more, the helper thread of npvae.train.offload (BLAS then single-threaded),
        as ``fit(offload=True)``; "blas": each product threaded inside BLAS, Adam after the backward
        pass, as ``fit``'s default."""
        stack = contextlib.ExitStack()
        stack.enter_context(threadpool_limits(limits=threads))
        if layout == "offload" and threads >= 2:
            self.offload = stack.enter_context(Offload(self.model.params, self.grads, self.opt))
            stack.enter_context(Offload.single_blas())
            stack.callback(setattr, self, "offload", None)
        return stack

    def prepare(self, idx):
        """Gather the batch rows ``idx`` and draw this step's noise (into the preallocated buffers)."""
        rng, m = self.rng, self.model
        n = len(idx)
        self.cur = self.xb[:n], self.wb[:n], self.eps[:n]
        np.take(self.X, idx, axis=0, out=self.cur[0])
        np.take(self.W, idx, axis=0, out=self.cur[1])
        rng.standard_normal(out=self.cur[2], dtype=m.dtype.type)
        rng.standard_normal(out=self.prior, dtype=m.dtype.type)

    def gradients(self):
        """loss_and_grads and the divergence check of the loss terms, as the training loop."""
        xb, wb, eps = self.cur
        if self.offload is not None:                 # Adam runs inside the backward pass, on the helper
            self.offload.begin(*self.opt.start_step())
        terms, _ = self.model.loss_and_grads(xb, wb, eps, self.prior, self.grads, products=self.offload)
        bad = guards.first_non_finite(terms)
        if bad is not None:
            raise RuntimeError(f"diverged: {bad}")

    def update(self):
        """The Adam step (with the helper: the wait for its queue), which also counts non-finite
        gradient entries (the loop's gradient check)."""
        n_bad = self.opt.step(self.grads) if self.offload is None else self.offload.finish()
        if n_bad:
            raise RuntimeError("diverged: gradient")

    def batches(self):
        """Batch indices without end: shuffled epochs one after another (a new permutation, from
        the stepper's generator, whenever the next batch would run past the end)."""
        n = len(self.X)
        order, pos = self.rng.permutation(n), 0
        while True:
            if pos + self.batch > n:
                order, pos = self.rng.permutation(n), 0
            yield order[pos:pos + self.batch]
            pos += self.batch

    def step(self, idx):
        self.prepare(idx)
        self.gradients()
        self.update()

    def epoch(self):
        order = self.rng.permutation(len(self.X))
        for s in range(0, len(order), self.batch):
            self.step(order[s:s + self.batch])


def time_epochs(stepper, repeats):
    stepper.epoch()                      # warm-up (JIT compile, page-in)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        stepper.epoch()
        times.append(time.perf_counter() - t0)
    return times


def profile_phases(model, batch, n_steps=300):
    """Seconds per step of each phase in isolation (same shapes as the real step)."""
    rng = np.random.default_rng(2)
    dt = model.dtype
    gemms = []
    for name, n_in, n_out in model.layout:
        a = rng.standard_normal((batch, n_in)).astype(dt)
        w = rng.standard_normal((n_in, n_out)).astype(dt)
        dy = rng.standard_normal((batch, n_out)).astype(dt)
        gemms.append((a, w, np.empty((batch, n_out), dt)))            # forward
        gemms.append((a.T, dy, np.empty((n_in, n_out), dt)))          # dW
        if name != "enc1":
            gemms.append((dy, w.T, np.empty((batch, n_in), dt)))      # dX
    out = {}
    t0 = time.perf_counter()
    for _ in range(n_steps):
        for a, b, o in gemms:
            np.matmul(a, b, out=o)
    out["gemm"] = (time.perf_counter() - t0) / n_steps
    opt, grads = npvae.Adam(model.params, lr=1e-9), model.new_grads()
    t0 = time.perf_counter()
    for _ in range(n_steps):
        opt.step(grads)
    out["adam"] = (time.perf_counter() - t0) / n_steps
    x = rng.standard_normal((batch, model.n_features)).astype(dt)
    xh, w, dx = x + 0.1, np.ones_like(x), np.empty_like(x)
    z = rng.standard_normal((batch, model.n_latent)).astype(dt)
    p = rng.standard_normal((model.n_prior, model.n_latent)).astype(dt)
    t0 = time.perf_counter()
    for _ in range(n_steps):
        losses.gaussian_nll(x, xh, w, 1.0, dx)
        losses.mmd_rbf(z, p, 1.0, np.zeros_like(z))
        losses.kl_to_standard_normal(z, z)
    out["loss"] = (time.perf_counter() - t0) / n_steps
    return out, len(gemms)


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, numpy {np.__version__}"


def run_fresh(command):
    """Run ``command`` in a fresh process; return its RESULT value (spectra/s) and output, or exit."""
    res = subprocess.run(command, capture_output=True, text=True)
    result = [l for l in res.stdout.splitlines() if l.startswith(("RESULT", "SUMMARY"))]
    if res.returncode != 0 or not result:
        sys.exit(f"failed: {' '.join(command)}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    line = result[-1]
    if line.startswith("RESULT"):
        return float(line.split()[1]), res.stdout
    return float(line.split("ref fp32/2thr/bs64 = ")[1].split()[0]), res.stdout   # the reference's


def worker(args):
    """One fresh-process measurement of npvae: prints the step profile and 'RESULT spectra/s'."""
    dtype = args.dtypes[0]
    X, W = make_data(args.n, 1000, dtype, np.random.default_rng(0))
    model = npvae.InfoVAE(dtype=dtype, seed=0)
    model.mean_[...] = X.mean(0)
    stepper = Stepper(model, X, W, args.batch)
    with stepper.threads(args.threads, args.layout):
        times = time_epochs(stepper, args.repeats)
    med = float(np.median(times))
    prof, n_gemm = profile_phases(model, args.batch)
    step = med / -(-args.n // args.batch)
    rest = step - sum(prof.values())
    print(f"npvae {dtype} batch {args.batch}: epoch {med:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}), "
          f"{args.n / med:,.0f} spectra/s, {1e3 * step:.2f} ms/step = GEMM ({n_gemm}) {1e3 * prof['gemm']:.2f} "
          f"+ Adam {1e3 * prof['adam']:.2f} + loss {1e3 * prof['loss']:.2f} + rest {1e3 * rest:.2f} ms", flush=True)
    print(f"RESULT {args.n / med:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=N_SPECTRA)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3, help="timed epochs per process (after one warm-up)")
    ap.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    ap.add_argument("--torch-python", default=None, help="python of a venv with torch 2.13.0")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds, each program in a fresh process")
    ap.add_argument("--threads", type=int, default=2, help="npvae's BLAS threads (the reference uses 2)")
    ap.add_argument("--layout", default="offload", choices=("offload", "blas"),
                    help="offload: the helper thread of npvae.train.offload, as fit(offload=True); blas: threads inside BLAS, as fit")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)   # one measurement, this process
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    print("machine:", machine())
    me = [sys.executable, str(Path(__file__).resolve()), "--worker", "--n", str(args.n), "--batch", str(args.batch),
          "--repeats", str(args.repeats), "--threads", str(args.threads), "--layout", args.layout]
    programs = [(f"npvae {dt}", me + ["--dtypes", dt]) for dt in args.dtypes]
    if args.torch_python:
        ref = [args.torch_python, str(TORCH_BENCH), "--quick", "--n", str(args.n), "--repeats", str(args.repeats)]
        programs += [(f"torch {adam} Adam", ref + ["--adam", adam]) for adam in ("default", "fused")]
    speeds = {name: [] for name, _ in programs}
    for rnd in range(args.rounds):
        for name, command in programs:                # alternating, each in a fresh process
            sps, _ = run_fresh(command)
            speeds[name].append(sps)
        print(f"round {rnd + 1}: " + ", ".join(f"{name} {v[-1]:,.0f}" for name, v in speeds.items()), flush=True)
    med = {name: float(np.median(v)) for name, v in speeds.items()}
    print("median spectra/s over", args.rounds, "rounds: " + ", ".join(f"{k} {v:,.0f}" for k, v in med.items()))
    summary = f"SUMMARY bs{args.batch} n{args.n}: " + ", ".join(f"{k} {v:,.0f}" for k, v in med.items())
    if args.torch_python and "npvae float32" in med:
        ratios = {adam: [a / b for a, b in zip(speeds["npvae float32"], speeds[f"torch {adam} Adam"])]
                  for adam in ("default", "fused")}
        target = {"default": 2.0, "fused": 1.5}
        summary += "; median ratio " + ", ".join(
            f"npvae / torch {adam} Adam {np.median(r):.2f}x (target {target[adam]})" for adam, r in ratios.items())
    print(summary)


if __name__ == "__main__":
    sys.exit(main())
