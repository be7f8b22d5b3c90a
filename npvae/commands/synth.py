"""``npvae synth``: make a synthetic SDSS-like survey and write it as a preprocessed dataset.

One dataset file, or a sharded dataset folder when ``--out`` is a folder or ``--shard-size`` is
given (made shard by shard on ``--scheduler``: see docs/scale.md). See docs/synthetic.md for
what is simulated.
"""
import os
import time
from collections import Counter
from pathlib import Path

from ..data.shards import DEFAULT_SHARD_SIZE
from ..distributed import SCHEDULER_HELP, check_scheduler, open_engine, open_synth_folder, synth_shards
from ..paper import CLASSES
from ..synthetic import make_dataset
from ..synthetic.shards import ShardPlan
from ..utils import NpvaeError

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``synth`` subcommand."""
    p = subparsers.add_parser("synth", help="generate a synthetic SDSS-like survey dataset",
                              description="Generate synthetic SDSS-like galaxy and quasar spectra, "
                                          "preprocess them and write a dataset file or a sharded "
                                          "dataset folder.")
    p.add_argument("--n", type=int, default=20000, help="number of spectra (default 20000)")
    p.add_argument("--out", required=True,
                   help="output dataset FITS file, or a folder (existing, or ending in /) for a sharded dataset")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--shard-size", type=int, default=None,
                   help=f"spectra per shard; writes a sharded dataset folder (default {DEFAULT_SHARD_SIZE} "
                        "when --out is a folder)")
    p.add_argument("--scheduler", default=None, help=SCHEDULER_HELP + "; sharded output only")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of --scheduler local (default: one per core)")
    p.add_argument("--raw-dir", default=None, help="also write spec-lite FITS files of the raw spectra here")
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
    if args.n < 1:
        raise NpvaeError(f"--n {args.n}: need at least one spectrum")
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
        labels = make_dataset(args.n, rng=args.seed, path=args.out, raw_dir=args.raw_dir,
                              verbose=not args.quiet, infill=not args.no_infill).labels
        counts, where = Counter(labels.tolist()), "one file"
    summary = ", ".join(f"{k} {counts[k]}" for k in CLASSES + ("other",))
    print(f"wrote {args.out}: {sum(counts.values())} spectra ({summary}), {where}, in {time.time() - t0:.1f} s")
    return 0
