"""The paper's SDSS selection as SkyServer SQL, run over HTTPS, saved next to the data.

Selection (Portillo et al. 2020, Sec. 3; docs/data.md): legacy targets with the
TARGET_GALAXY, TARGET_QSO_CAP or TARGET_QSO_SKIRT bits (``legacy_target1 & 70``, 70 = 0x40 +
0x2 + 0x4), 0 < z <= 0.36, ordered by specObjID so the same query always returns the same
sample (the paper's query had no ORDER BY). The SkyServer ``SqlSearch`` web service answers
with CSV: a ``#Table1`` line, a header line, then rows. Docs: docs/data.md.
"""
import csv
import io
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
from astropy.table import Table

from ..utils import NpvaeError, atomic_write

__all__ = ["DEFAULT_SQL_URL", "LEGACY_TARGET_MASK", "build_query", "query_url", "parse_csv",
           "run_query", "save_catalog", "load_catalog"]

DEFAULT_SQL_URL = "https://skyserver.sdss.org/dr17/SkyServerWS/SearchTools/SqlSearch"
LEGACY_TARGET_MASK = 70        # TARGET_GALAXY | TARGET_QSO_CAP | TARGET_QSO_SKIRT
CATALOG_COLUMNS = ("PLATE", "MJD", "FIBERID", "RUN2D", "Z", "CLASS")
USER_AGENT = "npvae (https://github.com/; SDSS spectra for an InfoVAE)"


def build_query(n=64000, *, zmin=0.0, zmax=0.36, target_mask=LEGACY_TARGET_MASK, where=()):
    """SkyServer SQL for the selection.

    Parameters
    ----------
    n : int or None
        Sample size (TOP n); None = all rows.
    zmin, zmax : float
        zmin < z <= zmax.
    target_mask : int
        Bits of ``legacy_target1`` of which at least one must be set.
    where : sequence of str
        Extra SQL conditions on table alias ``s`` (SpecObj), ANDed.
    """
    if n is not None and int(n) <= 0:
        raise NpvaeError(f"sample size must be positive, got {n}")
    if not zmax > zmin:
        raise NpvaeError(f"need zmin < zmax, got {zmin} and {zmax}")
    if isinstance(where, str):
        where = [where]
    conditions = [f"(s.legacy_target1 & {int(target_mask)}) > 0", f"s.z > {float(zmin)!r}",
                  f"s.z <= {float(zmax)!r}"] + [f"({w})" for w in where]
    top = f"TOP {int(n)} " if n is not None else ""
    return (f"SELECT {top}s.plate, s.mjd, s.fiberid, s.run2d, s.z, s.class "
            f"FROM SpecObj AS s WHERE {' AND '.join(conditions)} ORDER BY s.specObjID")


def query_url(sql, base_url=DEFAULT_SQL_URL):
    """The GET URL of ``sql`` on the SqlSearch service, CSV output."""
    return f"{base_url}?{urllib.parse.urlencode({'cmd': sql, 'format': 'csv'})}"


def parse_csv(text, source="SkyServer"):
    """Table with PLATE, MJD, FIBERID, RUN2D, Z, CLASS from SkyServer CSV text."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise NpvaeError(f"{source}: empty answer (no header line)")
    reader = csv.reader(io.StringIO("\n".join(lines)))
    header = [h.strip().upper() for h in next(reader)]
    missing = [c for c in CATALOG_COLUMNS if c not in header]
    if missing:
        raise NpvaeError(f"{source}: answer has no column {missing[0]}; it starts with "
                         f"{text[:200]!r}")
    rows = list(reader)
    cols = {c: [r[header.index(c)].strip() for r in rows] for c in CATALOG_COLUMNS}
    try:
        return Table({"PLATE": np.array(cols["PLATE"], dtype=np.int64),
                      "MJD": np.array(cols["MJD"], dtype=np.int64),
                      "FIBERID": np.array(cols["FIBERID"], dtype=np.int64),
                      "RUN2D": np.array(cols["RUN2D"], dtype=str),
                      "Z": np.array(cols["Z"], dtype=np.float64),
                      "CLASS": np.array(cols["CLASS"], dtype=str)})
    except ValueError as err:
        raise NpvaeError(f"{source}: malformed row in the answer ({err})") from err


def run_query(sql, base_url=DEFAULT_SQL_URL, *, timeout=300, retries=3, backoff=2.0, sleep=time.sleep):
    """Run ``sql`` on SkyServer and return the catalogue Table (retries on 5xx and network errors)."""
    url = query_url(sql, base_url)
    last = None
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        try:
            req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode("utf-8", "replace")
            return parse_csv(text, source=base_url)
        except urllib.error.HTTPError as err:
            last = f"HTTP {err.code} {err.reason}"
            if err.code < 500:
                break
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            last = f"network error: {getattr(err, 'reason', err)}"
    raise NpvaeError(f"SkyServer query failed at {base_url}: {last}")


def save_catalog(table, path, meta=None):
    """Write the catalogue as ECSV (with the SQL and URL in its metadata), atomically."""
    table = Table(table, copy=True)
    table.meta.update(meta or {})
    with atomic_write(path, suffix=".ecsv") as tmp:
        table.write(tmp, format="ascii.ecsv", overwrite=True)
    return path


def load_catalog(path):
    """Read a catalogue written by :func:`save_catalog`."""
    try:
        table = Table.read(path, format="ascii.ecsv")
    except (OSError, ValueError) as err:
        raise NpvaeError(f"{path}: unreadable catalogue ({err})") from err
    for col in ("PLATE", "MJD", "FIBERID", "RUN2D"):
        if col not in table.colnames:
            raise NpvaeError(f"{path}: catalogue has no column {col}")
    return table
