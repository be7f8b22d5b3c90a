"""Wall-clock timeline of the client of one ``npvae encode`` command: where the main process waits.

Runs ``npvae encode INPUTS --model MODEL --out OUT ...`` in this process (the same code as the
command line: :func:`npvae.cli.build_parser`, then the command's ``run``) with timers wrapped
around the client's steps, and prints when each step ended, in seconds since the start of the
script, and how long it took:

    imports           npvae.cli and the encode command module (astropy, NumPy, npvae ...)
    arguments         the parser built and the arguments parsed
    model load        :func:`npvae.train.load`
    LOF reference     the outlier reference fitted on the training latents (start and end)
    cluster ready     the Dask LocalCluster started, its workers connected (start and end)
    scatter           the model and the LOF reference sent to every worker
    first / last result   the first and the last task's result back at the client
    table build       the chunks' columns joined into one Table
    cluster close     the cluster shut down
    LATENTS write     the FITS file written
    top table         the --top ranking and its CSV written

Steps that run at the same time (the LOF reference while the cluster starts) overlap in the
list: read the "ended at" column. The wrapped functions are looked up by name at run time, so
the script times whatever the package does; nothing is changed but the timers.

    python benchmarks/encode_timeline.py SURVEY --model RUN --out /tmp/x.fits --top 100 --quiet \
        --infill pca --scheduler local --no-rchi2
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

MARKS = []                                                           # (step, start, end)
_LOCK = threading.Lock()


def mark(step, start, end=None):
    """Record one step, [start, end] in perf_counter seconds (end: now)."""
    with _LOCK:
        MARKS.append((step, start, time.perf_counter() if end is None else end))


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
                               (spectra, "_table", "table build")]:
        if hasattr(module, name):
            setattr(module, name, timed(step, getattr(module, name)))
    encode.open_engine = timed_engine(encode.open_engine)
    engines.DaskEngine.share = timed("scatter", engines.DaskEngine.share)
    engines.DaskEngine.map_in_order = timed_results(engines.DaskEngine.map_in_order)


def report(total_end):
    print(f"{'step':24s} {'started':>8s} {'ended':>8s} {'took':>8s}   (s since the script started)")
    for step, start, end in sorted(MARKS, key=lambda m: m[2]):
        print(f"{step:24s} {start - T0:8.2f} {end - T0:8.2f} {end - start:8.2f}")
    print(f"{'whole command':24s} {0:8.2f} {total_end - T0:8.2f} {total_end - T0:8.2f}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = npvae.cli.build_parser("encode")                         # imports the command module
    mark("imports", T0)
    t = time.perf_counter()
    args = parser.parse_args(["encode"] + argv)
    mark("arguments", t)
    instrument()
    code = args.func(args)
    report(time.perf_counter())
    return code


if __name__ == "__main__":
    sys.exit(main())
