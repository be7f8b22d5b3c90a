"""``npvae preprocess``: spectrum files or folders -> one dataset file for ``npvae train --data``.

Reads spec-lite (DR8+) and spSpec (DR7) files, masks, rebins to the rest-frame grid,
normalises, labels, infills and splits (docs/data.md), then writes the dataset atomically and a
CSV of the skipped files with reasons next to it. With ``--model MODEL`` the trained model's
preprocessing recipe is followed (S/N cap, coverage, mask dilation) and each spectrum's bad
pixels are filled from the model's training basis, alone; without it the infill is the PCA of
the files themselves, which needs more spectra than eigenvectors: for fewer, the masked pixels
stay 0 and the dataset's metadata says ``"infill": false`` (docs/encode.md).

When ``--out`` is a folder (existing, or ending in /) or ``--shard-size`` is given, the output
is a sharded dataset folder instead, made one batch of files per task on ``--scheduler`` (default
``none``: in this process), resumable after a kill; its infill basis is the model's or is fitted
once on a seeded sample of the files (docs/scale.md).
"""
import os
import csv
import sys
from collections import Counter
from pathlib import Path

from ..data.dataset import write_dataset
from ..data.files import find_spectrum_files, preprocess_files
from ..data.shards import DEFAULT_SHARD_SIZE
from ..data.preprocess import MIN_COVERAGE, summarise
from ..paper import INFILL_EIGENVECTORS, SN_CAP
from ..distributed import (SCHEDULER_HELP, check_scheduler, open_engine, open_preprocess_folder, preprocess_plan,
                           preprocess_shards)
from ..runfolder import locked_file
from ..train import load
from ..utils import NpvaeError, atomic_write
from .arguments import integer, real

__all__ = ["register", "run", "write_skipped"]


def register(subparsers):
    """Add the ``preprocess`` subcommand."""
    p = subparsers.add_parser("preprocess", help="SDSS spectrum files -> dataset file",
                              description="Preprocess SDSS spectra into the paper's 1000-pixel "
                                          "rest-frame grid and write a dataset FITS file.")
    p.add_argument("inputs", nargs="+", metavar="RAW_DIR_OR_FILES",
                   help="files or folders (searched recursively)")
    p.add_argument("--out", required=True,
                   help="dataset file to write (.fits), or a folder (existing, or ending in /) for a sharded dataset")
    p.add_argument("--shard-size", type=integer(1), default=None,
                   help=f"files per shard; writes a sharded dataset folder (default {DEFAULT_SHARD_SIZE} "
                        "when --out is a folder)")
    p.add_argument("--scheduler", default=None,
                   help=SCHEDULER_HELP.replace("; default", "") + "; sharded output only (default: none)")
    p.add_argument("--workers", type=integer(1), default=None, help="workers of --scheduler local (default: one per core)")
    p.add_argument("--sn-cap", type=real(minimum=0), default=None,
                   help=f"pixel S/N cap of the weights (default {SN_CAP:g} or the model's; 0 = none)")
    p.add_argument("--min-coverage", type=real(0, 1), default=None,
                   help=f"minimum fraction of good rest pixels (default {MIN_COVERAGE} or the model's)")
    p.add_argument("--no-infill", action="store_true", help="set bad pixels to 0 instead of PCA infill")
    p.add_argument("--model", default=None,
                   help="trained model file or folder: follow its preprocessing and fill bad pixels "
                        "from its training basis, spectrum by spectrum")
    p.add_argument("--seed", type=integer(0), default=0, help="seed of the train/valid split (default 0)")
    p.add_argument("--jobs", type=integer(1), default=2,
                   help="worker processes for a one-file output (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def write_skipped(path, skipped):
    """CSV of (source, reason) rows, written atomically."""
    with atomic_write(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "reason"])
        writer.writerows(skipped)


def report_skipped(out, n_done, skipped, verb):
    """Print the one-line summary of a command over spectra; list the skipped ones in OUT.skipped.csv."""
    print(summarise(n_done, skipped, verb=verb))
    if skipped:
        write_skipped(f"{out}.skipped.csv", skipped)
        print(f"skipped spectra and reasons: {out}.skipped.csv")


def _is_sharded(args):
    """A sharded output: --shard-size given, or --out an existing folder or a path ending in /."""
    return args.shard_size is not None or Path(args.out).is_dir() or args.out.endswith(("/", os.sep))


def run(args):
    """Preprocess, write the dataset, then print the summary. Exit 1 when nothing could be kept."""
    if not _is_sharded(args):
        for flag, value in (("--scheduler", args.scheduler), ("--workers", args.workers)):
            if value is not None:
                raise NpvaeError(f"{flag} needs a sharded output: give --shard-size or a folder as --out")
    else:
        check_scheduler(args.scheduler or "none", args.workers)
    sn_cap, min_coverage, dilate, basis = _settings(args)       # the model is read before any work
    if _is_sharded(args):
        return _run_sharded(args, (sn_cap, min_coverage, dilate), basis)
    with locked_file(args.out, "npvae preprocess", also=(f"{args.out}.skipped.csv",)):
        paths = find_spectrum_files(args.inputs)
        if not paths:
            print(f"npvae preprocess: no spectrum files (*.fits, *.fit) found in {' '.join(args.inputs)}",
                  file=sys.stderr)
            return 1
        result = preprocess_files(paths, sn_cap=sn_cap, infill=not args.no_infill, verbose=not args.quiet,
                                  rng=args.seed, min_coverage=min_coverage, dilate=dilate, n_jobs=args.jobs,
                                  basis=basis)
        skipped_path = f"{args.out}.skipped.csv"
        if result.skipped:
            write_skipped(skipped_path, result.skipped)
        if len(result.flux):
            meta = {"source": "npvae preprocess", "inputs": [str(i) for i in args.inputs],
                    "sn_cap": sn_cap or 0, "min_coverage": min_coverage, "dilate": dilate,
                    "infill": result.infill != "none", "infill_method": result.infill, "model": args.model,
                    "seed": args.seed, "n_files": len(paths), "n_skipped": len(result.skipped)}
            write_dataset(args.out, result.flux, result.weight, result.mask, result.catalog, meta=meta)
    print(f"{len(paths)} files: " + result.summary())        # summaries only once the files exist
    if not args.no_infill and result.infill == "none" and result.mask.any():
        print(f"note: {len(result.flux)} spectra are too few for a {INFILL_EIGENVECTORS}-eigenvector "
              "PCA infill; their bad pixels are 0 (metadata infill: false). Use --model MODEL to fill "
              "them from a trained model's basis.")
    if result.skipped:
        print(f"skipped files and reasons: {skipped_path}")
    if len(result.flux) == 0:
        print("npvae preprocess: no spectrum survived; no dataset written", file=sys.stderr)
        return 1
    labels = Counter(result.catalog["LABEL"])
    splits = Counter(result.catalog["SPLIT"])
    print("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())))
    print(f"split: train {splits.get('train', 0)}, valid {splits.get('valid', 0)}")
    print(f"wrote {args.out}")
    return 0


def _run_sharded(args, settings, basis):
    """``--out DIR``: the files in shards on the engine; prints the same summary as one file."""
    paths = find_spectrum_files(args.inputs, resolve=True)       # workers may start elsewhere
    if not paths:
        print(f"npvae preprocess: no spectrum files (*.fits, *.fit) found in {' '.join(args.inputs)}",
              file=sys.stderr)
        return 1
    options = dict(zip(("sn_cap", "min_coverage", "dilate"), settings))
    infill = not args.no_infill
    plan = preprocess_plan(paths, args.shard_size or DEFAULT_SHARD_SIZE, args.seed, options, infill, args.model)
    meta = {"source": "npvae preprocess", "inputs": [str(i) for i in args.inputs], **options,
            "sn_cap": options["sn_cap"] or 0, "infill": infill,
            "infill_method": ("model basis" if basis is not None else "sample basis") if infill else "none",
            "model": args.model, "seed": args.seed, "n_files": len(paths)}
    writer = open_preprocess_folder(args.out, plan, meta)        # a foreign folder: error before a cluster
    with open_engine(args.scheduler or "none", args.workers) as engine:
        manifest = preprocess_shards(writer, paths, plan, engine, basis=basis if infill else None,
                                     verbose=not args.quiet)
    records = manifest["shards"]
    skipped = [tuple(s) for r in records for s in r["skipped"]]
    if skipped:
        write_skipped(Path(args.out) / "skipped.csv", skipped)
    labels = sum((Counter(r["labels"]) for r in records), Counter())
    splits = sum((Counter(r["splits"]) for r in records), Counter())
    print(f"{len(paths)} files: kept {sum(r['rows'] for r in records)}, skipped {len(skipped)}"
          + (f" (reasons: {Path(args.out) / 'skipped.csv'})" if skipped else ""))
    print("labels: " + ", ".join(f"{k} {v}" for k, v in sorted(labels.items())))
    print(f"split: train {splits.get('train', 0)}, valid {splits.get('valid', 0)}")
    print(f"wrote {args.out}: {len(records)} shard(s) on {engine.name}")
    return 0


def _settings(args):
    """(sn_cap, min_coverage, dilate, basis): the options, or the --model's recipe (must agree)."""
    if args.model is None:
        sn_cap = SN_CAP if args.sn_cap is None else args.sn_cap
        return sn_cap or None, MIN_COVERAGE if args.min_coverage is None else args.min_coverage, 2, None
    path = args.model
    recipe = load(path).preprocessing
    if recipe is None:
        raise NpvaeError(f"--model {path}: the model file carries no preprocessing recipe")
    for option, given, theirs in (("--sn-cap", args.sn_cap, recipe.sn_cap or 0),
                                  ("--min-coverage", args.min_coverage, recipe.min_coverage)):
        if given is not None and given != theirs:
            raise NpvaeError(f"{option} {given:g} conflicts with the model's {theirs:g} ({path})")
    return recipe.sn_cap, recipe.min_coverage, recipe.dilate, (recipe.infill_mean, recipe.infill_vectors)
