"""The engines: the one-thread wrapper (BLAS limited to one thread inside, restored after, pools found
once) and the local cluster's workers (the Dask settings, forked from a fork server)."""
import resource
import subprocess
import sys

import numpy as np
import pytest
from _children import npvae_env
from threadpoolctl import threadpool_info

from npvae.distributed import engines


def _blas_threads():
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def test_one_thread_limits_blas_inside_and_restores_it_after():
    before = _blas_threads()
    inside = engines.one_thread(_blas_threads)
    assert inside and all(n == 1 for n in inside)
    assert _blas_threads() == before
    assert len(engines._POOLS) == 1                       # found once, reused by the next call
    engines.one_thread(np.dot, np.ones(3), np.ones(3))
    assert len(engines._POOLS) == 1


def test_local_workers_start_without_the_malloc_trim_setting_and_the_stack_profiler():
    dask = pytest.importorskip("dask")
    with engines._local_worker_config():
        assert "MALLOC_TRIM_THRESHOLD_" not in dask.config.get("distributed.nanny.pre-spawn-environ")
        assert dask.config.get("distributed.worker.profile.enabled") is False
    assert dask.config.get("distributed.worker.profile.enabled") is not False     # only for that cluster


def _wakeups(server):
    """The periods (ms) of a Dask server's event-loop timer, system monitor and memory watch (if it has one)."""
    return {name: server.periodic_callbacks[name].callback_time for name in ("tick", "monitor", "memory_monitor")
            if name in server.periodic_callbacks}


def test_every_server_of_a_local_cluster_wakes_up_seldom():
    """The scheduler, the nanny and the worker (another process) all got the cluster's intervals:
    the event loop timed every 1 s and the process recorded every 5 s (Dask: 20 ms and 0.5 s);
    the nanny and the worker check the worker's memory every 0.5 s (Dask: 0.1 s)."""
    pytest.importorskip("distributed")
    with engines.open_engine("local", 1) as engine:
        worker, = engine.client.run(lambda dask_worker: _wakeups(dask_worker)).values()
        scheduler = engine.client.run_on_scheduler(lambda dask_scheduler: _wakeups(dask_scheduler))
        nanny, = [_wakeups(nanny) for nanny in engine.client.cluster.workers.values()]
    assert scheduler == {"tick": 1000, "monitor": 5000}
    assert worker == nanny == {"tick": 1000, "monitor": 5000, "memory_monitor": 500}


WORKER_PROBE = """
import os, resource, sys, time


def burn(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


if __name__ == "__main__":                 # each worker imports this file too: npvae only here
    from npvae.distributed import open_engine
    with open_engine("local", 1, preload=("xml.dom.minidom",)) as engine:
        probe = "(__import__('os').getppid(), [m in __import__('sys').modules for m in sys_argv])"
        (parent, loaded), = engine.client.run(eval, probe.replace("sys_argv", repr(sys.argv[1:]))).values()
        pids = engine.client.run(os.getpid)
        with open_engine("local", 1):                # a second cluster, closed first: the server stays
            pass
        engine.client.submit(burn, 1.0).result()
        server = __import__("multiprocessing.forkserver").forkserver._forkserver
        same_worker = engine.client.run(os.getpid) == pids and not server._lock.locked()   # no stop pending
    me = resource.getrusage(resource.RUSAGE_SELF)
    print(parent != os.getpid(), *loaded, same_worker, me.ru_utime + me.ru_stime)
"""


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_local_workers_are_forked_from_a_server_that_imported_npvae_and_the_preload(tmp_path):
    """In a fresh process: its worker's parent is the fork server, not the process itself; npvae and
    the preloaded module are imported before any task; a second cluster opened and closed meanwhile
    leaves the server and the first cluster's worker alone; and the worker's CPU time (a task
    burning one CPU-second) is counted with the process's children, as a spawned worker's was."""
    pytest.importorskip("distributed")
    script = tmp_path / "probe.py"
    script.write_text(WORKER_PROBE)
    before = _children_cpu()
    out = subprocess.run([sys.executable, str(script), "npvae.apply.spectra", "xml.dom.minidom", "xml.sax.saxutils"],
                         env=npvae_env(), capture_output=True, text=True, timeout=300, cwd=tmp_path)
    children = _children_cpu() - before                          # the probe, its fork server and worker
    assert out.returncode == 0, out.stderr[-2000:]
    *flags, probe_cpu = out.stdout.split()
    assert flags == ["True", "True", "True", "False", "True"]    # the fourth: never imported
    assert children - float(probe_cpu) >= 1.0                    # the worker's burn among them
