"""The training tests run on single-threaded BLAS.

The models here have a few thousand parameters, too small for two BLAS threads to pay off on a
loaded 2-core machine. Bit-identical resume is a same-thread-count claim.
"""
import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _single_thread():
    with threadpool_limits(limits=1):
        yield
