"""``npvae fetch-sdss``: query the paper's SDSS selection and download its spec-lite files.

The catalogue is saved as DATA_HOME/sdss_catalog.ecsv, the spectra go to DATA_HOME/spectra/PPPP/,
failures (with reasons) to DATA_HOME/spectra/failed.csv. Running it again resumes.
Docs: docs/data.md.
"""
import sys

from ..data.download import DEFAULT_SAS_URL, fetch_sdss
from ..data.query import DEFAULT_SQL_URL
from .arguments import integer, real

__all__ = ["register", "run"]


def register(subparsers):
    """Add the ``fetch-sdss`` subcommand."""
    p = subparsers.add_parser("fetch-sdss", help="query and download SDSS spectra (needs internet)",
                              description="Legacy TARGET_GALAXY / QSO_CAP / QSO_SKIRT spectra with "
                                          "zmin < z <= zmax, ordered by specObjID, from SkyServer "
                                          "and the Science Archive Server.")
    p.add_argument("--n", type=integer(1), default=64000, help="number of spectra (default %(default)s)")
    p.add_argument("--zmin", type=real(), default=0.0, help="z > zmin (default %(default)s)")
    p.add_argument("--zmax", type=real(), default=0.36, help="z <= zmax (default %(default)s)")
    p.add_argument("--where", action="append", default=[], metavar="SQL",
                   help="extra condition on SpecObj alias s, e.g. 's.zWarning = 0' (repeatable)")
    p.add_argument("--data-home", default=None, help="data folder (default: $NPVAE_DATA or ~/npvae_data)")
    p.add_argument("--sql-url", default=DEFAULT_SQL_URL, help="SkyServer SqlSearch URL")
    p.add_argument("--sas-url", default=DEFAULT_SAS_URL, help="base URL of the spectro/redux tree")
    p.add_argument("--workers", type=integer(1), default=8, help="parallel downloads (default %(default)s)")
    p.add_argument("--retries", type=integer(0), default=4, help="retries per file (default %(default)s)")
    p.add_argument("--timeout", type=real(above=0), default=60.0, help="seconds per request (default %(default)s)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    """Query, save the catalogue, download; print a summary. Exit code 1 if any file failed."""
    catalog, report, folder = fetch_sdss(
        args.n, zmin=args.zmin, zmax=args.zmax, where=args.where, data_home=args.data_home,
        sql_url=args.sql_url, sas_url=args.sas_url, n_workers=args.workers, retries=args.retries,
        timeout=args.timeout, verbose=not args.quiet)
    print(f"catalogue: {len(catalog)} spectra ({folder.parent / 'sdss_catalog.ecsv'})")
    print(report.summary())
    print(f"spectra in {folder}; next: npvae preprocess {folder} --out dataset.fits")
    if report.failed:
        print(f"npvae fetch-sdss: {len(report.failed)} files failed; run again to retry them",
              file=sys.stderr)
        return 1
    return 0
