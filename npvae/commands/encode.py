"""``npvae encode``: a trained model applied to spectrum files -> one FITS table of latents.

INPUTS are raw spectrum files (spec-lite, DR7 spSpec), folders of them (searched recursively)
and dataset files (named directly). Each spectrum goes through the model's own preprocessing
recipe and infill (:func:`npvae.apply.spectra.encode_columns`, the columns of
:func:`npvae.apply.encode_spectra` before they are joined), chunk by chunk. OUT gets a binary table
``LATENTS`` (one row per spectrum; columns in docs/encode.md), a table ``SKIPPED`` (source and
reason of each spectrum that could not be used, also written to ``OUT.skipped.csv``) and, with
``--reconstructions``, images ``FLUX``, ``WEIGHT``, ``RECON`` (N, D) and ``WAVE`` (D,).
With ``--top N``, the N highest outlier scores (ranked over the whole table by
:func:`npvae.analysis.outliers.top_outlier_table`) go to a small CSV or FITS table.
Written atomically. Shapes: N spectra, D pixels.
"""
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from astropy.io import fits

from ..analysis.outliers import top_outlier_table
from ..apply.spectra import CHUNK, encode_columns, outlier_reference
from ..data.fitstable import FitsImage, FitsTable, write_fits
from ..data.preprocess import REST_WAVE
from ..data.recipe import INFILL_METHODS
from ..distributed import SCHEDULER_HELP, check_scheduler, open_engine
from ..train import load
from ..utils import NpvaeError, atomic_write
from .arguments import fits_output, integer, output_file
from .preprocess import report_skipped

__all__ = ["register", "run", "write_latents", "write_top", "FORMAT_NAME"]

FORMAT_NAME = "npvae-latents-1"
IMAGES = ("FLUX", "WEIGHT", "RECON")


def register(subparsers):
    """Add the ``encode`` subcommand."""
    p = subparsers.add_parser("encode", help="encode spectra with a trained model -> latents FITS table",
                              description="Apply a trained model to spectrum files or dataset files: "
                                          "latent means and variances, reconstruction chi^2 and "
                                          "outlier score of every spectrum.")
    p.add_argument("inputs", nargs="+", metavar="INPUTS",
                   help="spec-lite / spSpec files, folders of them, or dataset files")
    p.add_argument("--model", required=True, help="model file (OUT/model.npz of `npvae train`) or its folder")
    p.add_argument("--out", required=True, help="FITS file to write (table LATENTS)")
    p.add_argument("--reconstructions", action="store_true",
                   help="also write the rest-frame input and the reconstruction of each spectrum")
    p.add_argument("--infill", choices=INFILL_METHODS, default=None,
                   help="infill of masked pixels: the training basis (pca) or the model itself "
                        "(vae); default: the model's")
    p.add_argument("--chunk", type=int, default=CHUNK, help="spectra per chunk (default %(default)s)")
    p.add_argument("--jobs", type=int, default=2,
                   help="worker processes reading files, without --scheduler (default %(default)s)")
    p.add_argument("--scheduler", default=None,
                   help=SCHEDULER_HELP.replace("; default", "") + "; each chunk one Dask task. Default: "
                        "no Dask, the chunks in this process and --jobs readers")
    p.add_argument("--workers", type=int, default=None, help="workers of --scheduler local (default: one per core)")
    p.add_argument("--no-rchi2", action="store_true",
                   help="omit the RCHI2 column (the reconstruction's chi^2): the decoder is not run, "
                        "about half the arithmetic of encoding; LATENTS and the --top table then have "
                        "no RCHI2 column, every other column is unchanged")
    p.add_argument("--top", type=integer(1), default=None, metavar="N",
                   help="also write the N highest outlier scores (OUTLIER, the LOF) with their IDs, "
                        "RCHI2 (unless --no-rchi2), file and row")
    p.add_argument("--top-out", default=None, metavar="PATH",
                   help="the --top table, .csv or .fits (default: OUT with .top.csv for .fits)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _check_top_out(args, out):
    """The path of the --top table (checked like OUT), or None without --top."""
    if args.top is None:
        if args.top_out is not None:
            raise NpvaeError("--top-out needs --top N")
        return None
    top = output_file(args.top_out if args.top_out is not None else out.with_suffix(".top.csv"), "--top-out",
                      suffixes=(".csv", ".fits", ".fit"), what="the table must be a .csv or .fits file")
    if top.resolve() == out.resolve():
        raise NpvaeError(f"--top-out {top}: the same file as --out")
    return top


def run(args):
    """Check the arguments, encode, write OUT. Exit 1 when no spectrum could be encoded."""
    out = fits_output(args.out)
    top_out = _check_top_out(args, out)
    if args.chunk < 1 or args.jobs < 1:
        raise NpvaeError(f"--chunk and --jobs must be >= 1, got {args.chunk} and {args.jobs}")
    if args.scheduler is not None:
        check_scheduler(args.scheduler, args.workers)
    elif args.workers is not None:
        raise NpvaeError("--workers needs --scheduler local")
    model = load(args.model)
    if top_out is not None and getattr(model, "train_latents_", None) is None:
        raise NpvaeError(f"--top: {args.model} holds no training latents, so there is no outlier score to rank")
    options = dict(infill=args.infill, chunk=args.chunk, reconstructions=args.reconstructions,
                   rchi2=not args.no_rchi2, verbose=not args.quiet)
    if args.scheduler is None:
        table = encode_columns(model, args.inputs, n_jobs=args.jobs, **options)      # LatentColumns
    else:
        table = _encode_on_engine(model, args, options)
    skipped = table.meta.pop("skipped")
    report_skipped(out, len(table), skipped, verb="encoded")
    if len(table) == 0:
        print("npvae encode: no spectrum could be encoded; nothing written", file=sys.stderr)
        return 1
    write_latents(out, table, skipped, {"MODEL": str(args.model), "INFILL": table.meta["INFILL"]})
    print(f"wrote {out}")
    if top_out is not None:
        write_top(top_out, top_outlier_table(table, args.top))
        print(f"wrote the {args.top} highest outlier scores: {top_out}")
    return 0


def _encode_on_engine(model, args, options):
    """encode_columns on the engine of --scheduler; the LOF reference is fitted here while the workers start."""
    with ThreadPoolExecutor(1) as pool:
        lof = pool.submit(outlier_reference, model)
        with open_engine(args.scheduler, args.workers) as engine:
            lof.result()                                 # kept with the model: encode_columns reuses it
            return encode_columns(model, args.inputs, engine=engine, **options)


def write_top(path, top):
    """Write the table of :func:`top_outlier_table` as CSV or FITS (by the suffix), atomically."""
    path = Path(path)
    fmt = "ascii.csv" if path.suffix.lower() == ".csv" else "fits"
    with atomic_write(path) as tmp:
        top.write(tmp, format=fmt, overwrite=True)
    return path


def primary_hdu(fmt, nspec, n_skipped, keywords):
    """The primary HDU of an npvae output table file (latents, redshifts).

    ``fmt`` and ``nspec`` are (value, comment) for NPVFMT and NSPEC; NSKIP counts the rows of
    HDU SKIPPED; ``keywords`` are the command's own header cards.
    """
    primary = fits.PrimaryHDU()
    primary.header["NPVFMT"] = fmt
    primary.header["NSPEC"] = nspec
    primary.header["NSKIP"] = (n_skipped, "spectra skipped (HDU SKIPPED)")
    for key, value in keywords.items():
        primary.header[key] = value
    return primary


def write_latents(path, table, skipped, keywords):
    """Write the LATENTS table, the SKIPPED table and any image columns to ``path`` atomically.

    ``table``: an astropy Table or the :class:`npvae.apply.columns.LatentColumns` of an encode.
    The same bytes as astropy's ``table_to_hdu`` + ``writeto`` (tests/_reference.py), packed by
    :mod:`npvae.data.fitstable` a block of rows at a time.
    """
    primary = primary_hdu((FORMAT_NAME, "npvae latents file format"), (len(table), "spectra encoded"),
                          len(skipped), keywords)
    images = [name for name in IMAGES if name in table.colnames]
    latents = FitsTable("LATENTS", {c: table[c] for c in table.colnames if c not in images})
    sources = np.array([s for s, _ in skipped] or [""], dtype=str)[:len(skipped)]
    reasons = np.array([r for _, r in skipped] or [""], dtype=str)[:len(skipped)]
    hdus = [latents, FitsTable("SKIPPED", {"SOURCE": sources, "REASON": reasons})]
    hdus += [FitsImage(name, np.asarray(table[name], np.float32)) for name in images]
    if images:
        hdus.append(FitsImage("WAVE", REST_WAVE, {"BUNIT": "Angstrom"}))
    return write_fits(path, primary, hdus)
