"""The tiny reproduce run, made once per session and shared by the reproduce tests."""
import time

import pytest

from _tiny_reproduce import TINY
from npvae.reproduce import reproduce


@pytest.fixture(scope="session")
def run(tmp_path_factory):
    """(run folder, metrics, seconds) of ``reproduce(**TINY)``."""
    out = tmp_path_factory.mktemp("reproduce")
    t0 = time.perf_counter()
    metrics = reproduce(out=out, **TINY)
    return out, metrics, time.perf_counter() - t0
