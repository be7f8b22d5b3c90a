"""The fork server that local Dask clusters fork their workers from: started early, stopped last.

A worker of ``--scheduler local`` is a fork of this process's fork server (``multiprocessing``'s
"forkserver"), which imports Dask and npvae once, so that each worker starts with them already
imported (``npvae.distributed.engines``). The server takes about a second to import them. Started
by the cluster, that second is spent after the command's own imports and Dask's; started by
``npvae CMD ... --scheduler local`` before the command imports anything (:func:`start_early`,
called by :mod:`npvae.cli`, which is why ``import npvae`` is lazy), it is spent on the other
core while the command imports, loads its model and starts the scheduler.

The server reads its environment once, when it starts, and its workers inherit it: it gets the
variables a Dask nanny sets before it starts a worker (:func:`worker_environ`), as it would have
had the nanny started it. Each open cluster holds the server (:func:`start`) and lets it go
(:func:`release`); the last one to let go stops it, so that its stop overlaps the command's
writing. A server started early (:func:`start_early`) is held for the first cluster to come,
and stopped by :func:`drop_early` if none came (the command failed before its cluster).

Imports nothing of npvae, and of Dask only its configuration: it runs before the command's imports.
"""
import importlib
import importlib.util
import multiprocessing
import os
import sys
import threading
from pathlib import Path

__all__ = ["WORKER_MODULES", "DROPPED_VARIABLES", "available", "worker_environ", "running", "start", "start_early",
           "drop_early", "release"]

# what the server imports before it forks a worker: Dask's worker, every npvae module a task runs,
# and the preload of the tasks' Numba kernels, with the garbage collector held (npvae.workerboot)
WORKER_MODULES = ("npvae.workerboot",)
# left out of the nanny's variables: MALLOC_TRIM_THRESHOLD_ (Dask: 64 KiB) has glibc hand freed memory
# back at once, and the shard tasks, which allocate and free large arrays all the time, spent twice
# the system time with it (benchmarks/synth_scale.py)
DROPPED_VARIABLES = ("MALLOC_TRIM_THRESHOLD_",)
_USERS = []                # one entry per holder (an open cluster); the server stops when none is left
_EARLY = []                # [True] while a server started early waits for its first cluster
_LOCK = threading.Lock()


def available():
    """True where ``multiprocessing`` has a fork server (Linux, macOS), else local clusters spawn workers."""
    return "forkserver" in multiprocessing.get_all_start_methods()


def worker_environ():
    """The variables a Dask nanny sets before it starts a worker process, computed as it does.

    ``distributed.nanny.pre-spawn-environ`` of Dask's current configuration less
    :data:`DROPPED_VARIABLES`, each variable already set in this process's environment winning,
    and PYTHONHASHSEED 6640 unless set to another value than 0, so that every worker hashes
    strings alike (``distributed.nanny.Nanny``; the tests compare with a Nanny's). Dask's own
    defaults (distributed.yaml) are added as ``import distributed`` adds them, without importing it.
    """
    config = importlib.import_module("dask.config")
    if "distributed" not in sys.modules:                  # else its import has added them already
        yaml = importlib.import_module("yaml")
        defaults = Path(importlib.util.find_spec("distributed").origin).parent / "distributed.yaml"
        config.update_defaults(yaml.safe_load(defaults.read_text()))
    settings = config.get("distributed.nanny.pre-spawn-environ")
    env = {key: os.environ.get(key, str(value)) for key, value in settings.items()
           if value is not None and key not in DROPPED_VARIABLES}
    if env.get("PYTHONHASHSEED") in (None, "0"):
        env["PYTHONHASHSEED"] = "6640"
    return env


def running():
    """True when this process's fork server is running."""
    server = importlib.import_module("multiprocessing.forkserver")._forkserver
    return getattr(server, "_forkserver_pid", None) is not None


def start(modules=()):
    """Hold the fork server for a cluster (:func:`release` it when the cluster closes); start it if needed.

    ``modules``: names the tasks need besides :data:`WORKER_MODULES`, imported by a server
    started here (with :func:`worker_environ`; this process's environment is left as it was).
    A server already running is shared as it is, and one started early is handed to this cluster
    with the hold taken for it.
    """
    with _LOCK:
        if _EARLY:
            _EARLY.pop()                                  # the early hold becomes this cluster's
        else:
            _USERS.append(1)
        if available() and not running():
            _start_server([*WORKER_MODULES, *modules], worker_environ())


def start_early():
    """Start the fork server now, for the first cluster of this command to come (see :func:`drop_early`)."""
    with _LOCK:
        if _EARLY or not available() or running():
            return
        _start_server(list(WORKER_MODULES), worker_environ())
        _EARLY.append(True)
        _USERS.append(1)


def drop_early():
    """The command is over: a server started early that no cluster took is stopped now."""
    with _LOCK:
        if not _EARLY:
            return
        _EARLY.pop()
    release()


def _start_server(preload, environ):
    """Start the fork server with ``environ`` added to this process's environment (then restored)."""
    before = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    try:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(preload)
        importlib.import_module("multiprocessing.forkserver").ensure_running()
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key)
            else:
                os.environ[key] = value


def release():
    """A cluster closed: one holder fewer; the last one stops the server (in a background thread, :func:`_stop`)."""
    with _LOCK:
        if _USERS:
            _USERS.pop()
        if not _USERS and available() and running():
            _stop()


def _stop():
    """Stop this process's fork server, and wait for it in a background thread.

    Once waited for, its CPU time and its workers' (it waited for them) count among this
    process's children, as spawned workers' did (``time npvae ...``, ``getrusage(RUSAGE_CHILDREN)``).
    The thread is not a daemon: the process waits for it before exiting, while its own work goes
    on meanwhile (the server exits once its last worker has, then takes a fraction of a second).
    While the stop waits it holds the server's lock, so no cluster could start a worker; the next
    one starts a fresh server. multiprocessing has no public call for this: ``_stop`` is the one
    its own tests use.
    """
    server = importlib.import_module("multiprocessing.forkserver")._forkserver
    threading.Thread(target=server._stop, name="npvae-fork-server-stop").start()
