"""A real Dask cluster on 127.0.0.1: ``dask scheduler`` and two ``dask worker`` processes."""
import json
import subprocess
import sys
import time

import pytest
from distributed import Client

from _children import npvae_env


def _stop(procs):
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory, request):
    """(address, worker pids) of a scheduler and two single-threaded workers, stopped afterwards."""
    folder = tmp_path_factory.mktemp("cluster")
    sched_file = folder / "scheduler.json"
    env = npvae_env()
    dask = [sys.executable, "-m", "dask"]
    procs = []
    request.addfinalizer(lambda: _stop(procs))
    log = open(folder / "cluster.log", "w")
    request.addfinalizer(log.close)
    procs.append(subprocess.Popen(dask + ["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                          "--scheduler-file", str(sched_file)],
                                  env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + 60
    while not sched_file.exists():
        if time.time() > deadline or procs[0].poll() is not None:
            pytest.fail(f"dask scheduler did not start: {(folder / 'cluster.log').read_text()[-2000:]}")
        time.sleep(0.1)
    for _ in range(2):
        procs.append(subprocess.Popen(dask + ["worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                                              "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"],
                                      env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT))
    address = json.loads(sched_file.read_text())["address"]
    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=90)
    return address, {proc.pid for proc in procs[1:]}
