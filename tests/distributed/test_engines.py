"""The engines' one-thread wrapper: BLAS limited to one thread inside, restored after, pools found once."""
import numpy as np
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
