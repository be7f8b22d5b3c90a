"""``npvae synth``: make a synthetic SDSS-like survey and write it as a preprocessed dataset.

One dataset file, or a sharded dataset folder when ``--out`` is a folder or ``--shard-size`` is
given (made shard by shard on ``--scheduler``: see docs/scale.md). See docs/synthetic.md for
what is simulated. ``--raw-dir`` must not already hold spectrum files (a later ``npvae preprocess``
of the folder would mix old and new ones) unless ``--on-exists overwrite`` says to delete the old
spec-*.fits files first.
"""
import os
import time
from collections import Counter
from pathlib import Path

from ..data.files import find_spectrum_files
from ..data.shards import DEFAULT_SHARD_SIZE
from ..distributed import SCHEDULER_HELP, check_scheduler, open_engine, open_synth_folder, synth_shards
from ..paper import CLASSES
from ..runfolder import check_writable_folder, locked_file
from ..synthetic import make_dataset
from ..synthetic.shards import ShardPlan
from ..utils import NpvaeError
from .arguments import integer

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser("synth", help="generate a synthetic SDSS-like survey dataset",
                              description="Generate synthetic SDSS-like galaxy and quasar spectra, "
                                          "preprocess them and write a dataset file or a sharded "
                                          "dataset folder.")
    p.add_argument("--n", type=integer(1), default=20000, help="number of spectra (default 20000)")
    p.add_argument("--out", required=True,
                   help="output dataset FITS file, or a folder (existing, or ending in /) for a sharded dataset")
    p.add_argument("--seed", type=integer(0), default=0, help="random seed (default 0)")
    p.add_argument("--shard-size", type=integer(1), default=None,
                   help=f"spectra per shard; writes a sharded dataset folder (default {DEFAULT_SHARD_SIZE} "
                        "when --out is a folder)")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP + "; sharded output only")
    p.add_argument("--workers", type=integer(1), default=None,
                   help="workers of --scheduler local (default: one per core)")
    p.add_argument("--raw-dir", default=None, help="also write spec-lite FITS files of the raw spectra here")
    p.add_argument("--on-exists", choices=("error", "overwrite"), default="error",
                   help="when --raw-dir already holds spectrum files: error (default) or overwrite "
                        "(delete its spec-*.fits files first)")
    p.add_argument("--no-infill", action="store_true", help="skip the iterative-PCA infill")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)
    return p


def _is_sharded(args):
    """A sharded output: --shard-size given, or --out an existing folder or a path ending in /."""
    return args.shard_size is not None or Path(args.out).is_dir() or args.out.endswith(("/", os.sep))


def _check_sharded_args(args):
    """Every sharded-only option checked against the output kind before any work."""
    if not _is_sharded(args):
        for flag, value in (("--scheduler", args.scheduler), ("--workers", args.workers)):
            if value is not None:
                raise NpvaeError(f"{flag} needs a sharded output: give --shard-size or a folder as --out")
        return
    if args.raw_dir is not None:
        raise NpvaeError("--raw-dir is not supported with a sharded output")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise NpvaeError(f"--out {args.out}: an existing file; a sharded dataset needs a folder")
    if args.shard_size is not None and args.shard_size < 1:
        raise NpvaeError(f"--shard-size {args.shard_size}: need at least one spectrum per shard")
    check_scheduler(args.scheduler or "local", args.workers)


def run(args):
    """Generate, preprocess, write; print a one-line summary. Returns the exit code."""
    _check_sharded_args(args)
    t0 = time.time()
    if _is_sharded(args):
        plan = ShardPlan(n=args.n, shard_size=args.shard_size or DEFAULT_SHARD_SIZE, seed=args.seed,
                         infill=not args.no_infill)
        writer = open_synth_folder(args.out, plan)             # a foreign folder: error before a cluster
        with open_engine(args.scheduler or "local", args.workers) as engine:
            manifest = synth_shards(writer, plan, engine, verbose=not args.quiet)
        counts = [Counter(record["labels"]) for record in manifest["shards"]]
        counts, where = sum(counts, Counter()), f"{plan.n_shards} shard(s) on {engine.name}"
    else:
        with locked_file(args.out, "npvae synth"):
            if args.raw_dir is not None:
                _empty_raw_dir(Path(args.raw_dir), args.on_exists)
            labels = make_dataset(args.n, rng=args.seed, path=args.out, raw_dir=args.raw_dir,
                                  verbose=not args.quiet, infill=not args.no_infill).labels
        counts, where = Counter(labels.tolist()), "one file"
    summary = ", ".join(f"{k} {counts[k]}" for k in CLASSES + ("other",))
    print(f"wrote {args.out}: {sum(counts.values())} spectra ({summary}), {where}, in {time.time() - t0:.1f} s")
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
