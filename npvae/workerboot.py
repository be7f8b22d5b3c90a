"""What a local cluster's fork server imports before it forks the workers, the garbage collector held.

The one module of :data:`npvae.forkserver.WORKER_MODULES`: Dask's worker, every npvae module
an engine task runs, and the preload of the tasks' Numba kernels (:mod:`npvae.apply.preload`).
These imports make about 300,000 objects and next to no garbage, and the collector's passes
over them took 0.3-0.45 s of the server's start (benchmarks/README.md); so it is off while they
run. Then every object is frozen (``gc.freeze``): a worker forked from the server never walks
them in its own collections, and their memory stays shared with the server's (a pass writes to
each object it visits, which copies its page into the worker).
"""
import gc

gc.disable()
import distributed  # noqa: E402,F401  (Dask's worker, as the nanny imports it)

from . import distributed as _engines  # noqa: E402,F401
from .apply import preload  # noqa: E402,F401  (imports npvae.apply and loads the tasks' kernels)

gc.enable()
gc.freeze()
