"""The engines' one-thread wrapper: BLAS limited to one thread inside, restored after, pools found once."""
import numpy as np
import pytest
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
