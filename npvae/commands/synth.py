"""``npvae synth``: make a synthetic SDSS-like survey and write it as a preprocessed dataset file.

See docs/synthetic.md for what is simulated. ``--raw-dir`` must not already hold spectrum files
(a later ``npvae preprocess`` of the folder would mix old and new ones) unless
``--on-exists overwrite`` says to delete the old spec-*.fits files first.
"""
import time
from pathlib import Path

from ..data.files import find_spectrum_files
from ..paper import CLASSES
from ..runfolder import check_writable_folder, locked_file
from ..synthetic import make_dataset
from ..utils import NpvaeError
from .arguments import integer

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser("synth", help="generate a synthetic SDSS-like survey dataset",
                              description="Generate synthetic SDSS-like galaxy and quasar spectra, "
                                          "preprocess them and write a dataset file.")
    p.add_argument("--n", type=integer(1), default=20000, help="number of spectra (default 20000)")
    p.add_argument("--out", required=True, help="output dataset FITS file")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed (default 0)")
    p.add_argument("--raw-dir", default=None, help="also write spec-lite FITS files of the raw spectra here")
    p.add_argument("--on-exists", choices=("error", "overwrite"), default="error",
                   help="when --raw-dir already holds spectrum files: error (default) or overwrite "
                        "(delete its spec-*.fits files first)")
    p.add_argument("--no-infill", action="store_true", help="skip the iterative-PCA infill")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def run(args):
    """Generate, preprocess, write; print a one-line summary. Returns the exit code."""
    t0 = time.time()
    with locked_file(args.out, "npvae synth"):
        if args.raw_dir is not None:
            _empty_raw_dir(Path(args.raw_dir), args.on_exists)
        ds = make_dataset(args.n, rng=args.seed, path=args.out, raw_dir=args.raw_dir,
                          verbose=not args.quiet, infill=not args.no_infill)
    labels = ds.labels
    counts = ", ".join(f"{k} {int((labels == k).sum())}" for k in CLASSES + ("other",))
    print(f"wrote {args.out}: {len(ds)} spectra ({counts}) in {time.time() - t0:.1f} s")
    return 0


def _empty_raw_dir(folder, on_exists):
    """Check that ``folder`` is writable and holds no spectrum files (deleting synth's own
    spec-*.fits first with ``on_exists="overwrite"``); else NpvaeError."""
    check_writable_folder(folder, "--raw-dir")
    if on_exists == "overwrite":
        for path in folder.glob("spec-*.fits"):
            path.unlink()
    old = find_spectrum_files([folder])
    if old:
        advice = ("they are not synth's spec-*.fits files: use an empty folder" if on_exists == "overwrite"
                  else "use an empty folder, or --on-exists overwrite to delete its spec-*.fits files")
        raise NpvaeError(f"--raw-dir {folder} already holds {len(old)} spectrum files (e.g. {old[0].name}); "
                         f"`npvae preprocess {folder}` would mix them with the new ones; {advice}")
