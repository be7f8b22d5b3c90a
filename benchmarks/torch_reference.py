#!/usr/bin/env python3
"""Reference benchmark: InfoVAE training in PyTorch on the CPU.

The same model and objective as npvae, written in PyTorch: the yardstick that
benchmarks/train_throughput.py and benchmarks/epoch_time.py compare npvae's speed with
(``--torch-python``). It is a copy of the reference script the speed measurements in
benchmarks/README.md were made with. It is never a dependency of npvae: run it with a Python of
its own, in a separate virtual environment outside the repository, with torch==2.13.0:

    python3 -m venv torchref-venv && torchref-venv/bin/pip install torch==2.13.0 numpy
    torchref-venv/bin/python benchmarks/torch_reference.py --quick

Model (Portillo et al. 2020, Table 1, 6 latent): 1000-703-94-6-94-703-1000
  encoder Linear(1000,703)+ReLU, Linear(703,94)+ReLU, heads Linear(94,6) for mu and logvar
  z = mu + exp(0.5*logvar)*eps
  decoder Linear(6,94)+ReLU, Linear(94,703)+ReLU, Linear(703,1000) (linear output)
Loss per batch (B = batch size):
  recon = 0.5*sum(w*(x-x')^2)/B         w = per-spectrum, per-pixel inverse variance (N x 1000,
                                         random positive, ~5% zeros = masked pixels)
  KL    = -0.5*sum(1+logvar-mu^2-exp(logvar))/B
  MMD   = mean K(z,z) + mean K(p,p) - 2 mean K(z,p), p ~ N(0,I) (M = 200 samples),
          K(a,b) = exp(-||a-b||^2/dim), biased estimator incl. diagonal
  total = recon + (1-alpha)*KL + (alpha+lambda-1)*dim*MMD, alpha=0, lambda=3.02
Adam lr 1e-3 (torch defaults otherwise).  Synthetic data set 47,000 x 1000.

Each configuration: 1 warm-up epoch, then R timed epochs (each: randperm shuffle, gather
of each batch by index, 735 steps at batch 64 incl. a last partial batch of 24).
Throughput = 47,000 / epoch time.  Column 'other' = max over the timed epochs of the mean number of
cores used by other processes (from /proc/stat); a row with other > 0.05 is flagged as invalid.

Usage:
  python torch_reference.py                 # full matrix (threads 1/2, fp32/fp64, batch 64/256/1024)
  python torch_reference.py --quick         # fp32, 2 threads, batch 64 only, 3 epochs
  python torch_reference.py --quick --adam fused --n 20000 --repeats 1   # one epoch, fused Adam
  python torch_reference.py --profile       # also a torch.profiler op table (fp32, 2 thr, bs 64)
  python torch_reference.py --gemm          # also torch.mm GFLOP/s for the batch-64 GEMM shapes
  python torch_reference.py --json out.json # write all results as JSON
  python torch_reference.py --malloc tuned  # glibc mallopt: no mmap/munmap churn (see tune_malloc)
The last line printed starts with 'SUMMARY'.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn

N_IN, H1, H2, NZ = 1000, 703, 94, 6
ALPHA, LAMBDA = 0.0, 3.02
N_SPECTRA = 47_000
N_PRIOR = 200  # prior samples per step for the MMD

# (in, out) of every Linear in the network, in forward order; the two heads are separate.
LAYERS = [(N_IN, H1), (H1, H2), (H2, NZ), (H2, NZ), (NZ, H2), (H2, H1), (H1, N_IN)]


def cpu_snapshot():
    """(wall, busy CPU-s of the whole machine, steal CPU-s, this process's CPU-s) from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    t = os.times()
    return (time.perf_counter(), (v[0] + v[1] + v[2] + v[5] + v[6]) / hz, v[7] / hz, t.user + t.system)


def other_load(s0, s1):
    """Mean number of cores used by *other* processes between two snapshots (and steal), or (nan, nan).

    A benchmark on this 2-core machine is only valid when this is ~0: anything else running
    (another benchmark, a test suite, pip) takes a core away and distorts 2-thread timings most.
    """
    if s0 is None or s1 is None:
        return float("nan"), float("nan")
    wall = s1[0] - s0[0]
    return max(0.0, (s1[1] - s0[1]) - (s1[3] - s0[3])) / wall, (s1[2] - s0[2]) / wall


def flops_per_sample():
    """GEMM FLOPs (multiply+add = 2) per training sample, forward + backward.

    forward: 2*in*out per layer; backward: dW 2*in*out per layer, dX 2*in*out for every layer
    except the first (the input needs no gradient).  Bias, activations, loss, MMD and Adam
    are not counted (they are O(width), not O(width^2); Adam is counted separately).
    """
    fwd = sum(2 * i * o for i, o in LAYERS)
    dw = fwd
    dx = fwd - 2 * LAYERS[0][0] * LAYERS[0][1]
    return {"forward": fwd, "backward_dW": dw, "backward_dX": dx, "total": fwd + dw + dx}


def n_params():
    return sum(i * o + o for i, o in LAYERS)


class InfoVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Linear(N_IN, H1)
        self.enc2 = nn.Linear(H1, H2)
        self.mu = nn.Linear(H2, NZ)
        self.logvar = nn.Linear(H2, NZ)
        self.dec1 = nn.Linear(NZ, H2)
        self.dec2 = nn.Linear(H2, H1)
        self.dec3 = nn.Linear(H1, N_IN)

    def forward(self, x, eps):
        h = torch.relu(self.enc1(x))
        h = torch.relu(self.enc2(h))
        mu = self.mu(h)
        logvar = self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * eps
        d = torch.relu(self.dec1(z))
        d = torch.relu(self.dec2(d))
        return self.dec3(d), mu, logvar, z


def rbf_kernel(a, b):
    dim = a.shape[1]
    d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return torch.exp(-d2 / dim)


def mmd(z, p):
    return rbf_kernel(z, z).mean() + rbf_kernel(p, p).mean() - 2.0 * rbf_kernel(z, p).mean()


def infovae_loss(x, w, xr, mu, logvar, z, prior, alpha=ALPHA, lam=LAMBDA):
    bsz = x.shape[0]
    recon = 0.5 * (w * (x - xr) ** 2).sum() / bsz
    kl = -0.5 * (1.0 + logvar - mu ** 2 - torch.exp(logvar)).sum() / bsz
    return recon + (1.0 - alpha) * kl + (alpha + lam - 1.0) * NZ * mmd(z, prior)


def make_data(n, dtype, seed=0):
    """Synthetic 'spectra': smooth positive continuum + lines + noise; ivar weights with ~5% zeros."""
    rng = np.random.default_rng(seed)
    lam = np.linspace(0.0, 1.0, N_IN, dtype=np.float32)
    amp = rng.uniform(0.5, 2.0, size=(n, 1)).astype(np.float32)
    slope = rng.normal(0.0, 0.3, size=(n, 1)).astype(np.float32)
    x = amp * (1.0 + slope * lam[None, :])
    x += rng.standard_normal((n, N_IN), dtype=np.float32) * 0.1
    w = rng.uniform(0.5, 2.0, size=(n, N_IN)).astype(np.float32)
    w[rng.random((n, N_IN)) < 0.05] = 0.0
    return torch.from_numpy(x).to(dtype), torch.from_numpy(w).to(dtype)


def train_epoch(model, opt, X, W, bsz, gen, n_steps=None):
    n = X.shape[0]
    perm = torch.randperm(n, generator=gen)
    steps = 0
    for i in range(0, n, bsz):
        idx = perm[i:i + bsz]
        x = X[idx]
        w = W[idx]
        b = x.shape[0]
        eps = torch.randn(b, NZ, dtype=X.dtype, generator=gen)
        prior = torch.randn(N_PRIOR, NZ, dtype=X.dtype, generator=gen)
        xr, mu, logvar, z = model(x, eps)
        loss = infovae_loss(x, w, xr, mu, logvar, z, prior)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
        if n_steps is not None and steps >= n_steps:
            break
    return float(loss.detach())


def bench_config(X, W, threads, dtype, bsz, repeats, adam="default", seed=0):
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    Xd, Wd = X.to(dtype), W.to(dtype)
    model = InfoVAE().to(dtype)
    kw = {"fused": True} if adam == "fused" else ({"foreach": True} if adam == "foreach" else {})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **kw)
    gen = torch.Generator().manual_seed(seed)
    train_epoch(model, opt, Xd, Wd, bsz, gen)          # warm-up epoch
    times, losses, others = [], [], []
    for _ in range(repeats):
        s0 = cpu_snapshot()
        t0 = time.perf_counter()
        losses.append(train_epoch(model, opt, Xd, Wd, bsz, gen))
        times.append(time.perf_counter() - t0)
        others.append(other_load(s0, cpu_snapshot())[0])
    n = X.shape[0]
    med = statistics.median(times)
    fps = flops_per_sample()["total"]
    return {
        "threads": threads, "dtype": str(dtype).replace("torch.", ""), "batch": bsz, "adam": adam,
        "epoch_s": times, "epoch_median_s": med, "epoch_min_s": min(times), "epoch_max_s": max(times),
        "spread_pct": 100.0 * (max(times) - min(times)) / med,
        "spectra_per_s_median": n / med, "spectra_per_s_best": n / min(times),
        "gemm_gflops_median": n / med * fps / 1e9,
        "ms_per_step": 1e3 * med / -(-n // bsz), "last_loss": losses[-1],
        "other_load_cores": others, "other_load_max": max(others),
    }


def torch_gemm_bench(dtype, threads, min_time=0.2):
    """GFLOP/s of torch.mm (MKL) for the batch-64 GEMMs of one training step (as torch issues them)."""
    torch.set_num_threads(threads)
    B = 64
    shapes = []   # (label, a-shape, b-shape, transpose-a?, transpose-b?)
    for li, (i, o) in enumerate(LAYERS):
        shapes.append((f"fwd L{li} ({B}x{i})@({i}x{o})", (B, i), (o, i), False, True))
        shapes.append((f"dW  L{li} ({o}x{B})@({B}x{i})", (B, o), (B, i), True, False))
        if li > 0:
            shapes.append((f"dX  L{li} ({B}x{o})@({o}x{i})", (B, o), (o, i), False, False))
    shapes.append(("square 2048^3", (2048, 2048), (2048, 2048), False, False))
    out = []
    for label, sa, sb, ta, tb in shapes:
        a = torch.randn(*sa, dtype=dtype)
        b = torch.randn(*sb, dtype=dtype)
        A = a.t() if ta else a
        Bm = b.t() if tb else b
        m, k = A.shape
        n = Bm.shape[1]
        torch.mm(A, Bm)
        reps, t = 1, 0.0
        while True:
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(A, Bm)
            t = time.perf_counter() - t0
            if t >= min_time / 5:
                break
            reps *= 2
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                torch.mm(A, Bm)
            ts.append((time.perf_counter() - t0) / reps)
        med = statistics.median(ts)
        out.append({"shape": label, "m": m, "k": k, "n": n, "us": med * 1e6,
                    "gflops": 2 * m * k * n / med / 1e9})
    return out


def profile_step(X, W, threads=2, dtype=torch.float32, bsz=64, steps=200):
    from torch.profiler import profile, ProfilerActivity
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = InfoVAE().to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    Xd, Wd = X[:bsz * steps].to(dtype), W[:bsz * steps].to(dtype)
    train_epoch(model, opt, Xd, Wd, bsz, gen)
    t0 = time.perf_counter()
    train_epoch(model, opt, Xd, Wd, bsz, gen)
    wall_unprofiled = (time.perf_counter() - t0) / steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        train_epoch(model, opt, Xd, Wd, bsz, gen)
    ka = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ka)
    gemm = sum(e.self_cpu_time_total for e in ka if e.key in ("aten::mm", "aten::addmm", "aten::bmm"))
    adam = sum(e.cpu_time_total for e in ka if e.key.startswith("Optimizer.step"))
    zero = sum(e.cpu_time_total for e in ka if e.key.startswith("Optimizer.zero_grad"))
    rest = total - gemm - adam - zero
    summary = (f"unprofiled {wall_unprofiled * 1e3:.2f} ms/step; profiled {total / steps / 1e3:.2f} ms/step = "
               f"GEMM (mm/addmm) {gemm / steps / 1e3:.2f} ({100 * gemm / total:.0f}%), "
               f"Adam.step {adam / steps / 1e3:.2f} ({100 * adam / total:.0f}%), "
               f"zero_grad {zero / steps / 1e3:.2f}, "
               f"rest (elementwise, loss, MMD, autograd, gather) {rest / steps / 1e3:.2f} ({100 * rest / total:.0f}%)")
    return ka.table(sort_by="self_cpu_time_total", row_limit=25) + "\n" + summary


def tune_malloc():
    """glibc: keep freed blocks instead of mmap/munmap + page-faulting them again every step.

    Equivalent to MALLOC_MMAP_THRESHOLD_=256MiB MALLOC_TRIM_THRESHOLD_=1GiB MALLOC_TOP_PAD_=256MiB.
    With glibc defaults, the fresh gradient/activation tensors of every step cost ~2,400 minor page
    faults per step (batch 64) here, ~18% of the CPU time in the kernel.
    """
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    ok = (libc.mallopt(M_MMAP_THRESHOLD, 256 << 20) and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
          and libc.mallopt(M_TOP_PAD, 256 << 20))
    return bool(ok)


def machine_info():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu,
            "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "torch": torch.__version__, "numpy": np.__version__,
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "torch_blas": "MKL" if torch.backends.mkl.is_available() else "?"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fp32, 2 threads, batch 64 only")
    ap.add_argument("--repeats", type=int, default=5, help="timed epochs per configuration")
    ap.add_argument("--n", type=int, default=N_SPECTRA, help="number of synthetic spectra")
    ap.add_argument("--no-adam-variants", action="store_true", help="skip fused/foreach Adam rows")
    ap.add_argument("--adam", choices=["default", "fused", "foreach"], default="default",
                    help="with --quick: the Adam implementation of its one configuration")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--gemm", action="store_true")
    ap.add_argument("--json", default=None)
    ap.add_argument("--malloc", choices=["default", "tuned"], default="default",
                    help="'tuned': glibc mallopt so that freed tensors are reused without page faults")
    args = ap.parse_args()
    if args.malloc == "tuned":
        tune_malloc()

    info = machine_info()
    info["malloc"] = args.malloc
    info["malloc_env"] = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    fl = flops_per_sample()
    print("machine:", json.dumps(info))
    print(f"params: {n_params():,}   GEMM FLOPs/sample: fwd {fl['forward']:,}  dW {fl['backward_dW']:,}  "
          f"dX {fl['backward_dX']:,}  total {fl['total']:,}")

    X, W = make_data(args.n, torch.float32)

    configs = []
    if args.quick:
        configs.append((2, torch.float32, 64, args.adam))
        args.repeats = min(args.repeats, 3)
    else:
        for dt in (torch.float32, torch.float64):
            for th in (2, 1):
                configs.append((th, dt, 64, "default"))
        for bs in (256, 1024):
            configs.append((2, torch.float32, bs, "default"))
        if not args.no_adam_variants:
            configs.append((2, torch.float32, 64, "foreach"))
            configs.append((2, torch.float32, 64, "fused"))

    results = []
    hdr = (f"{'thr':>3} {'dtype':>7} {'batch':>5} {'adam':>7} | {'epoch med s':>11} {'min':>7} {'max':>7} "
           f"{'spread%':>7} | {'spectra/s':>9} {'ms/step':>7} {'GFLOP/s':>7} | {'other':>5}")
    print(hdr)
    print("-" * len(hdr))
    for th, dt, bs, adam in configs:
        r = bench_config(X, W, th, dt, bs, args.repeats, adam=adam)
        results.append(r)
        print(f"{th:>3} {r['dtype']:>7} {bs:>5} {adam:>7} | {r['epoch_median_s']:>11.3f} {r['epoch_min_s']:>7.3f} "
              f"{r['epoch_max_s']:>7.3f} {r['spread_pct']:>7.1f} | {r['spectra_per_s_median']:>9.0f} "
              f"{r['ms_per_step']:>7.3f} {r['gemm_gflops_median']:>7.1f} | {r['other_load_max']:>5.2f}"
              + ("  <- other processes were running: timing not valid" if r["other_load_max"] > 0.05 else ""),
              flush=True)

    gemm = {}
    if args.gemm:
        for dt in (torch.float32, torch.float64):
            for th in (2, 1):
                key = f"{str(dt).replace('torch.', '')}/{th}thr"
                gemm[key] = torch_gemm_bench(dt, th)
                step_s = sum(g["us"] for g in gemm[key] if not g["shape"].startswith("square")) * 1e-6
                sq = [g for g in gemm[key] if g["shape"].startswith("square")][0]
                print(f"\ntorch.mm {key}: sum of batch-64 step GEMMs {step_s * 1e3:.3f} ms "
                      f"-> GEMM-only ceiling {64 / step_s:,.0f} spectra/s; 2048^3 {sq['gflops']:.1f} GFLOP/s")
                for g in gemm[key]:
                    print(f"   {g['shape']:<34} {g['us']:>9.1f} us {g['gflops']:>7.1f} GFLOP/s")

    if args.profile:
        print("\ntorch.profiler, fp32, 2 threads, batch 64, 200 steps (self CPU time):")
        print(profile_step(X, W))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "flops_per_sample": fl, "params": n_params(),
                       "results": results, "torch_gemm": gemm}, f, indent=1)

    base = results[0]
    print(f"SUMMARY torch {torch.__version__} malloc={args.malloc} InfoVAE 1000-703-94-6 train: "
          + "; ".join(f"{r['dtype']}/{r['threads']}thr/bs{r['batch']}"
                      + ("" if r["adam"] == "default" else f"/adam-{r['adam']}")
                      + f" {r['spectra_per_s_median']:.0f} sp/s (epoch {r['epoch_median_s']:.2f}s)"
                      for r in results)
          + f" | ref fp32/2thr/bs64 = {base['spectra_per_s_median']:.0f} spectra/s, "
            f"{base['gemm_gflops_median']:.1f} GEMM GFLOP/s")


if __name__ == "__main__":
    main()
