"""settle_blas_workers: OpenBLAS's idle workers stop spinning, measured by the CPU time they burn."""
import json
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

from npvae.train.blas_threads import SPIN_LOG2_CYCLES

OPENBLAS = [i for i in threadpool_info() if i.get("internal_api") == "openblas"
            and i.get("threading_layer") == "pthreads"]

# In a fresh process: the CPU time the whole process uses while the main thread sleeps 60 ms
# right after a two-thread matrix product, before and after settle_blas_workers().
PROBE = """
import json, os, time
import numpy as np
from threadpoolctl import threadpool_limits
from npvae.train.blas_threads import settle_blas_workers

def idle_cpu(a):
    with threadpool_limits(2, "blas"):
        b = a @ a                                       # both threads work, then the worker idles
        c0 = time.process_time()
        time.sleep(0.06)
        return time.process_time() - c0, b

a = np.random.default_rng(0).standard_normal((512, 512)).astype(np.float32)
before, b1 = idle_cpu(a)
value = settle_blas_workers()
again = settle_blas_workers()
after, b2 = idle_cpu(a)
print(json.dumps({"before": before, "after": after, "value": value, "again": again,
                  "same": bool(np.array_equal(b1, b2)), "env": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}))
"""


def _probe(env_value=None):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    if env_value is not None:
        env["OPENBLAS_THREAD_TIMEOUT"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not OPENBLAS or (os.cpu_count() or 1) < 2, reason="needs NumPy's threaded OpenBLAS and 2 CPUs")
def test_idle_workers_stop_spinning_and_numbers_do_not_change():
    r = _probe()
    if r["before"] < 0.03:
        pytest.skip(f"OpenBLAS's idle worker did not spin here ({r['before']:.3f} CPU-s in 60 ms)")
    assert r["after"] < 0.01, r                          # it slept instead of spinning 60 ms
    assert r["value"] == r["again"] == r["env"] == str(SPIN_LOG2_CYCLES)
    assert r["same"]                                     # the product is the same bit for bit


@pytest.mark.skipif(not OPENBLAS, reason="needs NumPy's threaded OpenBLAS")
def test_a_value_the_user_set_is_kept():
    r = _probe("25")
    assert r["value"] == r["env"] == "25"


def test_outside_the_main_thread_nothing_is_restarted():
    code = ("import os, threading\nfrom npvae.train.blas_threads import settle_blas_workers\nout = []\n"
            "t = threading.Thread(target=lambda: out.append(settle_blas_workers())); t.start(); t.join()\n"
            "print(out[0], os.environ.get('OPENBLAS_THREAD_TIMEOUT'))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["None", "None"]
