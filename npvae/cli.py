"""The ``npvae`` command line: one subcommand per module in :mod:`npvae.commands`.

Each command module defines ``register(subparsers)``, which adds its parser and sets
``func`` (called with the parsed arguments, returns an exit code). A user-facing
:class:`npvae.utils.NpvaeError` is printed as one line, without a traceback.
"""
import argparse
import importlib
import sys

from ._version import __version__
from .utils import NpvaeError

# command modules, in the order `npvae --help` lists them; a missing module is skipped
COMMANDS = ["reproduce", "train", "search", "synth", "fetch_sdss", "preprocess", "encode"]


def build_parser():
    """The argument parser with every command's subparser."""
    parser = argparse.ArgumentParser(prog="npvae", description="InfoVAE for SDSS spectra in NumPy.")
    parser.add_argument("--version", action="version", version=f"npvae {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{name}", __package__)
        except ModuleNotFoundError as err:
            if err.name == f"{__package__}.commands.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NpvaeError as err:
        print(f"npvae {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"npvae {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
