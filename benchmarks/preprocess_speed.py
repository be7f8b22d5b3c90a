"""Speed of the SDSS preprocessing and of the iterative-PCA infill.

Writes ``--files`` SDSS-like spec-lite files (``--distinct`` distinct ones, the rest copies
under other names) to a temporary folder, then times reading + masking + rebinning +
normalising (no infill, no download) with 1 and ``--jobs`` worker processes, and the
iterative-PCA infill of an ``--infill-rows`` x 1000 array (10 eigenvectors, 20 iterations,
10% of pixels masked). Targets: >= 1,000 spectra/s on 2 cores; infill of
64,000 x 1000 in under 2 minutes.

    python benchmarks/preprocess_speed.py                      # full: 4000 files, 64,000 rows
    python benchmarks/preprocess_speed.py --files 1000 --infill-rows 8000   # quick
"""
import argparse
import os
import resource
import shutil
import tempfile
import time

import numpy as np

from npvae.data.files import preprocess_files
from npvae.data.infill import iterative_pca_infill
from npvae.data.readers import write_spec_lite
from npvae.data.record import LINE_DTYPE, Spectrum


def make_spectrum(rng, fiber):
    """An SDSS-legacy-like spectrum: 3850 pixels from 3800 A, z in (0, 0.36], a few sky pixels."""
    z = rng.uniform(0.01, 0.36)
    loglam = 3.5793 + 1e-4 * np.arange(3850)
    wave = 10 ** loglam / (1 + z)
    cont = 10 * (1 + 0.3 * np.sin(wave / rng.uniform(500, 900)))
    sigma = cont / rng.uniform(5, 40)
    and_mask = np.zeros(3850, np.int32)
    and_mask[rng.integers(0, 3850, 40)] = 1 << 23
    lines = np.zeros(2, LINE_DTYPE)
    lines["name"], lines["area"], lines["area_err"] = ["H_alpha", "H_beta"], [50, 20], [5, 5]
    return Spectrum(plate=1000 + fiber // 640, mjd=52000, fiber=fiber % 640 + 1, z=z, cls="GALAXY",
                    loglam=loglam, flux=(cont + sigma * rng.standard_normal(3850)).astype(np.float32),
                    ivar=(1 / sigma ** 2).astype(np.float32), and_mask=and_mask, lines=lines)


def _cpu_seconds():
    """CPU time of this process and its finished children (user + system)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_preprocess(folder, jobs):
    """Wall and CPU seconds of preprocess_files without infill."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    res = preprocess_files(folder, infill=False, verbose=False, n_jobs=jobs)
    return time.perf_counter() - start, _cpu_seconds() - cpu, res


def time_infill(rows, rng):
    k = 30                                                    # low rank + noise, like spectra
    X = (rng.standard_normal((rows, k)).astype(np.float32)
         @ rng.standard_normal((k, 1000)).astype(np.float32) / np.sqrt(k) + 1.0)
    X += 0.05 * rng.standard_normal(X.shape).astype(np.float32)
    mask = rng.random(X.shape) < 0.1
    start = time.perf_counter()
    iterative_pca_infill(X, mask, n_ev=10, n_iter=20, rng=0)
    return time.perf_counter() - start


def bench_preprocess(n_files, n_distinct, jobs, rng):
    """Write the files, warm the page cache, time 1 and ``jobs`` processes."""
    folder = tempfile.mkdtemp(prefix="npvae-bench-")
    try:
        distinct = []
        for i in range(min(n_distinct, n_files)):
            path = os.path.join(folder, f"spec-{i:06d}.fits")
            write_spec_lite(path, make_spectrum(rng, i))
            distinct.append(path)
        for i in range(len(distinct), n_files):
            shutil.copyfile(distinct[i % len(distinct)], os.path.join(folder, f"spec-{i:06d}.fits"))
        time_preprocess(folder, 1)                             # warm the page cache and Numba
        for n_jobs in sorted({1, jobs}):
            seconds, cpu, res = time_preprocess(folder, n_jobs)
            print(f"preprocess {n_files} files, {n_jobs} process(es): wall {seconds:.2f} s = "
                  f"{n_files / seconds:,.0f} spectra/s; CPU {cpu:.2f} s = "
                  f"{1e3 * cpu / n_files:.2f} ms per spectrum, i.e. {2 * n_files / cpu:,.0f} "
                  f"spectra/s on 2 free cores (kept {len(res.flux)}, skipped {len(res.skipped)})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=4000, help="0 = skip the preprocessing timing")
    ap.add_argument("--distinct", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--infill-rows", type=int, default=64000, help="0 = skip the infill timing")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    if args.files:
        bench_preprocess(args.files, args.distinct, args.jobs, rng)
    if args.infill_rows:
        cpu = _cpu_seconds()
        seconds = time_infill(args.infill_rows, rng)
        print(f"iterative-PCA infill {args.infill_rows} x 1000, 10 eigenvectors, 20 iterations: "
              f"wall {seconds:.1f} s, CPU {_cpu_seconds() - cpu:.1f} s")


if __name__ == "__main__":
    main()
