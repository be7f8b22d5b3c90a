"""Where the fixed cost of ``npvae preprocess --scheduler local`` goes, and the 1- vs 2-worker command.

    python benchmarks/startup_cost.py --raw RAW_DIR --model MODEL          # breakdown + whole commands
    python benchmarks/startup_cost.py --workdir /tmp/sc                    # makes 2,000 raw files and a model

Every measurement runs in a fresh Python process (``python benchmarks/startup_cost.py --part ...``):

1. ``client``: the command's own steps in the order ``npvae preprocess RAW --out DIR/ --model M
   --scheduler local --workers W`` takes them, each with its wall and CPU seconds (this process):
   importing ``npvae.cli``, building the parser and parsing, reading the model's recipe, listing
   the files, planning and opening the folder, the cluster (``open_engine``: start, until every
   worker is up), the shards themselves, and closing the cluster; then the CPU of the workers
   and nannies (children). Under ``python -m npvae.cli`` the workers import ``npvae.cli`` as their
   main module when they start (multiprocessing's spawn); this part does the same.
2. ``worker``: what a worker process does before its first shard is as fast as the rest:
   importing ``distributed``, importing ``npvae.cli`` (npvae and its dependencies), the first
   shard of ``--probe-files`` files (Numba functions loaded from the cache, lazy imports), a second
   one of the same size. Run twice: with the Numba cache of the source tree, then with an empty
   ``NUMBA_CACHE_DIR`` (every kernel compiled).
3. ``--whole``: the command itself, ``python -m npvae.cli preprocess ...``, on 1 then 2 workers:
   wall and CPU seconds (with its children), the files per second between the first and the last
   shard written, and the check that both wrote the same bytes.

Without ``--raw`` / ``--model`` it makes them in ``--workdir`` (2,000 spec-lite files, 200 distinct,
as benchmarks/million.py does, and a model trained for one epoch on a 2,000-spectrum synthetic
survey with the ``npvae`` commands). CPU seconds are user + system (getrusage).
"""
import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu(who=resource.RUSAGE_SELF):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """Wall and CPU seconds of consecutive steps of this process."""

    def __init__(self):
        self.steps, self._last = {}, (time.perf_counter(), _cpu())

    def mark(self, name):
        now = (time.perf_counter(), _cpu())
        self.steps[name] = {"wall_s": round(now[0] - self._last[0], 3), "cpu_s": round(now[1] - self._last[1], 3)}
        self._last = now


def part_client(args):
    """The command's client-side steps, timed; returns the dict of steps."""
    clock = Clock()
    clock.steps["interpreter"] = {"wall_s": None, "cpu_s": round(_cpu(), 3)}
    import npvae.cli as cli
    sys.modules["__main__"].__spec__ = cli.__spec__     # workers import npvae.cli as under `python -m npvae.cli`
    clock.mark("import npvae.cli")
    from npvae.commands import preprocess as command
    out = Path(tempfile.mkdtemp(prefix="npvae-startup-")) / "shards"
    argv = ["preprocess", args.raw, "--out", f"{out}/", "--shard-size", str(args.shard_size), "--model", args.model,
            "--scheduler", "local", "--workers", str(args.workers), "--quiet"]
    parsed = cli.build_parser("preprocess").parse_args(argv)
    clock.mark("parser + parse")
    settings = command._settings(parsed)
    clock.mark("model recipe")
    try:
        _sharded_steps(command, parsed, settings, clock.mark)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    clock.steps["workers and nannies (children)"] = {"wall_s": None, "cpu_s": round(_cpu(resource.RUSAGE_CHILDREN), 3)}
    return clock.steps


def _sharded_steps(command, args, settings, mark):
    """The steps of ``npvae.commands.preprocess._run_sharded``, one mark each."""
    from npvae import distributed as dist
    from npvae.data.shards import DEFAULT_SHARD_SIZE
    sn_cap, min_coverage, dilate, basis = settings
    paths = command.find_spectrum_files(args.inputs, resolve=True)
    mark("list files")
    options = {"sn_cap": sn_cap, "min_coverage": min_coverage, "dilate": dilate}
    plan = dist.preprocess_plan(paths, args.shard_size or DEFAULT_SHARD_SIZE, args.seed, options, True, args.model)
    writer = dist.open_preprocess_folder(args.out, plan, {"n_files": len(paths)})
    mark("plan + folder")
    with dist.open_engine("local", args.workers) as engine:
        mark("cluster start")
        dist.preprocess_shards(writer, paths, plan, engine, basis=basis)
        mark("shards")
        engine.client.close()
    mark("cluster close")


def part_worker(args):
    """A worker's start as a sequence of steps in this process (no cluster)."""
    clock = Clock()
    clock.steps["interpreter"] = {"wall_s": None, "cpu_s": round(_cpu(), 3)}
    import distributed  # noqa: F401  (what a Dask worker process imports first)
    clock.mark("import distributed")
    import npvae.cli  # noqa: F401  (the main module under python -m npvae.cli)
    clock.mark("import npvae.cli")
    from npvae.distributed.preprocess import write_preprocessed_shard
    from npvae.train import load
    recipe = load(args.model).preprocessing
    basis = (recipe.infill_mean, recipe.infill_vectors)
    options = {"sn_cap": recipe.sn_cap, "min_coverage": recipe.min_coverage, "dilate": recipe.dilate}
    files = sorted(str(p) for p in Path(args.raw).glob("*.fits"))[:2 * args.probe_files]
    folder = tempfile.mkdtemp(prefix="npvae-startup-")
    clock.mark("model recipe (not in a worker)")
    try:
        for k, name in enumerate(("first shard", "second shard")):
            write_preprocessed_shard(k, folder, files[k * args.probe_files:(k + 1) * args.probe_files], options, 0,
                                     basis, {})
            clock.mark(f"{name} ({args.probe_files} files)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    from npvae.data import infill, rebin
    clock.steps["numba cache"] = {n: {"hits": sum(f.stats.cache_hits.values()), "misses": sum(f.stats.cache_misses.values())}
                                  for n, f in (("rebin_rows", rebin._rebin_rows_jit), ("fill_masked", infill.fill_masked),
                                               ("weighted_residuals", infill._weighted_residuals_jit))}
    return clock.steps


def _child(part, args, env=None):
    """Run one part in a fresh process; returns its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", part, "--raw", args.raw, "--model", args.model,
           "--workers", str(args.workers), "--shard-size", str(args.shard_size), "--probe-files", str(args.probe_files)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{part} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def whole_command(raw, model, workers, shard_size, out):
    """Wall and CPU seconds of ``python -m npvae.cli preprocess`` in a fresh process, files/s between shards."""
    cmd = [sys.executable, "-m", "npvae.cli", "preprocess", raw, "--out", f"{out}/", "--shard-size", str(shard_size),
           "--model", model, "--scheduler", "local", "--workers", str(workers), "--quiet"]
    cpu, start = _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, _cpu(resource.RUSAGE_CHILDREN) - cpu
    if done.returncode:
        raise SystemExit(f"npvae preprocess failed:\n{done.stderr[-3000:]}")
    times = sorted(p.stat().st_mtime for p in Path(out).glob("shard-*.fits"))
    steady = (len(times) - 1) * shard_size / (times[-1] - times[0]) if len(times) > 2 else float("nan")
    hashes = [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(out).glob("shard-*.fits"))]
    return {"workers": workers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "steady_files_per_s": round(steady, 1)}, hashes


def make_inputs(work, n_files):
    """(raw folder, model file) made with the project's own commands, in ``work``."""
    sys.path.insert(0, str(HERE))
    from million import write_raw_files
    raw = write_raw_files(work / "raw", n_files, min(200, n_files))
    npvae = [sys.executable, "-m", "npvae.cli"]
    subprocess.run(npvae + ["synth", "--n", "2000", "--out", str(work / "survey.fits"), "--quiet"], check=True)
    subprocess.run(npvae + ["train", "--data", str(work / "survey.fits"), "--out", str(work / "run"), "--epochs", "1",
                            "--quiet"], check=True)
    return str(raw), str(work / "run")


def _print_steps(title, steps):
    print(f"\n{title}")
    for name, s in steps.items():
        if "cpu_s" in s:
            wall = "" if s["wall_s"] is None else f"wall {s['wall_s']:7.2f} s   "
            print(f"  {name:42s} {wall}CPU {s['cpu_s']:6.2f} s")
        else:
            print(f"  {name:42s} {s}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", default=None, help="folder of spec-lite files (default: made in --workdir)")
    ap.add_argument("--model", default=None, help="trained model (default: made in --workdir)")
    ap.add_argument("--workdir", default=None, help="where to make the inputs (default: a temporary folder)")
    ap.add_argument("--raw-files", type=int, default=2000, help="files to make without --raw (default %(default)s)")
    ap.add_argument("--workers", type=int, default=1, help="workers of the client part (default %(default)s)")
    ap.add_argument("--shard-size", type=int, default=None, help="files per shard (default: 1/16 of the files)")
    ap.add_argument("--probe-files", type=int, default=20, help="files per shard of the worker part (default 20)")
    ap.add_argument("--whole", action="store_true", help="also time the whole command on 1 and 2 workers")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--part", choices=("client", "worker"), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        print(json.dumps((part_client if args.part == "client" else part_worker)(args)))
        return
    if args.raw is None or args.model is None:
        work = Path(args.workdir or tempfile.mkdtemp(prefix="npvae-startup-inputs-"))
        args.raw, args.model = make_inputs(work, args.raw_files)
    n_files = sum(1 for _ in Path(args.raw).glob("*.fits"))
    args.shard_size = args.shard_size or max(1, n_files // 16)
    result = {"files": n_files, "shard_size": args.shard_size, "cores": os.cpu_count(),
              "load_average": os.getloadavg()}
    result["client"] = _child("client", args)
    _print_steps(f"client, {args.workers} worker(s), {n_files} files in shards of {args.shard_size}",
                 result["client"])
    result["worker"] = _child("worker", args)
    _print_steps("worker start (Numba cache of the source tree)", result["worker"])
    with tempfile.TemporaryDirectory() as empty:
        result["worker_compiling"] = _child("worker", args, env={**os.environ, "NUMBA_CACHE_DIR": empty})
    _print_steps("worker start (empty NUMBA_CACHE_DIR: every kernel compiled)", result["worker_compiling"])
    if args.whole:
        with tempfile.TemporaryDirectory() as tmp:
            runs = [whole_command(args.raw, args.model, w, args.shard_size, Path(tmp) / f"w{w}") for w in (1, 2)]
        if runs[0][1] != runs[1][1]:
            raise SystemExit("the shards of 1 and 2 workers differ")
        result["whole"] = [r for r, _ in runs]
        one, two = result["whole"]
        print(f"\nwhole command: 1 worker {one['wall_s']} s wall, {one['cpu_s']} s CPU; 2 workers {two['wall_s']} s "
              f"wall, {two['cpu_s']} s CPU; ratio {one['wall_s'] / two['wall_s']:.2f}x whole, "
              f"{two['steady_files_per_s'] / one['steady_files_per_s']:.2f}x between the first and last shard "
              "(same shard bytes)")
    print(f"\nload average {result['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
