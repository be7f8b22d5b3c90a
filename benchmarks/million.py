"""The survey-scale benchmark: synth, streaming training, encoding + LOF scoring, preprocessing on 1 and 2 workers.

    python benchmarks/million.py                                  # 1,000,000 spectra (the issue's run)
    python benchmarks/million.py --n 20000 --shard-size 2500      # a quick check of the script

Each step is a child process of the command line (``python -m npvae.cli ...``), as a user runs it:

1. ``npvae synth --n N --out DIR/survey/ --shard-size S --scheduler local``;
2. ``npvae train --data DIR/survey/ --epochs 2``: the default 6-latent InfoVAE (Table 1), streaming
   from the shards; its rate counts training spectra x epochs;
3. ``npvae encode DIR/survey/ --model DIR/run --top 100 --scheduler local``: reading, infill,
   encoding, reconstruction chi^2 and the LOF score of every spectrum, then the top outliers;
4. ``npvae preprocess`` of ``--raw-files`` (default 200,000) SDSS-like spec-lite files (``--distinct`` distinct
   ones, the rest hard links to them, so they take no disk; benchmarks/preprocess_speed.py) into shards with the model's recipe
   (``--model``: no basis to fit, so every task is a shard) on ``--scheduler local --workers 1``,
   then ``--workers 2``, in 16 shards; the speed-up is given twice: the ratio of the commands'
   wall times, and the ratio of the throughputs between the first and the last shard written
   (shard files' mtimes: without the fixed cost of starting the cluster, which a survey-sized run
   does not notice). The shard files of both runs are checked to be byte-identical.

For each step: wall time, spectra per second, CPU time of the step's processes (getrusage of the
waited-for child: includes every descendant that ended), and the PEAK MEMORY OF THE WHOLE PROCESS
TREE (the command and all its descendants: Dask scheduler, nannies, workers), sampled every 0.2 s
in a thread as the sum over the processes of

- PSS (proportional set size, ``Pss`` of ``/proc/PID/smaps_rollup``): a page shared by k processes
  counts 1/k to each, so memory-mapped shards and libraries shared by the workers count once
  (the number compared with the target);
- RSS, for comparison (counts shared pages once per process, so it overstates the tree).

Prints a markdown table with the issue's targets beside the numbers (peak memory <= 4 GB in every
step, encoding + scoring >= 50,000 spectra/s, preprocessing 1 -> 2 workers >= 1.7x) and writes it
all to ``--json``. The work folder is removed unless ``--keep``.

``--reuse DIR --rounds R``: only step 3, ``R`` times, on the survey and model of a work folder kept
by an earlier run (``--keep``), each round a fresh process measured as above, then the median
against the target. ``--no-rchi2`` encodes without the reconstruction chi^2 (the LOF score only);
``--compare TREE`` alternates each round with the same command run from another checkout of npvae
(``PYTHONPATH=TREE``, e.g. a ``git worktree`` of an older commit), that one first, and checks that
both wrote the same LATENTS columns and top-100 list. The rounds sample the memory every second, not
every 0.2 s: reading ``smaps_rollup`` walks each process's page tables, and at 0.2 s the sampler
took a few per cent of this 2-core machine from the command it measures:

    python benchmarks/million.py --reuse DIR --rounds 6 --no-rchi2 --compare /tmp/npvae-old
"""
import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil
from astropy.io import fits

from npvae.data import load_dataset
from npvae.data.dataset import training_class_rows
from npvae.data.readers import write_spec_lite
from preprocess_speed import make_spectrum

GB = 1e9
TARGET_MEMORY = 4 * GB           # bytes, every step
TARGET_ENCODE = 50_000           # spectra per second, encoding + scoring
TARGET_SPEEDUP = 1.7             # preprocessing, 1 -> 2 workers
EPOCHS = 2


def _pss_bytes(pid):
    """PSS of one process in bytes (smaps_rollup); None where the kernel does not provide it."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return 1024 * int(line.split()[1])
    except OSError:
        return None
    return None


class TreeMemory(threading.Thread):
    """Samples the summed PSS and RSS of a process and all its descendants; keeps the maxima."""

    def __init__(self, pid, every=0.2):
        super().__init__(daemon=True)
        self.root, self.every = psutil.Process(pid), every
        self.peak_pss = self.peak_rss = 0
        self.peak_processes = 0
        self.pss_available = _pss_bytes(os.getpid()) is not None       # Linux >= 4.14
        self._done = threading.Event()

    def sample(self):
        try:
            procs = [self.root] + self.root.children(recursive=True)
        except psutil.Error:
            return                                                 # the command has ended
        pss = rss = 0
        for proc in procs:
            try:
                rss += proc.memory_info().rss
            except psutil.Error:
                continue                                           # ended while we looked
            pss += (_pss_bytes(proc.pid) or 0) if self.pss_available else 0
        self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
        self.peak_processes = max(self.peak_processes, len(procs))

    def run(self):
        while not self._done.is_set():
            self.sample()
            self._done.wait(self.every)

    def stop(self):
        self._done.set()
        self.join()


def run_step(name, args, n_spectra, log, tree=None, every=0.2):
    """Run ``python -m npvae.cli ARGS`` (npvae from ``tree`` if given) and measure it, its memory every
    ``every`` seconds; raise with its output tail when it fails."""
    cmd = [sys.executable, "-m", "npvae.cli", *map(str, args)]
    env = None if tree is None else dict(os.environ, PYTHONPATH=str(tree))
    print(f"[{name}] {' '.join(cmd[1:])}", flush=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        memory = TreeMemory(proc.pid, every)
        memory.start()
        code = proc.wait()
        memory.stop()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if code != 0:
        raise SystemExit(f"[{name}] failed with exit code {code}:\n{Path(log).read_text()[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result = {"step": name, "command": " ".join(cmd[3:]), "spectra": int(n_spectra), "wall_s": wall,
              "spectra_per_s": n_spectra / wall, "cpu_s": cpu,
              "peak_pss_bytes": memory.peak_pss if memory.pss_available else None,
              "peak_rss_bytes": memory.peak_rss, "peak_processes": memory.peak_processes}
    print(f"[{name}] {wall:.1f} s, {n_spectra / wall:,.0f} spectra/s, peak PSS "
          f"{_gb(result['peak_pss_bytes'])} GB, peak RSS {_gb(memory.peak_rss)} GB", flush=True)
    return result


def _gb(value):
    return "n/a" if value is None else f"{value / GB:.2f}"


def write_raw_files(folder, n_files, n_distinct, seed=0):
    """``n_files`` spec-lite files in ``folder``, ``n_distinct`` distinct spectra, the rest hard links to them
    (copies where the file system has no hard links)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    distinct = []
    for i in range(n_files):
        path = folder / f"spec-{i:07d}.fits"
        if i < n_distinct:
            write_spec_lite(path, make_spectrum(rng, i))
            distinct.append(path)
        else:
            _link_or_copy(distinct[i % len(distinct)], path)
    return folder


def _link_or_copy(source, path):
    """A hard link ``path`` to ``source``, or a copy where links are not possible."""
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)


def steady_rate(folder, files_per_shard):
    """Files per second between the first and the last shard written (from the shard files' mtimes).

    Leaves out the fixed start (cluster, worker imports, model scatter) and the first shard's
    latency: the throughput a long run approaches.
    """
    times = sorted(p.stat().st_mtime for p in folder.glob("shard-*.fits"))
    return (len(times) - 1) * files_per_shard / (times[-1] - times[0]) if len(times) > 2 else float("nan")


def _shard_hashes(folder):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("shard-*.fits"))]


def benchmark(args, work):
    """The four steps; returns the list of step results and the preprocessing speed-up."""
    survey, run = work / "survey", work / "run"
    local = ["--scheduler", "local"] + (["--workers", args.workers] if args.workers else [])
    steps = [run_step("synth", ["synth", "--n", args.n, "--out", f"{survey}/", "--shard-size", args.shard_size,
                                "--seed", 0, "--quiet", *local], args.n, work / "synth.log")]
    ds = load_dataset(survey)
    n_train = int(((np.char.strip(np.asarray(ds.split, str)) == "train") & training_class_rows(ds)).sum())
    ds.close()
    steps.append(run_step("train (2 epochs, streaming)", ["train", "--data", survey, "--out", run, "--epochs", EPOCHS,
                                                          "--quiet"], EPOCHS * n_train, work / "train.log"))
    infill = ["--infill", args.infill] if args.infill else []
    steps.append(run_step(f"encode + LOF + top 100 (infill {args.infill or 'of the model'})",
                          ["encode", survey, "--model", run, "--out", work / "latents.fits", "--top", 100, "--quiet",
                           *infill, *local], args.n, work / "encode.log"))
    raw = write_raw_files(work / "raw", args.raw_files, args.distinct)
    per_shard = max(1, args.raw_files // 16)
    for workers in (1, 2):
        steps.append(run_step(f"preprocess, {workers} worker{'s' * (workers > 1)}",
                              ["preprocess", raw, "--out", f"{work}/pre{workers}/", "--shard-size", per_shard,
                               "--model", run, "--scheduler", "local", "--workers", workers, "--quiet"],
                              args.raw_files, work / f"preprocess{workers}.log"))
        steps[-1]["steady_files_per_s"] = steady_rate(work / f"pre{workers}", per_shard)
    if _shard_hashes(work / "pre1") != _shard_hashes(work / "pre2"):
        raise SystemExit("preprocess: the shards of 1 and 2 workers differ")
    one, two = steps[-2:]
    return steps, {"wall": one["wall_s"] / two["wall_s"],
                   "steady": two["steady_files_per_s"] / one["steady_files_per_s"]}


def encode_rounds(args, work):
    """Step 3 alone, ``args.rounds`` times on a kept work folder (alternating with ``--compare``) -> results."""
    survey, run = work / "survey", work / "run"
    ds = load_dataset(survey)
    n = len(ds)
    ds.close()
    options = ["--top", 100, "--quiet", *(["--infill", args.infill] if args.infill else []),
               *(["--no-rchi2"] if args.no_rchi2 else []), "--scheduler", "local",
               *(["--workers", args.workers] if args.workers else [])]
    trees = [("before", args.compare), ("now", None)] if args.compare else [("now", None)]
    results = []
    for r in range(args.rounds):
        for label, tree in trees:
            out = work / f"latents-{label}.fits"
            result = run_step(f"encode + LOF{'' if args.no_rchi2 else ' + RCHI2'} + top 100, {label}, round {r + 1}",
                              ["encode", survey, "--model", run, "--out", out, *options], n, work / "encode.log", tree,
                              every=1.0)
            results.append(dict(result, code=label, round=r + 1))
        if args.compare and not _same_latents(work / "latents-before.fits", work / "latents-now.fits"):
            raise SystemExit("encode: the two checkouts wrote different LATENTS columns or top-100 lists")
    return results


def _same_latents(a, b):
    """True if two LATENTS files have the same columns, value for value, and their top-100 CSVs the same bytes."""
    with fits.open(a) as fa, fits.open(b) as fb:
        ta, tb = fa["LATENTS"].data, fb["LATENTS"].data
        same = ta.columns.names == tb.columns.names and all(np.array_equal(ta[c], tb[c]) for c in ta.columns.names)
    return same and a.with_suffix(".top.csv").read_bytes() == b.with_suffix(".top.csv").read_bytes()


def rounds_report(results):
    """The markdown table of :func:`encode_rounds`: every round, then each code's median against the target."""
    lines = ["| code | round | wall s | spectra/s | CPU s | peak PSS GB |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['code']} | {r['round']} | {r['wall_s']:.2f} | {r['spectra_per_s']:,.0f} | {r['cpu_s']:.1f} | "
              f"{_gb(r['peak_pss_bytes'])} |" for r in results]
    lines.append("")
    for code in dict.fromkeys(r["code"] for r in results):
        walls = [r["wall_s"] for r in results if r["code"] == code]
        median = float(np.median(walls))
        rate = results[0]["spectra"] / median
        lines.append(f"{code}: median {median:.2f} s over {len(walls)} rounds ({min(walls):.2f}-{max(walls):.2f}), "
                     f"{rate:,.0f} spectra/s; >= {TARGET_ENCODE:,}/s: {_ok(rate >= TARGET_ENCODE)}")
    return "\n".join(lines)


def report(steps, speedup, args):
    """The markdown table, with the targets beside the numbers."""
    lines = [f"N = {args.n:,} spectra, shards of {args.shard_size:,}; {os.cpu_count()} cores "
             f"({platform.processor() or platform.machine()}); memory = peak of the whole process tree", "",
             "| step | spectra | wall s | spectra/s | CPU s | peak PSS GB | peak RSS GB | target |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for s in steps:
        target = f"PSS <= {TARGET_MEMORY / GB:.0f} GB: {_ok(s['peak_pss_bytes'] is not None and s['peak_pss_bytes'] <= TARGET_MEMORY)}"
        if s["step"].startswith("encode"):
            target += f"; >= {TARGET_ENCODE:,}/s: {_ok(s['spectra_per_s'] >= TARGET_ENCODE)}"
        lines.append(f"| {s['step']} | {s['spectra']:,} | {s['wall_s']:.1f} | {s['spectra_per_s']:,.0f} | "
                     f"{s['cpu_s']:.1f} | {_gb(s['peak_pss_bytes'])} | {_gb(s['peak_rss_bytes'])} | {target} |")
    lines += ["", f"preprocessing speed-up, 1 -> 2 workers (target >= {TARGET_SPEEDUP}): whole command "
                  f"{speedup['wall']:.2f}x ({_ok(speedup['wall'] >= TARGET_SPEEDUP)}); between the first and "
                  f"the last shard {speedup['steady']:.2f}x ({_ok(speedup['steady'] >= TARGET_SPEEDUP)})"]
    return "\n".join(lines)


def _ok(flag):
    return "met" if flag else "NOT met"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="spectra to synthesise (default %(default)s)")
    ap.add_argument("--shard-size", type=int, default=20_000, help="spectra per shard (default %(default)s)")
    ap.add_argument("--workers", type=int, default=None, help="workers of synth and encode (default: one per core)")
    ap.add_argument("--infill", choices=("pca", "vae"), default=None,
                    help="encode's infill of masked pixels (default: the model's, vae: iterated to convergence)")
    ap.add_argument("--raw-files", type=int, default=200_000,
                    help="spec-lite files to preprocess (default %(default)s: a survey-sized run; with 20,000 "
                         "the command's fixed start-up of about 5 s still dominated the 1 -> 2 worker comparison)")
    ap.add_argument("--distinct", type=int, default=200, help="distinct ones among them (default %(default)s)")
    ap.add_argument("--workdir", default=None, help="folder in which a fresh work folder is made (default: temp)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (shards, model, latents, logs)")
    ap.add_argument("--json", default="million.json", help="results file (default %(default)s)")
    ap.add_argument("--reuse", default=None, help="a work folder kept by an earlier run: only the encode step, "
                                                  "--rounds times")
    ap.add_argument("--rounds", type=int, default=1, help="encode rounds with --reuse (default %(default)s)")
    ap.add_argument("--no-rchi2", action="store_true", help="encode without the reconstruction chi^2 (--reuse)")
    ap.add_argument("--compare", default=None, help="with --reuse: another npvae checkout, run alternately")
    args = ap.parse_args()
    if args.reuse is not None:
        work = Path(args.reuse)
        if not (work / "survey").is_dir() or not (work / "run").exists():
            raise SystemExit(f"--reuse {work}: no survey/ and run of a kept work folder there")
        if args.rounds < 1:
            raise SystemExit(f"--rounds must be >= 1, got {args.rounds}")
        results = encode_rounds(args, work)
        table = rounds_report(results)
        print("\n" + table)
        Path(args.json).write_text(json.dumps({"reuse": str(work), "cores": os.cpu_count(), "machine": platform.platform(),
                                               "no_rchi2": args.no_rchi2, "compare": args.compare, "rounds": results,
                                               "table": table}, indent=1))
        print(f"wrote {args.json}")
        return
    if args.compare or args.no_rchi2 or args.rounds != 1:
        raise SystemExit("--rounds, --no-rchi2 and --compare go with --reuse")
    work = Path(tempfile.mkdtemp(prefix=f"npvae-million-{args.n}-", dir=args.workdir))
    print(f"work folder: {work}", flush=True)
    try:
        steps, speedup = benchmark(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = report(steps, speedup, args)
    print("\n" + table)
    result = {"n": args.n, "shard_size": args.shard_size, "raw_files": args.raw_files, "cores": os.cpu_count(),
              "machine": platform.platform(), "memory_measure": "sum of PSS (smaps_rollup) and of RSS over "
              "the step's process and all its descendants, sampled every 0.2 s", "steps": steps,
              "preprocess_speedup": speedup, "targets": {"peak_memory_bytes": TARGET_MEMORY,
                                                         "encode_spectra_per_s": TARGET_ENCODE,
                                                         "preprocess_speedup": TARGET_SPEEDUP},
              "table": table}
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.json}" + (f"; kept {work}" if args.keep else ""))


if __name__ == "__main__":
    main()
