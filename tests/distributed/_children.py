"""Environment for the child processes of the tests (dask workers, killed npvae commands)."""
import os
import signal
import subprocess
import time
from pathlib import Path

import npvae
from npvae.data.shards import read_manifest
from npvae.utils import NpvaeError

ROOT = Path(npvae.__file__).resolve().parent.parent       # the npvae the tests import


def npvae_env():
    """Environment for child processes: they import this same npvae, one BLAS thread each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run_until_first_shard(cmd, folder, timeout=180):
    """Start ``cmd``, SIGKILL it as soon as the manifest lists a finished shard."""
    proc = subprocess.Popen(cmd, env=npvae_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            try:
                if read_manifest(folder, complete=False)["shards"]:
                    break
            except NpvaeError:
                pass                                                    # not written yet
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    return read_manifest(folder, complete=False)
