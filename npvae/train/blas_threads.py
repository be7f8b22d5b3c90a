"""How long OpenBLAS's idle worker threads spin before they sleep, set for the training loop.

OpenBLAS (NumPy's BLAS) splits a matrix product over its worker threads; after each product a
worker busy-waits for the next one for 2^28 CPU cycles (about 0.1 s) before it sleeps. A training
step of the paper's model has 20 small products with single-threaded Numba passes in between
(the loss kernels, the Adam pass over 1.5 million parameters), so with the default the second
core never rests: on the 2-core virtual machines we measure on, whole runs then fell into a slow
mode, the single-threaded Adam pass 3-6 times slower, the step 1.7-2 times slower
(benchmarks/README.md, "The slow mode: OpenBLAS's spinning workers"). With a short spin (2^21
cycles, about 0.6 ms: longer than the gaps between the products of one step, shorter than the
Adam pass) the workers wait out the gaps inside a step and sleep through the rest.

The spin time is read by OpenBLAS from the environment variable ``OPENBLAS_THREAD_TIMEOUT``
(2^value cycles) when its threads start, normally when NumPy is first imported.
:func:`settle_blas_workers` sets it for the running process and restarts OpenBLAS's threads so
that they read it; it is called once per process by the training loop. It changes no number:
only when idle threads sleep. A value the user set is kept. Nothing is done when NumPy's BLAS is
not OpenBLAS with its own threads (MKL, BLIS, an OpenMP build).
"""
import ctypes
import os
import threading

from threadpoolctl import threadpool_info

__all__ = ["settle_blas_workers", "SPIN_LOG2_CYCLES"]

SPIN_LOG2_CYCLES = 21          # a worker spins 2^21 cycles (about 0.6 ms) after a product, then sleeps
_ENV = "OPENBLAS_THREAD_TIMEOUT"
_done = threading.Lock()
_state = {"settled": False}


def settle_blas_workers():
    """Make OpenBLAS's idle workers sleep after ``2^SPIN_LOG2_CYCLES`` cycles (once per process).

    Returns the value of ``OPENBLAS_THREAD_TIMEOUT`` now in force, or None when nothing applies
    (no threaded OpenBLAS loaded, or not called from the main thread). It restarts OpenBLAS's
    thread pool, which must not happen while another thread is inside a BLAS call: so it acts
    only in the process's main thread (a fit in a Dask worker's task thread leaves the pool alone);
    the training loop calls it before its first step.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    with _done:
        if _state["settled"]:
            return os.environ.get(_ENV)
        _state["settled"] = True
        libs = _threaded_openblas()
        if not libs:
            return None
        if _ENV in os.environ:                          # the user's choice, already read by OpenBLAS
            return os.environ[_ENV]
        os.environ[_ENV] = str(SPIN_LOG2_CYCLES)        # also for child processes
        for lib in libs:                                # NumPy's and SciPy's each have their own
            lib.openblas_read_env()                     # OpenBLAS re-reads its environment settings,
            lib.blas_thread_shutdown_()                 # stops its threads ...
            lib.blas_thread_init()                      # ... and starts them again, reading it
        return os.environ[_ENV]


def _threaded_openblas():
    """ctypes handles of the loaded OpenBLAS libraries that run their own pthreads (may be [])."""
    libs = []
    for info in threadpool_info():
        if info.get("internal_api") == "openblas" and info.get("threading_layer") == "pthreads":
            try:
                lib = ctypes.CDLL(info["filepath"])
                lib.openblas_read_env, lib.blas_thread_shutdown_, lib.blas_thread_init   # exported by OpenBLAS
            except (OSError, AttributeError):
                continue
            libs.append(lib)
    return libs
