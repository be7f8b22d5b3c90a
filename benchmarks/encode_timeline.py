"""Wall-clock timeline of the client of one ``npvae encode`` command: where the main process waits.

Runs ``npvae encode INPUTS --model MODEL --out OUT ...`` in this process (the same code as the
command line: :func:`npvae.cli.build_parser`, then the command's ``run``) with timers wrapped
around the client's steps, and prints when each step ended, in seconds since the start of the
script, and how long it took:

    fork server started   the local cluster's fork server started (``--scheduler local``), as
                      ``npvae encode`` does before its imports (it imports Dask and npvae meanwhile)
    imports           npvae.cli and the encode command module (astropy, NumPy, npvae ...)
    arguments         the parser built and the arguments parsed
    model load        :func:`npvae.train.load`
    LOF reference     the outlier reference fitted on the training latents (start and end)
    cluster ready     the Dask LocalCluster started, its workers connected (start and end)
    scatter           the model and the LOF reference sent to every worker
    first / last result   the first and the last task's result back at the client
    table build       the chunks' columns gathered (kept in pieces: the LATENTS writer reads them)
    cluster close     the cluster shut down
    LATENTS write     the FITS file written
    top table         the --top ranking and its CSV written
    exit wait         the threads the process waits for before it exits (the fork server's stop)

Steps that run at the same time (the LOF reference while the cluster starts) overlap in the
list: read the "ended at" column. The last column is the CPU time this process (every thread:
the main one, Dask's event loop, the LOF fit) had used when the step was recorded: every
CPU-second of the client is taken from the workers on a machine with as many workers as cores.
The wrapped functions are looked up by name at run time, so the script times whatever the
package does; nothing is changed but the timers.

    python benchmarks/encode_timeline.py SURVEY --model RUN --out /tmp/x.fits --top 100 --quiet \
        --infill pca --scheduler local --no-rchi2

``--idle S``: instead, the CPU seconds an idle local cluster (2 workers) spends in S seconds, in
this process (the scheduler, the nannies and the client live here) and in the workers.

``--task-chunks N`` (first): an experiment, every engine task N chunks instead of
``npvae.apply.spectra.TASK_CHUNKS`` with the last ``TAIL_CHUNKS`` in tasks of ``TAIL_TASK_CHUNKS``.

``--latents N``: instead, the LATENTS writer alone on an N-row table with encode's columns
(SOURCE a 69-character path, as in a sharded survey), cut into the pieces of 4,096 rows that
an encode's tasks return: the pieces joined into one Table (what ``encode_spectra`` returns),
:func:`npvae.commands.encode.write_latents` from that Table, from the pieces themselves (what
``npvae encode`` writes now) and the astropy writer it replaced (tests/_reference.py), each
twice, and the files compared byte for byte.

    python benchmarks/encode_timeline.py --latents 1000000
"""
import time

T0 = time.perf_counter()                                              # before any import below

import contextlib                                                    # noqa: E402
import functools                                                     # noqa: E402
import importlib                                                     # noqa: E402
import sys                                                           # noqa: E402
import threading                                                     # noqa: E402

import npvae.cli                    # noqa: E402  at the top, as in the `npvae` script: the workers, started
#                                     by multiprocessing's "spawn", import this module too, so npvae with it

MARKS = []                                                           # (step, start, end, client CPU s at the mark)
_LOCK = threading.Lock()


def mark(step, start, end=None):
    """Record one step, [start, end] in perf_counter seconds (end: now)."""
    with _LOCK:
        MARKS.append((step, start, time.perf_counter() if end is None else end, time.process_time()))


def timed(step, fn):
    """fn wrapped so that each call is recorded as ``step``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        out = fn(*args, **kwargs)
        mark(step, t)
        return out
    return wrapper


def timed_engine(open_engine):
    """open_engine wrapped: 'cluster ready' when the context is entered, 'cluster close' on exit."""
    @contextlib.contextmanager
    @functools.wraps(open_engine)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        with open_engine(*args, **kwargs) as engine:
            mark("cluster ready", t)
            with _task_stream(engine) as stream:
                yield engine
            t = time.perf_counter()
        mark("cluster close", t)
        worker_marks(stream)
    return wrapper


def _task_stream(engine):
    """Dask's record of the tasks run on the workers (no record for the in-process engine)."""
    client = getattr(engine, "client", None)
    if client is None:
        return contextlib.nullcontext()
    return importlib.import_module("distributed").get_task_stream(client)


def worker_marks(stream):
    """The workers' side from the task stream: the first task's start, all tasks' computing time."""
    if stream is None or not stream.data:
        return
    offset = time.perf_counter() - time.time()                       # task stream times are time.time()
    spans = [(s["start"] + offset, s["stop"] + offset) for task in stream.data for s in task["startstops"]
             if s["action"] == "compute"]
    first = min(spans)
    mark("first task on a worker", first[0], first[1])
    mark(f"tasks computing ({len(spans)})", first[0], max(stop for _, stop in spans))
    busy = sum(stop - start for start, stop in spans)
    print(f"workers: {len(spans)} tasks, {busy:.2f} s of task wall time in all")


def timed_results(map_in_order):
    """engine.map_in_order wrapped: the first and the last result's arrival."""
    @functools.wraps(map_in_order)
    def wrapper(*args, **kwargs):
        t = last = time.perf_counter()
        for i, result in enumerate(map_in_order(*args, **kwargs)):
            last = time.perf_counter()
            if i == 0:
                mark("first result", t, last)
            yield result
        mark("last result", t, last)
    return wrapper


def instrument():
    """Wrap the client's steps in the modules that call them."""
    from npvae.apply import spectra
    from npvae.commands import encode
    from npvae.distributed import engines

    for module, name, step in [(encode, "load", "model load"), (encode, "write_latents", "LATENTS write"),
                               (encode, "write_top", "top table (write)"),
                               (encode, "top_outlier_table", "top table (ranking)"),
                               (spectra, "fit_lof_reference", "LOF reference"),
                               (spectra, "_columns_of", "table build")]:
        if hasattr(module, name):
            setattr(module, name, timed(step, getattr(module, name)))
    encode.open_engine = timed_engine(encode.open_engine)
    engines.DaskEngine.share = timed("scatter", engines.DaskEngine.share)
    engines.DaskEngine.map_in_order = timed_results(engines.DaskEngine.map_in_order)


def report(total_end):
    print(f"{'step':24s} {'started':>8s} {'ended':>8s} {'took':>8s} {'client CPU':>10s}   (s since the script "
          "started; CPU: this process, all its threads, when the step was recorded)")
    for step, start, end, cpu in sorted(MARKS, key=lambda m: m[2]):
        print(f"{step:24s} {start - T0:8.2f} {end - T0:8.2f} {end - start:8.2f} {cpu:10.2f}")
    print(f"{'whole command':24s} {0:8.2f} {total_end - T0:8.2f} {total_end - T0:8.2f} {time.process_time():10.2f}")


def latents_writer(n, folder="/tmp", piece=4096):
    """Seconds of the join, of write_latents (from the Table and from the pieces) and of the astropy writer."""
    import filecmp
    from pathlib import Path

    import numpy as np
    from npvae.apply.columns import LatentColumns, PiecesColumn, SourceStrings
    from npvae.apply.datarows import SourceColumn
    from npvae.commands.encode import write_latents
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _reference import write_latents_astropy

    rng = np.random.default_rng(0)
    shard = np.arange(n) // 20000                                      # (N,) 20,000 rows a shard
    whole = {"PLATE": rng.integers(266, 3000, n), "MJD": rng.integers(51000, 56000, n),
             "FIBERID": rng.integers(1, 1000, n), "Z": rng.uniform(0, 0.3, n),
             "CLASS": np.array(["GALAXY", "QSO", "STAR"])[rng.integers(0, 3, n)],
             "LABEL": np.array(["STARFORM", "AGN", "", "BROADLINE"])[rng.integers(0, 4, n)],
             "MU": rng.standard_normal((n, 6)).astype(np.float32),
             "LOGVAR": rng.standard_normal((n, 6)).astype(np.float32), "SN_MEDIAN": rng.uniform(1, 50, n),
             "GOOD_FRAC": rng.uniform(0.5, 1, n), "INFILL_FRAC": rng.uniform(0, 0.5, n),
             "OUTLIER": np.where(rng.random(n) < 0.1, np.nan, rng.gamma(2.0, size=n)), "ROW": np.arange(n) % 20000}
    cuts = range(0, n, piece)
    sources = SourceColumn.concatenate([SourceColumn(
        [f"/work/runs/mwd/npvae-million-1000000-cjtm2wb7/survey/shard-{s:05d}.fits" for s in np.unique(shard[lo:lo + piece])],
        np.unique(shard[lo:lo + piece], return_inverse=True)[1]) for lo in cuts])
    pieces = LatentColumns({**{k: PiecesColumn([v[lo:lo + piece] for lo in cuts]) for k, v in whole.items()},
                            "SOURCE": SourceStrings(sources)})
    paths = {}
    for _ in range(2):
        t = time.perf_counter()
        table = pieces.table()
        print(f"{'join into a Table':24s} {n:,} rows: {time.perf_counter() - t:6.2f} s")
        for name, writer, data in (("from the Table", write_latents, table), ("from the pieces", write_latents, pieces),
                                   ("astropy", write_latents_astropy, table)):
            paths[name] = Path(folder) / f"latents-{name.replace(' ', '-')}.fits"
            t = time.perf_counter()
            writer(paths[name], data, [], {"MODEL": "run"})
            print(f"{'write ' + name:24s} {n:,} rows: {time.perf_counter() - t:6.2f} s")
        del table
    first, *others = paths.values()
    same = all(filecmp.cmp(first, other, shallow=False) for other in others)
    print(f"the same bytes: {same} ({first.stat().st_size:,} bytes)")
    for path in paths.values():
        path.unlink()


def idle_cluster(seconds, workers=2):
    """CPU seconds of a started local cluster doing nothing: this process (scheduler, nannies, client) and its workers."""
    from npvae.distributed import open_engine

    with open_engine("local", workers) as engine:
        time.sleep(1.0)                                                # past the start
        before, t = engine.client.run(time.process_time), time.process_time()
        time.sleep(seconds)
        client, after = time.process_time() - t, engine.client.run(time.process_time)
    print(f"idle local cluster, {workers} workers, {seconds:.0f} s: this process {client:.3f} CPU-s, "
          f"the workers {sum(after.values()) - sum(before.values()):.3f} CPU-s")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--latents"]:
        return latents_writer(int(argv[1]))
    if argv[:1] == ["--idle"]:
        return idle_cluster(float(argv[1]))
    if argv[:1] == ["--task-chunks"]:                                 # an experiment: chunks per engine task
        from npvae.apply import spectra
        spectra._tasks.__defaults__ = (int(argv[1]), 0, spectra.TAIL_TASK_CHUNKS)   # every task N chunks
        argv = argv[2:]
    early = npvae.cli.asks_for_local_cluster(["encode"] + argv)        # as `npvae encode` does, first
    if early:
        t = time.perf_counter()
        npvae.cli.forkserver.start_early()
        mark("fork server started", t)
    parser = npvae.cli.build_parser("encode")                         # imports the command module
    mark("imports", T0)
    t = time.perf_counter()
    args = parser.parse_args(["encode"] + argv)
    mark("arguments", t)
    instrument()
    code = args.func(args)
    t = time.perf_counter()
    npvae.cli.forkserver.drop_early()                                # as `npvae encode` does, last
    for thread in threading.enumerate():                          # what the process waits for at exit
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    mark("exit wait (threads)", t)
    report(time.perf_counter())
    return code


if __name__ == "__main__":
    sys.exit(main())
