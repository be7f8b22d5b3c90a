"""The ``npvae`` command line: one subcommand per module in :mod:`npvae.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returns an exit code). A user-facing
:class:`npvae.utils.NpvaeError` is printed as one line, without a traceback (exit code 1); a
usage error too (exit code 2); Ctrl-C exits with 130; a reader that closes stdout early
(``npvae preprocess ... | head -1``) is not an error (exit code 0): commands print their
summaries only after their files are written.

The ``npvae`` script runs :func:`console`: :func:`main`, then the objects left are frozen for
the garbage collector (``gc.freeze``), whose passes over them at the interpreter's exit (the
compiled Numba kernels, astropy's and Dask's modules) took about half a second after an
encode (benchmarks/README.md); called as a function, :func:`main` leaves the collector alone.

``npvae CMD ... --scheduler local`` starts the fork server of the local cluster's workers first,
before CMD's imports (:mod:`npvae.forkserver`): it imports Dask and npvae on the other core
while the command imports, loads its model and starts the scheduler.
"""
import argparse
import gc
import importlib
import os
import select
import sys

from . import forkserver
from ._version import __version__
from .utils import NpvaeError

# command modules, in the order `npvae --help` lists them; a missing module is skipped
COMMANDS = ["reproduce", "train", "search", "explore", "synth", "fetch_sdss", "preprocess", "encode", "redshift"]


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2); the subparsers inherit it."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser(command=None):
    """The argument parser with every command's subparser, or only ``command``'s.

    A run of one command imports only its own module: the others' imports (plotting for
    ``train``, for instance) cost a fraction of a second that ``npvae preprocess`` or a
    cluster's start does not need to wait for.
    """
    parser = _Parser(prog="npvae", description="InfoVAE for SDSS spectra in NumPy.")
    parser.add_argument("--version", action="version", version=f"npvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if command is None else [command]:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name == f"{__package__}.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def asks_for_local_cluster(argv):
    """True if the command line ``argv`` (after ``npvae``) names a command and ``--scheduler local``, without --help."""
    if not argv or argv[0] not in COMMANDS or {"-h", "--help"} & set(argv):
        return False
    scan = argparse.ArgumentParser(add_help=False)
    scan.add_argument("--scheduler")
    return scan.parse_known_args(argv[1:])[0].scheduler == "local"


def main(argv=None, *, hold_gc=False):
    """Run the command line ``argv`` (default ``sys.argv[1:]``) -> exit code.

    ``hold_gc``: the garbage collector is off while the command's modules are imported, then
    they are frozen (see :func:`console`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    early = asks_for_local_cluster(argv)
    if early:
        forkserver.start_early()                 # before the command's imports, for its cluster
    try:
        return _run(argv, hold_gc)
    finally:
        forkserver.drop_early()                  # stopped here if the command never opened its cluster


def console():
    """The ``npvae`` script: :func:`main` on ``sys.argv``, the collector held while it imports, then every
    object left frozen for a quick exit.

    The command's imports (NumPy, astropy, Numba, npvae) make a few hundred thousand objects and
    next to no garbage: the collector is off while they run, and they are frozen once done, out
    of the sight of every later collection (benchmarks/README.md).

    The work is done and every file written and closed when :func:`main` returns; the
    interpreter's exit then still runs the garbage collector over every object (``gc.freeze``
    moves them out of its sight; atexit handlers, threads and standard streams are handled as
    usual). Returns the exit code.
    """
    code = main(hold_gc=True)
    gc.freeze()
    return code


def _run(argv, hold_gc=False):
    """Parse ``argv`` and run its command -> exit code (see the module's docstring)."""
    if hold_gc:
        gc.disable()
    try:
        parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else None)
    finally:
        if hold_gc:
            gc.enable()
            gc.freeze()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()       # here, not at exit, so that a closed stdout is seen below
        return code
    except NpvaeError as err:
        print(f"npvae {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"npvae {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        return 0                 # the reader (`| head`) had enough; every output file is written


def _stdout_closed():
    """True if stdout is a pipe whose reader went away; then stdout is pointed at /dev/null so
    that Python's final flush does not fail a second time."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        events = poller.poll(0)
    except (AttributeError, OSError, ValueError):
        return False
    if not any(event & select.POLLERR for _, event in events):
        return False
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return True


if __name__ == "__main__":
    sys.exit(console())
