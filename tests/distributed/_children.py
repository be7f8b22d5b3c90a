"""Environment for the child processes of the tests (dask workers, killed npvae commands)."""
import os
from pathlib import Path

import npvae

ROOT = Path(npvae.__file__).resolve().parent.parent       # the npvae the tests import


def npvae_env():
    """Environment for child processes: they import this same npvae, one BLAS thread each."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    return env
