"""``npvae preprocess``: spectrum files or folders -> one dataset file for ``npvae train --data``.

Reads spec-lite (DR8+) and spSpec (DR7) files, masks, rebins to the rest-frame grid,
normalises, labels, infills and splits (docs/data.md), then writes the dataset atomically and a
CSV of the skipped files with reasons next to it.
"""
import csv
import sys
from collections import Counter

from ..data.dataset import write_dataset
from ..data.files import find_spectrum_files, preprocess_files
from ..utils import atomic_write

__all__ = ["register", "run", "write_skipped"]


def register(subparsers):
    """Add the ``preprocess`` subcommand."""
    p = subparsers.add_parser("preprocess", help="SDSS spectrum files -> dataset file",
                              description="Preprocess SDSS spectra into the paper's 1000-pixel "
                                          "rest-frame grid and write a dataset FITS file.")
    p.add_argument("inputs", nargs="+", metavar="RAW_DIR_OR_FILES",
                   help="files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="dataset file to write (.fits)")
    p.add_argument("--sn-cap", type=float, default=50.0,
                   help="pixel S/N cap of the weights (default 50; 0 = none)")
    p.add_argument("--min-coverage", type=float, default=0.6,
                   help="minimum fraction of good rest pixels (default %(default)s)")
    p.add_argument("--no-infill", action="store_true", help="set bad pixels to 0 instead of PCA infill")
    p.add_argument("--seed", type=int, default=0, help="seed of the train/valid split (default 0)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def write_skipped(path, skipped):
    """CSV of (source, reason) rows, written atomically."""
    with atomic_write(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "reason"])
        writer.writerows(skipped)


def run(args):
    """Preprocess, print the summary, write the dataset. Exit 1 when nothing could be kept."""
    paths = find_spectrum_files(args.inputs)
    if not paths:
        print(f"npvae preprocess: no spectrum files (*.fits, *.fit) found in {' '.join(args.inputs)}",
              file=sys.stderr)
        return 1
    result = preprocess_files(paths, sn_cap=args.sn_cap or None, infill=not args.no_infill,
                              verbose=not args.quiet, rng=args.seed, min_coverage=args.min_coverage,
                              n_jobs=args.jobs)
    print(f"{len(paths)} files: " + result.summary())
    skipped_path = f"{args.out}.skipped.csv"
    if result.skipped:
        write_skipped(skipped_path, result.skipped)
        print(f"skipped files and reasons: {skipped_path}")
    if len(result.flux) == 0:
        print("npvae preprocess: no spectrum survived; no dataset written", file=sys.stderr)
        return 1
    labels = Counter(result.catalog["LABEL"])
    splits = Counter(result.catalog["SPLIT"])
    print("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())))
    print(f"split: train {splits.get('train', 0)}, valid {splits.get('valid', 0)}")
    meta = {"source": "npvae preprocess", "inputs": [str(i) for i in args.inputs],
            "sn_cap": args.sn_cap, "min_coverage": args.min_coverage, "infill": not args.no_infill,
            "seed": args.seed, "n_files": len(paths), "n_skipped": len(result.skipped)}
    write_dataset(args.out, result.flux, result.weight, result.mask, result.catalog, meta=meta)
    print(f"wrote {args.out}")
    return 0
