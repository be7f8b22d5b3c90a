"""Engines that run one function over many items: in this process, or as Dask tasks.

One code path, several engines: a driver calls ``engine.map(fn, items, *args)`` with the same
per-shard function whatever the engine, so the results are the same by construction.

- ``none``: a plain loop in this process (for debugging; results in item order);
- ``local``: a ``dask.distributed.LocalCluster`` sized to this machine (one single-threaded
  worker process per core), started and stopped around the work;
- ``tcp://HOST:PORT``: an existing cluster (``dask scheduler`` + ``dask worker``), results as
  they complete. Workers must import the same npvae and see the same files.

``engine.map`` yields results as they complete (a driver that files them by index, like the
shard writer); ``engine.map_in_order`` yields them in item order (a driver that concatenates).
"""
import collections
import contextlib
import importlib
import os

from threadpoolctl import ThreadpoolController

from .. import forkserver
from ..utils import NpvaeError

__all__ = ["SCHEDULER_HELP", "check_scheduler", "open_engine", "InProcess", "DaskEngine", "one_thread"]

SCHEDULER_HELP = ("where the work runs: 'local' (a Dask LocalCluster, one worker per core; default), "
                  "'none' (in this process) or 'tcp://HOST:PORT' (a running dask scheduler)")


def check_scheduler(scheduler, workers=None):
    """NpvaeError unless ``scheduler`` is 'local', 'none' or 'tcp://HOST:PORT' and workers >= 1."""
    if scheduler not in ("local", "none") and not scheduler.startswith("tcp://"):
        raise NpvaeError(f"--scheduler {scheduler!r}: use 'local', 'none' or 'tcp://HOST:PORT'")
    if scheduler.startswith("tcp://") and ":" not in scheduler[len("tcp://"):]:
        raise NpvaeError(f"--scheduler {scheduler!r}: give the port, tcp://HOST:PORT")
    if workers is not None:
        if workers < 1:
            raise NpvaeError(f"--workers {workers}: need at least one worker")
        if scheduler != "local":
            raise NpvaeError(f"--workers {workers}: only for --scheduler local (a cluster has its own)")


_POOLS = []                        # this process's ThreadpoolController, found on first use


def one_thread(fn, *args):
    """fn(*args) with BLAS / OpenMP pools limited to one thread: the same sums in any process.

    The thread pools are looked up once per process (a scan of the loaded libraries, milliseconds:
    as long as a small task itself), then only their limits are set around each call.
    """
    if not _POOLS:
        _POOLS.append(ThreadpoolController())
    with _POOLS[0].limit(limits=1):
        return fn(*args)


class InProcess:
    """The loop engine: ``map`` calls the function item by item, in order, in this process."""

    name = "none"

    def share(self, value):
        return value

    def submit(self, fn, *args):
        return one_thread(fn, *args)

    def map(self, fn, items, *args):
        for item in items:
            yield one_thread(fn, item, *args)

    map_in_order = map


class DaskEngine:
    """The Dask engine: one task per item on a ``distributed.Client``; results as they complete."""

    def __init__(self, client, name):
        self.client = client
        self.name = name

    def share(self, value):
        """Send ``value`` to every worker once; pass the returned future to ``map``."""
        return self.client.scatter([value], broadcast=True)[0]              # [value]: one object

    def submit(self, fn, *args):
        return self.client.submit(one_thread, fn, *args, pure=False).result()

    def map(self, fn, items, *args):
        futures = [self.client.submit(one_thread, fn, item, *args, pure=False) for item in items]
        for future in _distributed().as_completed(futures):
            yield future.result()

    def map_in_order(self, fn, items, *args, ahead=None):
        """Like ``map``, results in item order, at most ``ahead`` tasks (default 2 per worker) in flight."""
        ahead = ahead or 2 * max(1, len(self.client.scheduler_info()["workers"]))
        pending = collections.deque()
        for item in items:
            pending.append(self.client.submit(one_thread, fn, item, *args, pure=False))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _distributed():
    """The ``distributed`` package, imported on first use (half a second: not for every command)."""
    return importlib.import_module("distributed")


def _local_worker_config():
    """Dask config for a new local cluster: workers forked from a fork server, without the
    nanny's :data:`npvae.forkserver.DROPPED_VARIABLES`, no profiler, fewer wake-ups.

    Workers are forked from a fork server (where the system has one: :mod:`npvae.forkserver`)
    instead of spawned: the server imports Dask and npvae once and each worker starts as a fork
    of it, already importing them (a spawned worker imports everything itself), and a worker
    that is done exits at once (a spawned one first tears down its interpreter, a second of
    waiting at each cluster's close). Each worker also samples its threads' stacks every 10 ms
    for the dashboard's profile, which a local cluster does not show. Every server of the
    cluster (scheduler, nannies, workers) also wakes up every 20 ms to time its event loop (the
    "unresponsive" warning) and every 0.5 s to record its process's CPU, memory and I/O for the
    dashboard: here every 1 s and 5 s, which takes an idle cluster's CPU from a few per cent of a
    core to under one per cent (benchmarks/README.md). The nanny and the worker read the worker's
    memory every 0.5 s instead of 0.1 (the nanny makes a ``psutil.Process`` each time; the limit
    is still enforced, half a second later at most: about a third of what an idle cluster spent).
    The one-thread OpenMP and BLAS settings stay as Dask sets them (the fork server starts with them).
    """
    config = importlib.import_module("dask").config
    environ = {key: value for key, value in config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if key not in forkserver.DROPPED_VARIABLES}
    settings = {"distributed.nanny.pre-spawn-environ": environ, "distributed.worker.profile.enabled": False,
                "distributed.admin.tick.interval": "1s", "distributed.admin.system-monitor.interval": "5s",
                "distributed.worker.memory.monitor-interval": "500ms"}
    if forkserver.available():
        settings["distributed.worker.multiprocessing-method"] = "forkserver"
    return config.set(settings)


@contextlib.contextmanager
def open_engine(scheduler="local", workers=None, preload=()):
    """Context manager yielding the engine of ``scheduler`` ('none', 'local' or 'tcp://...').

    ``preload``: names of modules the tasks will need besides npvae, imported by a local
    cluster's fork server before the workers start (so once, not in each worker; see
    :mod:`npvae.forkserver`): the server is started here unless it already runs (started early
    by ``npvae CMD ... --scheduler local``, or by another cluster open in this process), and
    stops with its last user.
    """
    check_scheduler(scheduler, workers)
    if scheduler == "none":
        yield InProcess()
        return
    dd = _distributed()
    if scheduler == "local":
        n = workers or os.cpu_count() or 1
        forkserver.start(preload)                         # held until the cluster is closed
        try:
            with _local_worker_config():
                cluster = dd.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                          scheduler_kwargs={"dashboard_address": ":0"})   # no dashboard, free port
            with cluster, dd.Client(cluster) as client:
                yield DaskEngine(client, f"local ({n} workers)")
        finally:
            forkserver.release()
        return
    try:
        client = dd.Client(scheduler, timeout="30s")
    except OSError as err:
        raise NpvaeError(f"--scheduler {scheduler}: cannot reach a dask scheduler ({err})") from err
    with client:
        yield DaskEngine(client, scheduler)
