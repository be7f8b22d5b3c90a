"""``npvae redshift``: redshifts of observed spectra by the trial z a trained model reconstructs best.

INPUTS are raw spectrum files (spec-lite, DR7 spSpec) and folders of them. Each spectrum is
prepared with the model's own recipe at every trial redshift and scored by the VAE (or, with
``--method pca``, by PCA templates: the mean and eigenvectors of the training set), as
:func:`npvae.apply.redshift_spectra` does. OUT gets a binary table ``REDSHIFTS`` (one row per
spectrum; columns and ZWARN bits in docs/redshift.md), a table ``SKIPPED`` (also written to
``OUT.skipped.csv``) and, with ``--curves``, the coarse trial grid as image ``Z_GRID``.
Every argument and path is checked before the work starts; OUT is written atomically.
"""
import sys

import numpy as np
from astropy.io import fits
from astropy.table import Table

from ..apply.redshift import Z_RANGE, ZWARN_BITS
from ..apply.zcatalog import METHODS, redshift_spectra
from ..apply.zmodels import templates_from_data
from ..data.dataset import is_dataset_file
from ..data.recipe import INFILL_METHODS
from ..paper import INFILL_EIGENVECTORS
from ..train import load
from ..utils import NpvaeError, atomic_write
from .arguments import fits_output, integer, real
from .encode import primary_hdu
from .preprocess import report_skipped

__all__ = ["register", "run", "write_redshifts", "FORMAT_NAME"]

FORMAT_NAME = "npvae-redshifts-1"


def register(subparsers):
    """Add the ``redshift`` subcommand."""
    p = subparsers.add_parser("redshift", help="redshifts of spectra: the trial z a trained model reconstructs best",
                              description="Scan trial redshifts of observed spectra with a trained "
                                          "model (or PCA templates) and report the best: Z, Z_ERR, "
                                          "DCHI2, ZWARN and the latents at Z.")
    p.add_argument("inputs", nargs="+", metavar="INPUTS", help="spec-lite / spSpec files or folders of them")
    p.add_argument("--model", required=True, help="model file (OUT/model.npz of `npvae train`) or its folder")
    p.add_argument("--out", required=True, help="FITS file to write (table REDSHIFTS)")
    p.add_argument("--method", choices=METHODS, default="vae",
                   help="score the trials by the VAE (default) or by PCA templates")
    p.add_argument("--z-min", type=real(above=-0.5), default=Z_RANGE[0], help="lowest trial z (default %(default)s)")
    p.add_argument("--z-max", type=real(above=-0.5), default=Z_RANGE[1], help="highest trial z (default %(default)s)")
    p.add_argument("--infill", choices=INFILL_METHODS, default="pca",
                   help="the VAE's infill of masked pixels at each trial (default %(default)s: the recipe's basis)")
    p.add_argument("--templates-from", metavar="DATA", default=None,
                   help="--method pca: templates from this dataset file's training rows "
                        "(default: the model's own training basis)")
    p.add_argument("--pca-vectors", type=integer(1), default=None,
                   help="--method pca: eigenvectors besides the mean (default: all of the basis)")
    p.add_argument("--curves", action="store_true", help="also write each spectrum's coarse RCHI2(z) curve")
    p.add_argument("--threads", type=integer(1), default=None,
                   help="spectra scanned at once, one per thread (default: one per core, at most 4)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def _check(args):
    """Every check that needs no work: output path, z range, the template options."""
    out = fits_output(args.out)
    if not args.z_min < args.z_max:
        raise NpvaeError(f"--z-min {args.z_min} must be below --z-max {args.z_max}")
    if args.method != "pca" and (args.templates_from is not None or args.pca_vectors is not None):
        raise NpvaeError("--templates-from and --pca-vectors need --method pca")
    if args.templates_from is not None and not is_dataset_file(args.templates_from):
        raise NpvaeError(f"--templates-from {args.templates_from}: not a dataset file (`npvae preprocess` or "
                         "`npvae synth` output)")
    return out


def run(args):
    """Check the arguments, scan, write OUT. Exit 1 when no spectrum got a redshift."""
    out = _check(args)
    model = load(args.model)
    templates = None
    if args.templates_from is not None:
        templates = templates_from_data(args.templates_from, args.pca_vectors or INFILL_EIGENVECTORS)
    table = redshift_spectra(model, args.inputs, method=args.method, z_range=(args.z_min, args.z_max),
                             infill=args.infill, templates=templates, n_vectors=args.pca_vectors,
                             curves=args.curves, threads=args.threads, verbose=not args.quiet)
    skipped = table.meta.pop("skipped")
    report_skipped(out, len(table), skipped, verb="redshifts for")
    if len(table) == 0:
        print("npvae redshift: no spectrum got a redshift; nothing written", file=sys.stderr)
        return 1
    write_redshifts(out, table, skipped, {"MODEL": str(args.model), "METHOD": args.method,
                                          "ZMIN": args.z_min, "ZMAX": args.z_max})
    print(f"wrote {out}")
    return 0


def write_redshifts(path, table, skipped, keywords):
    """Write the REDSHIFTS and SKIPPED tables (and Z_GRID with curves) to ``path`` atomically."""
    primary = primary_hdu((FORMAT_NAME, "npvae redshifts file format"), (len(table), "spectra with a redshift"),
                          len(skipped), keywords)
    for name, bit in ZWARN_BITS.items():
        primary.header[f"ZWBIT{bit}"] = (name, f"ZWARN bit {bit}")
    grid = table.meta.pop("Z_GRID")
    hdu = fits.table_to_hdu(Table(table, meta={}))
    hdu.name = "REDSHIFTS"
    skip = fits.table_to_hdu(Table({"SOURCE": np.array([s for s, _ in skipped], dtype=str).reshape(-1),
                                    "REASON": np.array([r for _, r in skipped], dtype=str).reshape(-1)}))
    skip.name = "SKIPPED"
    hdus = [primary, hdu, skip]
    if "RCHI2_SCAN" in table.colnames:
        hdus.append(fits.ImageHDU(np.asarray(grid, np.float64), name="Z_GRID"))
    with atomic_write(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path
