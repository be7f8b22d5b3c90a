"""``npvae synth``: make a synthetic SDSS-like survey and write it as a preprocessed dataset file.

See docs/synthetic.md for what is simulated.
"""
import time

from ..paper import CLASSES
from ..synthetic import make_dataset
from ..utils import NpvaeError

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser("synth", help="generate a synthetic SDSS-like survey dataset",
                              description="Generate synthetic SDSS-like galaxy and quasar spectra, "
                                          "preprocess them and write a dataset file.")
    p.add_argument("--n", type=int, default=20000, help="number of spectra (default 20000)")
    p.add_argument("--out", required=True, help="output dataset FITS file")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--raw-dir", default=None, help="also write spec-lite FITS files of the raw spectra here")
    p.add_argument("--no-infill", action="store_true", help="skip the iterative-PCA infill")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def run(args):
    """Generate, preprocess, write; print a one-line summary. Returns the exit code."""
    if args.n < 1:
        raise NpvaeError(f"--n {args.n}: need at least one spectrum")
    t0 = time.time()
    ds = make_dataset(args.n, rng=args.seed, path=args.out, raw_dir=args.raw_dir,
                      verbose=not args.quiet, infill=not args.no_infill)
    labels = ds.labels
    counts = ", ".join(f"{k} {int((labels == k).sum())}" for k in CLASSES + ("other",))
    print(f"wrote {args.out}: {len(ds)} spectra ({counts}) in {time.time() - t0:.1f} s")
    return 0
