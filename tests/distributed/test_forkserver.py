"""The fork server of the local clusters (npvae.forkserver): started by ``npvae CMD --scheduler local``
before the command's imports, with the environment a Dask nanny would have given it.

Anchors: Dask's own ``Nanny`` (the variables it sets before it starts a worker), the worker
processes themselves (their parent, their environment) and ``sys.modules`` of a fresh process.
"""
import json
import os
import subprocess
import sys

import pytest
from _children import npvae_env

from npvae import forkserver
from npvae.cli import asks_for_local_cluster
from npvae.distributed import engines


@pytest.mark.parametrize("argv, asks", [
    (["encode", "S", "--model", "R", "--out", "x.fits", "--scheduler", "local"], True),
    (["preprocess", "RAW", "--scheduler=local", "--out", "D/"], True),
    (["synth", "--n", "9", "--out", "D/", "--scheduler", "tcp://127.0.0.1:8786"], False),
    (["encode", "S", "--model", "R", "--out", "x.fits"], False),                 # in-process by default
    (["encode", "--scheduler", "local", "--help"], False),
    (["--scheduler", "local"], False),                                           # no command
    (["nosuchcommand", "--scheduler", "local"], False),
])
def test_the_command_line_asks_for_a_local_cluster(argv, asks):
    assert asks_for_local_cluster(argv) is asks


@pytest.mark.parametrize("environ", [{}, {"OMP_NUM_THREADS": "3"}, {"PYTHONHASHSEED": "0"}, {"PYTHONHASHSEED": "12"}])
def test_worker_environ_is_what_a_dask_nanny_sets_before_a_worker(monkeypatch, environ):
    """Less MALLOC_TRIM_THRESHOLD_, which npvae's clusters drop (their nannies do not set it either)."""
    distributed = pytest.importorskip("distributed")
    for key in ("OMP_NUM_THREADS", "PYTHONHASHSEED"):
        monkeypatch.delenv(key, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    nanny = distributed.Nanny("tcp://127.0.0.1:8786", nthreads=1)
    expected = {k: v for k, v in nanny.pre_spawn_env.items() if k not in forkserver.DROPPED_VARIABLES}
    assert forkserver.worker_environ() == expected
    with engines._local_worker_config():                 # what npvae's own nannies get
        assert distributed.Nanny("tcp://127.0.0.1:8786", nthreads=1).pre_spawn_env == expected


PROBE = """
import gc, json, os, sys
import npvae.cli as cli
from npvae import forkserver

KEYS = ["PYTHONHASHSEED", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_"]
seen = {}
build_parser = cli.build_parser


def server_pid():
    return __import__("multiprocessing.forkserver").forkserver._forkserver._forkserver_pid


def probe(command=None):
    seen.update(server=server_pid(), imported=f"npvae.commands.{command}" in sys.modules,
                client_env=[os.environ.get(k) for k in KEYS])
    parser = build_parser(command)
    from npvae.distributed import engines               # imported by the command module by now
    init = engines.DaskEngine.__init__

    def spy(self, client, name):
        init(self, client, name)
        seen["parents"] = sorted(client.run(os.getppid).values())
        seen["worker_env"] = list(client.run(lambda: [os.environ.get(k) for k in KEYS]).values())
        seen["worker_gc"] = list(client.run(lambda: [gc.isenabled(), gc.get_freeze_count()]).values())
    engines.DaskEngine.__init__ = spy
    return parser


if __name__ == "__main__":
    cli.build_parser = probe
    try:
        seen["code"] = cli.main(sys.argv[1:])
    except SystemExit as exit:                            # a usage error
        seen["code"] = exit.code
    for thread in __import__("threading").enumerate():   # the server's stop, if one was started
        if thread.name == "npvae-fork-server-stop":
            thread.join()
    seen["running_after"] = forkserver.running()
    print(json.dumps(seen))
"""


def _probe(tmp_path, *argv):
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    env = {k: v for k, v in npvae_env().items() if k not in ("OMP_NUM_THREADS", "PYTHONHASHSEED")}
    done = subprocess.run([sys.executable, str(script), *argv], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not forkserver.available(), reason="no fork server on this system")
def test_the_server_starts_before_the_command_imports_and_its_workers_are_forked_from_it(tmp_path):
    pytest.importorskip("distributed")
    seen = _probe(tmp_path, "synth", "--n", "12", "--shard-size", "6", "--out", str(tmp_path / "survey") + "/",
                  "--scheduler", "local", "--workers", "1", "--quiet")
    assert seen["code"] == 0
    assert seen["server"] is not None and not seen["imported"]       # up before npvae.commands.synth
    assert seen["parents"] == [seen["server"]]                       # the worker: a fork of that server
    assert seen["client_env"] == [None, None, "1", None]             # this process's variables untouched
    assert seen["worker_env"] == [["6640", "1", "1", None]]          # the nanny's, without the malloc trim
    [(collecting, frozen)] = seen["worker_gc"]                       # npvae.workerboot: the server's imports
    assert collecting and frozen > 100_000                           # frozen, the collector on again
    assert not seen["running_after"]                                  # stopped with the cluster


@pytest.mark.skipif(not forkserver.available(), reason="no fork server on this system")
def test_a_command_that_fails_before_its_cluster_leaves_no_server(tmp_path):
    seen = _probe(tmp_path, "synth", "--n", "0", "--out", str(tmp_path / "survey") + "/", "--scheduler", "local")
    assert seen["code"] != 0 and "parents" not in seen
    assert seen["server"] is not None and not seen["running_after"]
