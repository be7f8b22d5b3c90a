"""Download SDSS spec-lite files from the Science Archive Server, robustly and resumably.

For each catalogue row the file
``{base}/{run2d}/spectra/lite/{plate:04d}/spec-{plate:04d}-{mjd:05d}-{fiber:04d}.fits``
is fetched by a pool of threads into ``{folder}/{plate:04d}/``. A file counts only once it
parses as a complete FITS file (:func:`npvae.data.fitsfast.verify_fits`); it is written to a
temporary name and renamed. Files already complete are skipped (resume). Network errors, HTTP
5xx and files that fail verification are retried with exponential backoff; HTTP 4xx is final.
A failed file is recorded with its reason (``failed.csv``) and the run goes on.
:func:`fetch_sdss` runs the query (:mod:`npvae.data.query`) and the downloads. Docs: docs/data.md.
"""
import csv
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from ..utils import NpvaeError, atomic_write, get_data_home, progress
from .fitsfast import verify_fits
from .query import DEFAULT_SQL_URL, USER_AGENT, build_query, load_catalog, run_query, save_catalog

__all__ = ["DEFAULT_SAS_URL", "spec_lite_url", "spec_lite_path", "download_file",
           "download_spectra", "DownloadReport", "fetch_sdss"]

DEFAULT_SAS_URL = "https://data.sdss.org/sas/dr17/sdss/spectro/redux"
CATALOG_NAME = "sdss_catalog.ecsv"
FAILED_NAME = "failed.csv"


def spec_lite_url(base_url, run2d, plate, mjd, fiber):
    """URL of one spec-lite file on the SAS."""
    name = f"spec-{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}.fits"
    return f"{base_url.rstrip('/')}/{str(run2d).strip()}/spectra/lite/{int(plate):04d}/{name}"


def spec_lite_path(folder, plate, mjd, fiber):
    """Local path of one spec-lite file: folder/PPPP/spec-PPPP-MMMMM-FFFF.fits."""
    return (Path(folder) / f"{int(plate):04d}" /
            f"spec-{int(plate):04d}-{int(mjd):05d}-{int(fiber):04d}.fits")


def _is_complete(path):
    try:
        verify_fits(path)
        return True
    except (NpvaeError, OSError):
        return False


def _fetch_once(url, dest, timeout):
    """One attempt: stream ``url`` into a temporary file, verify it, rename it onto ``dest``."""
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with atomic_write(dest) as tmp:
        with urllib.request.urlopen(req, timeout=timeout) as resp, open(tmp, "wb") as out:
            expected = resp.headers.get("Content-Length")
            size = 0
            while True:
                block = resp.read(1 << 16)
                if not block:
                    break
                out.write(block)
                size += len(block)
        if expected is not None and int(expected) != size:
            raise NpvaeError(f"incomplete transfer: {size} of {expected} bytes")
        try:
            verify_fits(tmp)
        except NpvaeError as err:
            raise NpvaeError(str(err).replace(f"{tmp}: ", "")) from None


def download_file(url, dest, *, retries=4, backoff=1.0, timeout=60, sleep=time.sleep):
    """Download one file unless it is already complete.

    Returns "present" (already there), or "downloaded"; raises NpvaeError with the reason of
    the last attempt when every attempt failed. Waits backoff * 2^k seconds between attempts.
    """
    dest = Path(dest)
    if dest.exists() and _is_complete(dest):
        return "present"
    last = "no attempt"
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            _fetch_once(url, dest, timeout)
            return "downloaded"
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code} {err.reason}"
            if err.code < 500 and err.code != 429:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
            last = f"network error: {getattr(err, 'reason', err)}"
        except NpvaeError as err:
            last = str(err)
    raise NpvaeError(f"{url}: {last} (after {attempt + 1} attempts)")


@dataclass
class DownloadReport:
    """Counts of one download run and the failures with reasons."""

    downloaded: int = 0
    present: int = 0
    failed: list = field(default_factory=list)      # [(url, reason)]

    def summary(self):
        lines = [f"downloaded {self.downloaded}, already present {self.present}, failed {len(self.failed)}"]
        lines += [f"  failed: {url}: {reason}" for url, reason in self.failed[:10]]
        if len(self.failed) > 10:
            lines.append(f"  ... and {len(self.failed) - 10} more (see {FAILED_NAME})")
        return "\n".join(lines)


def download_spectra(catalog, folder, *, base_url=DEFAULT_SAS_URL, n_workers=8, retries=4,
                     backoff=1.0, timeout=60, verbose=True, sleep=time.sleep):
    """Download the spec-lite files of every catalogue row (PLATE, MJD, FIBERID, RUN2D).

    Failures are written to ``folder/failed.csv`` (url, reason); returns a DownloadReport.
    """
    folder = Path(folder)
    jobs = [(spec_lite_url(base_url, r["RUN2D"], r["PLATE"], r["MJD"], r["FIBERID"]),
             spec_lite_path(folder, r["PLATE"], r["MJD"], r["FIBERID"])) for r in catalog]
    report = DownloadReport()
    bar = progress(total=len(jobs), desc="download", verbose=verbose, unit="file")
    with ThreadPoolExecutor(max_workers=max(1, n_workers)) as pool:
        futures = {pool.submit(download_file, url, dest, retries=retries, backoff=backoff,
                               timeout=timeout, sleep=sleep): url for url, dest in jobs}
        for future in as_completed(futures):
            try:
                status = future.result()
                if status == "present":
                    report.present += 1
                else:
                    report.downloaded += 1
            except NpvaeError as err:
                reason = str(err).replace(f"{futures[future]}: ", "")
                report.failed.append((futures[future], reason))
            bar.update(1)
    bar.close()
    report.failed.sort()
    failed_path = folder / FAILED_NAME
    if report.failed:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(failed_path, suffix=".csv") as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["url", "reason"])
            writer.writerows(report.failed)
    elif failed_path.exists():
        os.unlink(failed_path)
    return report


def fetch_sdss(n=64000, *, zmin=0.0, zmax=0.36, where=(), data_home=None, sql_url=DEFAULT_SQL_URL,
               sas_url=DEFAULT_SAS_URL, n_workers=8, retries=4, backoff=1.0, timeout=60,
               verbose=True, sleep=time.sleep):
    """Query the selection, save the catalogue and download the spectra into the data folder.

    The catalogue goes to ``data_home/sdss_catalog.ecsv`` (reused when its saved SQL matches,
    so an interrupted run resumes without querying again); spectra to ``data_home/spectra``.
    Returns (catalog Table, DownloadReport, spectra folder).
    """
    home = get_data_home(data_home)
    sql = build_query(n, zmin=zmin, zmax=zmax, where=where)
    cat_path = home / CATALOG_NAME
    catalog = None
    if cat_path.exists():
        old = load_catalog(cat_path)
        if old.meta.get("sql") == sql:
            catalog = old
    if catalog is None:
        catalog = run_query(sql, sql_url, timeout=max(timeout, 300), sleep=sleep)
        save_catalog(catalog, cat_path, meta={"sql": sql, "sql_url": sql_url, "sas_url": sas_url})
    spectra = home / "spectra"
    report = download_spectra(catalog, spectra, base_url=sas_url, n_workers=n_workers,
                              retries=retries, backoff=backoff, timeout=timeout,
                              verbose=verbose, sleep=sleep)
    return catalog, report, spectra
