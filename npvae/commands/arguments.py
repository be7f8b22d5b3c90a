"""Checked argument types: every number on the command line is range-checked when it is parsed.

``type=integer(1)`` or ``type=real(above=0)`` in ``add_argument`` makes argparse refuse
``--latent 0`` or ``--lr nan`` with a one-line message before any work starts (exit code 2).
"""
import argparse
import math
from pathlib import Path

from ..utils import NpvaeError

__all__ = ["integer", "real", "on_exists_argument", "fits_output", "output_file"]


def integer(minimum):
    """An argparse type: an integer >= ``minimum``."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def real(minimum=None, maximum=None, above=None):
    """An argparse type: a finite float with ``minimum <= x <= maximum`` and ``x > above``."""
    bounds = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else "",
              f"> {above}" if above is not None else ""]
    wanted = "a finite number " + " and ".join(b for b in bounds if b)

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if (not math.isfinite(value) or (minimum is not None and value < minimum)
                or (maximum is not None and value > maximum) or (above is not None and value <= above)):
            raise argparse.ArgumentTypeError(f"must be {wanted.strip()}, got {text}")
        return value

    parse.__name__ = wanted
    return parse


def on_exists_argument(p, choices=("error", "resume", "overwrite")):
    """Add ``--on-exists``: what to do when the output already holds a run (default: error)."""
    p.add_argument("--on-exists", choices=choices, default="error",
                   help="when the output already holds a run: error (default: refuse, naming the "
                        "options), " + ", ".join(c for c in choices if c != "error")
                        + " (docs/files.md)")


def fits_output(out, option="--out"):
    """``out`` as a Path when it can be written as a new .fits file, else a one-line NpvaeError."""
    return output_file(out, option)


def output_file(out, option="--out", suffixes=(".fits", ".fit"), what="the output must be a .fits file"):
    """``out`` as a Path when it can be written as a new file with one of ``suffixes``.

    Otherwise a one-line NpvaeError naming the option: ``what`` for a wrong suffix, or that
    ``out`` is a folder, or that its folder does not exist.
    """
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise NpvaeError(f"{option} {out}: {what}")
    if out.is_dir():
        raise NpvaeError(f"{option} {out}: is a folder")
    if not out.parent.exists():
        raise NpvaeError(f"{option} {out}: folder {out.parent} does not exist")
    return out
