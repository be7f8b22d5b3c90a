"""Small shared helpers: atomic file output, random generators, progress bars, the data folder.

Every module of npvae that writes a file goes through :func:`atomic_write`, every function that
draws random numbers takes a generator through :func:`as_generator`, and every long loop shows
progress through :func:`progress`. Look here before writing a helper of your own.
"""
import contextlib
import ctypes
import os
import re
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["atomic_write", "as_generator", "progress", "get_data_home", "default_threads", "NpvaeError",
           "NotFittedError", "as_count", "is_atomic_temp", "available_memory",
           "worker_pool", "die_with_parent"]


class NpvaeError(ValueError):
    """A user-facing error: bad input, bad file, bad option. The message says what and where."""


class NotFittedError(NpvaeError, AttributeError):
    """A model or estimator used before ``fit`` or ``load`` (scikit-learn's NotFittedError bases)."""


def as_count(value, name, minimum=1):
    """``value`` as a Python int >= ``minimum``; NpvaeError for 2.5, True, "3" or a too small value."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise NpvaeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise NpvaeError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


@contextlib.contextmanager
def atomic_write(path, suffix=None):
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or Ctrl-C inside the block leaves ``path`` as it was (the old file or nothing),
    never half written. The temporary file is removed on failure.

    Examples
    --------
    >>> with atomic_write("model.npz") as tmp:      # doctest: +SKIP
    ...     np.savez(tmp, a=1)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f"{TEMP_MARK}{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _default_file_mode())      # mkstemp makes 0600; give the usual umask mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


TEMP_MARK = ".tmp"      # atomic_write's temporary files: .NAME.<random>.tmpSUFFIX
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(\.[A-Za-z0-9]+)*$")


def is_atomic_temp(name, target=None):
    """True if the file name ``name`` is one of :func:`atomic_write`'s temporary files
    (of the file named ``target`` when given). A killed process leaves them behind."""
    match = _TEMP_NAME.match(name)
    return bool(match) and (target is None or match["target"] == target)


def _default_file_mode():
    """0666 minus the process umask: the mode ``open(path, "w")`` would give a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def available_memory():
    """Bytes of memory available to a new allocation (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def worker_pool(n_jobs, mp_context=None):
    """A ProcessPoolExecutor whose workers die with this process (see :func:`die_with_parent`)."""
    return ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp_context, initializer=die_with_parent,
                               initargs=(os.getpid(),))


def die_with_parent(parent_pid=None):
    """Worker initializer: end this worker process when its parent dies, even by SIGKILL.

    On Linux the kernel does it (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); elsewhere a daemon
    thread checks once a second whether the parent is still there. Without this, killing
    ``npvae preprocess`` would leave its idle workers running.
    """
    parent_pid = os.getppid() if parent_pid is None else parent_pid
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:          # the parent died before we got here
        os._exit(1)


_PR_SET_PDEATHSIG = 1      # from <linux/prctl.h>


def _watch_parent(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(1)


def default_threads():
    """Threads for the NumPy-heavy thread pools (they drop the GIL): the cores, at most 4."""
    return min(4, os.cpu_count() or 1)


def as_generator(rng=None):
    """Return an ``np.random.Generator``: a Generator as is, an int seed or None -> ``default_rng``."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise NpvaeError(f"rng must be a numpy Generator, an int seed or None, not {type(rng).__name__}")


def progress(iterable=None, *, total=None, desc=None, verbose=True, unit="it", leave=True):
    """A tqdm progress bar on stderr, or a silent pass-through when ``verbose`` is False."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, disable=not verbose, unit=unit, leave=leave,
                file=sys.stderr, dynamic_ncols=True)


def get_data_home(data_home=None):
    """The data folder: ``data_home`` if given, else ``$NPVAE_DATA``, else ``~/npvae_data``.

    The folder is created if missing (astroML's convention).
    """
    if data_home is None:
        data_home = os.environ.get("NPVAE_DATA", os.path.join("~", "npvae_data"))
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
