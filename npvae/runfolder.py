"""Run folders owned by one run: a lock file, checks before the work, no debris, no silent overwrite.

A command that writes into a folder (``npvae train --out``, ``npvae search --out``,
``npvae reproduce --out``) holds :func:`locked_folder` for its whole run; a command that writes
one file (``npvae synth --out``, ``npvae preprocess --out``) holds :func:`locked_file`. Both

* check the path up front: the folder is a folder (not a file), can be created and written to;
* take a lock file holding the owner's pid, host and command. A second run into the same place
  is refused while the owner lives; a lock left by a process that died (same host, pid gone or
  reused by a newer process) is taken over;
* remove the temporary files that a killed run left behind (:func:`npvae.utils.is_atomic_temp`:
  ``.NAME.<random>.tmpSUFFIX``, from tempfile.mkstemp); no live run can own them, because we
  hold the lock.

:func:`existing_run_policy` decides what a new run does with a folder that already holds one
(``--on-exists error|resume|overwrite``). What this promises: docs/files.md.
"""
import contextlib
import json
import os
import socket
import sys
import tempfile
from pathlib import Path

from .utils import NpvaeError, is_atomic_temp

__all__ = ["locked_folder", "locked_file", "check_writable_folder", "remove_stale_temporaries",
           "existing_run_policy", "ON_EXISTS", "LOCK_NAME"]

LOCK_NAME = ".npvae.lock"                    # inside a run folder
ON_EXISTS = ("error", "resume", "overwrite")  # what to do with a folder that holds a run


def check_writable_folder(folder, what="--out"):
    """Create ``folder`` if needed and check that files can be made in it; else NpvaeError."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NpvaeError(f"{what} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise NpvaeError(f"{what} {folder}: cannot write there ({err.strerror or err})") from err
    return folder


@contextlib.contextmanager
def locked_folder(folder, command, what="--out"):
    """Hold the lock of run folder ``folder`` (created if needed) for the ``with`` block.

    Checks the folder up front, refuses a folder locked by a live run, takes over a stale lock,
    and removes the temporary files of killed runs (in the folder and its subfolders, one level
    down: ``models/``, ``results/``, ``figures/`` of a reproduce run). A folder
    it created is removed again if the run leaves it empty (a run refused or failed at once).
    """
    created = not Path(folder).exists()
    folder = check_writable_folder(folder, what)
    try:
        with _lock(folder / LOCK_NAME, command, f"{what} {folder}"):
            remove_stale_temporaries(folder, recursive=True)
            yield folder
    finally:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()                 # only succeeds when empty


@contextlib.contextmanager
def locked_file(path, command, what="--out", also=()):
    """Hold a lock for writing the single file ``path`` (lock ``.NAME.lock`` beside it); the
    temporaries of ``path`` and of the files ``also`` beside it are cleaned up."""
    path = Path(path)
    if path.is_dir():
        raise NpvaeError(f"{what} {path}: is a folder, not a file name")
    check_writable_folder(path.parent, f"{what} {path}: the folder")
    with _lock(path.parent / f".{path.name}.lock", command, f"{what} {path}"):
        for target in (path.name, *(Path(p).name for p in also)):
            remove_stale_temporaries(path.parent, target=target)
        yield path


def remove_stale_temporaries(folder, target=None, recursive=False):
    """Delete :func:`npvae.utils.atomic_write` temporaries in ``folder`` (of ``target`` only if
    given); returns the paths removed. Call it only while holding the folder's lock."""
    removed = []
    patterns = (".*", "*/.*") if recursive else (".*",)     # the folder and its subfolders, no deeper
    for path in (p for pattern in patterns for p in Path(folder).glob(pattern)):
        if path.is_file() and is_atomic_temp(path.name, target):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def existing_run_policy(policy, outputs, checkpoint, folder):
    """What a new run into ``folder`` does: "fresh" or "resume"; NpvaeError when refused.

    ``outputs`` are the files a run leaves (the first one only when it finished), ``checkpoint``
    the file an interrupted one leaves. ``policy`` is "error" (refuse a folder holding a run), "resume" (continue from the
    checkpoint; with none yet, start fresh with a notice) or "overwrite" (start fresh; the
    caller removes the old outputs once its inputs are checked).
    """
    if policy not in ON_EXISTS:
        raise NpvaeError(f"--on-exists must be one of {', '.join(ON_EXISTS)}, not {policy!r}")
    checkpoint = Path(checkpoint)
    found = [Path(p).name for p in outputs if Path(p).exists()]
    if policy == "overwrite":
        return "fresh"
    if policy == "resume":
        if checkpoint.exists():
            return "resume"
        if found:
            raise NpvaeError(f"{folder} holds {', '.join(found)} but no checkpoint {checkpoint} to "
                             f"resume from; start over with --on-exists overwrite")
        print(f"npvae: no checkpoint {checkpoint} yet; starting a fresh run", file=sys.stderr)
        return "fresh"
    if found or checkpoint.exists():
        kind = "a finished run" if Path(outputs[0]).exists() else "an interrupted run"
        files = ", ".join(found + ([checkpoint.name] if checkpoint.exists() else []))
        raise NpvaeError(f"{folder} already holds {kind} ({files}); continue it with --resume "
                         f"or start over with --on-exists overwrite")
    return "fresh"


# ------------------------------------------------------------------ the lock file
@contextlib.contextmanager
def _lock(lock_path, command, where):
    """Create ``lock_path`` atomically with our pid, host and command; remove it at the end."""
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
             "start": _process_start(os.getpid())}
    for _ in range(3):
        if _try_create(lock_path, owner):
            break
        holder = _read_lock(lock_path)
        if holder is not None and _alive(holder):
            raise NpvaeError(f"{where} is in use by {holder.get('command', 'another run')} (pid "
                             f"{holder.get('pid')} on {holder.get('host')}); wait for it to finish, "
                             f"or delete {lock_path} if that run is gone")
        with contextlib.suppress(FileNotFoundError):     # stale: its owner died
            lock_path.unlink()
    else:
        raise NpvaeError(f"{where}: could not take the lock {lock_path}")
    try:
        yield
    finally:
        if (_read_lock(lock_path) or {}).get("pid") == owner["pid"]:
            with contextlib.suppress(OSError):
                lock_path.unlink()


def _try_create(lock_path, owner):
    """Write the lock with its content in one step (a hard link of a complete file); False if taken."""
    fd, tmp = tempfile.mkstemp(prefix=f"{lock_path.name}.", suffix=".new", dir=lock_path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(owner, fh)
        os.link(tmp, lock_path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def _read_lock(lock_path):
    """The lock's owner dict, or None if it is gone or unreadable (treated as stale)."""
    try:
        owner = json.loads(Path(lock_path).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def _alive(owner):
    """Is the lock's owner running? Another host's owner is assumed alive (we cannot tell)."""
    if owner.get("host") != socket.gethostname():
        return True
    pid = owner.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass                                   # exists, owned by another user
    fields = _proc_stat(pid)
    if fields is None:
        return True
    if fields[0] in ("Z", "X"):
        return False                           # a zombie: dead, not yet reaped
    return owner.get("start") in (None, int(fields[19]))   # else the pid was reused


def _proc_stat(pid):
    """The fields of /proc/PID/stat after the command name (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def _process_start(pid):
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None."""
    fields = _proc_stat(pid)
    return None if fields is None else int(fields[19])
