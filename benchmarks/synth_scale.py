"""Rate of the sharded ``npvae synth`` on 1 and 2 Dask workers, against the one-file synth.

Usage: python benchmarks/synth_scale.py [--n 20000] [--shard-size 2500] [--workers 1 2] [--out DIR]

Runs: the one-file synth (its own process pool), the sharded synth in this process
(``--scheduler none``, no Dask), then on a LocalCluster of each ``--workers`` count.
Runs each ``npvae synth`` as a child process and prints its wall time, spectra per second, the
CPU time of the command and all its child processes together (getrusage of the waited-for
children), and their peak resident memory together (sampled every 0.2 s with psutil). Each
sharded run checks that its shard files are byte-identical to the first sharded run's (same
seed). On a shared machine the wall time is noisy; the CPU time much less so.
"""
import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def run_synth(args, n):
    """Wall seconds, CPU seconds and peak summed RSS (bytes) of ``npvae synth ARGS``."""
    cmd = [sys.executable, "-m", "npvae.cli", "synth", "--n", str(n), "--quiet"] + args
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        rss = 0
        try:
            for p in [proc] + proc.children(recursive=True):
                rss += p.memory_info().rss
        except psutil.Error:
            pass                                   # a child ended while we looked
        peak = max(peak, rss)
        time.sleep(0.2)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    out, err = proc.communicate()
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{err.decode()[-2000:]}")
    return wall, cpu, peak, out.decode().strip()


def checksums(folder):
    manifest = json.loads((Path(folder) / "manifest.json").read_text())
    return [r["sha256"] for r in manifest["shards"]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--shard-size", type=int, default=2500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        runs = [("one file (process pool)", [f"--out={tmp}/one.fits"]),
                ("sharded, --scheduler none", [f"--out={tmp}/none", f"--shard-size={args.shard_size}",
                                               "--scheduler=none"])]
        runs += [(f"sharded, --scheduler local --workers {k}",
                  [f"--out={tmp}/w{k}", f"--shard-size={args.shard_size}", "--scheduler=local",
                   f"--workers={k}"]) for k in args.workers]
        first = None
        print(f"npvae synth --n {args.n}, shards of {args.shard_size}, {psutil.cpu_count()} cores")
        for label, synth_args in runs:
            wall, cpu, peak, _ = run_synth(synth_args, args.n)
            note = ""
            if len(synth_args) > 1:                                   # sharded
                sums = checksums(synth_args[0].split("=", 1)[1])
                first = first or sums
                note = ", same shards" if sums == first else ", DIFFERENT SHARDS"
            print(f"{label}: wall {wall:.1f} s ({args.n / wall:.0f} spectra/s), cpu {cpu:.1f} s "
                  f"({args.n / cpu:.0f} spectra/cpu-s), peak RSS {peak / 2**30:.2f} GiB{note}")


if __name__ == "__main__":
    main()
