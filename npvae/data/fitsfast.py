"""A minimal, fast FITS reader for binary tables and a structural file check.

astropy.io.fits spends about 40 ms opening one SDSS spec-lite file (mostly building column
objects for the 126-column SPECOBJ table and the per-exposure HDUs); preprocessing must read
1,000 files per second. This module walks the 2880-byte header blocks itself, caches the parsed
layout of each distinct header, and turns the wanted binary tables into NumPy arrays with
``np.frombuffer``. It reads only what it is asked for; :func:`verify_fits` walks every HDU and
checks that the file is exactly as long as its headers say (a truncated download fails).
The astropy path in :mod:`npvae.data.readers` is the reference this reader is tested against.
See docs/data.md. Shapes: R table rows.
"""
import os

import numpy as np

from ..utils import NpvaeError
from .arraykernels import to_native

__all__ = ["FitsHeader", "iter_hdus", "read_tables", "read_rows", "verify_fits"]

BLOCK = 2880                                   # FITS block size, bytes
CARD = 80                                      # header card size, bytes
_TFORM_CODES = {"E": ">f4", "D": ">f8", "J": ">i4", "K": ">i8", "I": ">i2", "B": "u1",
                "L": "S1", "X": "u1"}
_BITPIX = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}   # image pixel types
_LAYOUT_CACHE = {}                             # header bytes -> FitsHeader
_CACHE_MAX = 512


class FitsHeader:
    """The parsed keywords of one HDU header and, for a binary table, its row dtype."""

    def __init__(self, cards):
        self.cards = cards                     # dict keyword -> value
        self.dtype = _table_dtype(cards) if cards.get("XTENSION") == "BINTABLE" else None

    def get(self, key, default=None):
        return self.cards.get(key, default)

    @property
    def name(self):
        return str(self.cards.get("EXTNAME", "PRIMARY" if "SIMPLE" in self.cards else "")).strip()

    @property
    def data_bytes(self):
        """Size of the data unit before padding: |BITPIX|/8 * GCOUNT * (PCOUNT + prod NAXISn)."""
        naxis = int(self.cards.get("NAXIS", 0))
        if naxis == 0:
            return 0
        count = 1
        for i in range(1, naxis + 1):
            count *= int(self.cards.get(f"NAXIS{i}", 0))
        bits = abs(int(self.cards.get("BITPIX", 8)))
        gcount = int(self.cards.get("GCOUNT", 1))
        pcount = int(self.cards.get("PCOUNT", 0))
        return bits // 8 * gcount * (pcount + count)


def _parse_value(text):
    """Value of a card's value field (after '= '), comments stripped."""
    text = text.strip()
    if text.startswith("'"):
        end = 1
        out = []
        while True:
            q = text.find("'", end)
            if q < 0:
                out.append(text[end:])
                break
            if text[q + 1:q + 2] == "'":       # escaped quote
                out.append(text[end:q + 1])
                end = q + 2
                continue
            out.append(text[end:q])
            break
        return "".join(out).rstrip()
    text = text.split("/", 1)[0].strip()
    if text == "T":
        return True
    if text == "F":
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace("D", "E"))
    except ValueError:
        return text


def _parse_header(raw):
    """dict of keyword -> value from raw header bytes (END already located)."""
    cards = {}
    text = raw.decode("ascii", errors="replace")
    for i in range(0, len(text), CARD):
        card = text[i:i + CARD]
        key = card[:8].rstrip()
        if key == "END":
            break
        if card[8:10] == "= " and key not in cards:
            cards[key] = _parse_value(card[10:])
    return cards


def _table_dtype(cards):
    """Row dtype of a binary table from its TTYPEn/TFORMn cards."""
    names, formats = [], []
    for i in range(1, int(cards.get("TFIELDS", 0)) + 1):
        form = str(cards.get(f"TFORM{i}", "")).strip()
        digits = ""
        while form and form[0].isdigit():
            digits, form = digits + form[0], form[1:]
        repeat = int(digits) if digits else 1
        code = form[:1]
        if code == "A":
            fmt = f"S{repeat}" if repeat else "S1"
        elif code in _TFORM_CODES:
            fmt = (f"({repeat},){_TFORM_CODES[code]}" if repeat != 1 else _TFORM_CODES[code])
            if repeat == 0:
                fmt = "V0"
        elif code in ("P", "Q"):                # variable-length array descriptor
            fmt = "V8" if code == "P" else "V16"
        else:
            fmt = f"V{max(repeat, 1)}"
        names.append(str(cards.get(f"TTYPE{i}", f"col{i}")).strip() or f"col{i}")
        formats.append(fmt)
    itemsize = int(cards.get("NAXIS1", 0))
    return np.dtype({"names": names, "formats": formats, "itemsize": itemsize})


def _read_header(f, path):
    """Read header blocks from the current position; returns FitsHeader or None at EOF."""
    chunks = []
    while True:
        block = f.read(BLOCK)
        if not block:
            if chunks:
                raise NpvaeError(f"{path}: truncated FITS file (header without END)")
            return None
        if not chunks and not (block.startswith(b"SIMPLE  ") or block.startswith(b"XTENSION")):
            raise NpvaeError(f"{path}: not a FITS file (no SIMPLE/XTENSION card)")
        if len(block) < BLOCK:
            raise NpvaeError(f"{path}: truncated FITS file (partial header block)")
        chunks.append(block)
        if _has_end(block):
            break
    raw = b"".join(chunks)
    header = _LAYOUT_CACHE.get(raw)
    if header is None:
        header = FitsHeader(_parse_header(raw))
        if len(_LAYOUT_CACHE) >= _CACHE_MAX:
            _LAYOUT_CACHE.clear()
        _LAYOUT_CACHE[raw] = header
    return header


def _has_end(block):
    """True when one of the 36 cards of a header block is END."""
    for i in range(0, BLOCK, CARD):
        if block[i:i + 8] == b"END     ":
            return True
    return False


def _padded(n):
    return (n + BLOCK - 1) // BLOCK * BLOCK


def iter_hdus(path):
    """Yield (index, FitsHeader, reader) for every HDU; ``reader()`` returns the data bytes.

    Data not asked for is skipped with a seek. Raises NpvaeError on a malformed header.
    """
    with open(path, "rb") as f:
        index = 0
        while True:
            header = _read_header(f, path)
            if header is None:
                return
            start, size = f.tell(), header.data_bytes

            def reader(start=start, size=size, index=index):
                f.seek(start)
                data = f.read(size)
                if len(data) < size:
                    raise NpvaeError(f"{path}: truncated FITS file (HDU {index} data: "
                                     f"{len(data)} of {size} bytes)")
                return data

            yield index, header, reader
            f.seek(start + _padded(size))
            index += 1


def _scaled(values, header, index):
    """Native-order copy of a numeric column with TSCALn/TZEROn applied (value * TSCAL + TZERO)."""
    values = values.astype(values.dtype.newbyteorder("="))
    scale, zero = header.get(f"TSCAL{index}", 1), header.get(f"TZERO{index}", 0)
    if scale == 1 and zero == 0:
        return values
    if scale == 1 and values.dtype.kind == "i" and float(zero) == 2.0 ** (8 * values.itemsize - 1):
        return (values.view(f"u{values.itemsize}") ^ np.array(1 << (8 * values.itemsize - 1),
                                                               f"u{values.itemsize}"))   # unsigned
    return values * float(scale) + float(zero)


def read_tables(path, wanted):
    """Read binary tables by EXTNAME.

    Parameters
    ----------
    path : str or Path
    wanted : dict
        EXTNAME -> list of column names (None = all columns).

    Returns
    -------
    dict EXTNAME -> (FitsHeader, dict column -> ndarray (R, ...)) in native byte order;
    the primary header is returned under "PRIMARY" with an empty column dict.
    Raises NpvaeError naming the file and the HDU or column that is missing.
    """
    out = {}
    remaining = set(wanted)
    for index, header, reader in iter_hdus(path):
        if index == 0:
            out["PRIMARY"] = (header, {})
            continue
        name = header.name.upper()
        if name not in remaining:
            continue
        if header.dtype is None:
            raise NpvaeError(f"{path}: HDU {name} is not a binary table")
        raw = reader()
        nrows = int(header.get("NAXIS2", 0))
        rows = np.frombuffer(raw, dtype=header.dtype, count=nrows)   # (R,)
        columns = {}
        by_lower = {n.lower(): n for n in header.dtype.names}
        for col in (wanted[name] if wanted[name] is not None else header.dtype.names):
            if col.lower() not in by_lower:
                raise NpvaeError(f"{path}: HDU {name} has no column {col}")
            field_name = by_lower[col.lower()]
            values = rows[field_name]
            if values.dtype.kind in "fiu":
                values = _scaled(values, header, header.dtype.names.index(field_name) + 1)
            columns[col] = values
        out[name] = (header, columns)
        remaining.discard(name)
        if not remaining:
            break
    if remaining:
        raise NpvaeError(f"{path}: missing HDU {sorted(remaining)[0]}")
    return out


def read_rows(path, lo, hi, images=(), table=None, columns=()):
    """Rows lo:hi of 2-D image HDUs and of a binary table, reading only those rows' bytes.

    What one encoding task of a dataset file needs: astropy builds every column object of a
    table when it opens a file, a fixed cost that dominated a task of a thousand rows.

    Parameters
    ----------
    path : str or Path
    lo, hi : int, rows (clipped to the rows there are)
    images : EXTNAMEs of (N, M) images (BSCALE/BZERO applied)
    table : EXTNAME of a binary table, or None; ``columns`` its columns to return

    Returns
    -------
    (dict EXTNAME -> (R, M) array, dict column -> (R,) array): native byte order, strings as
    stripped str. Raises NpvaeError naming the file and the missing HDU or column, or truncation.
    """
    wanted = {name.upper() for name in images} | ({table.upper()} if table else set())
    found = {}
    with open(path, "rb") as f:
        while len(found) < len(wanted):
            header = _read_header(f, path)
            if header is None:
                raise NpvaeError(f"{path}: missing HDU {sorted(wanted - set(found))[0]}")
            start = f.tell()
            if header.name.upper() in wanted:
                found[header.name.upper()] = (header, start)
            f.seek(start + _padded(header.data_bytes))
        arrays = {name: _image_rows(f, path, *found[name.upper()], lo, hi) for name in images}
        cols = _table_rows(f, path, *found[table.upper()], lo, hi, columns) if table else {}
    return arrays, cols


def _read_rows(f, path, start, row_dtype, lo, hi, n_rows, what):
    """Rows lo:hi (clipped to the n_rows there are) of a data unit starting at ``start`` -> (R,) of
    ``row_dtype`` in file byte order (a sub-array dtype gives (R, M)), read straight into the array."""
    lo, hi = min(max(int(lo), 0), n_rows), min(max(int(hi), 0), n_rows)
    hi = max(hi, lo)
    rows = np.empty(hi - lo, row_dtype)                                           # (R,) or (R, M)
    f.seek(start + lo * row_dtype.itemsize)
    if f.readinto(rows.reshape(-1).view(np.uint8)) < rows.nbytes:
        raise NpvaeError(f"{path}: truncated FITS file (HDU {what}: rows {lo}..{hi} not all there)")
    return rows


def _image_rows(f, path, header, start, lo, hi):
    """Rows lo:hi of a 2-D image -> (R, M) native (scaled by BSCALE, BZERO if present).

    The rows are read straight into the array that is returned and byte-swapped there
    (:func:`npvae.data.arraykernels.to_native`): one buffer, no copy.
    """
    if int(header.get("NAXIS", 0)) != 2 or int(header.get("BITPIX", 0)) not in _BITPIX:
        raise NpvaeError(f"{path}: HDU {header.name} is not a 2-D image")
    dtype = np.dtype(_BITPIX[int(header.get("BITPIX"))])
    width, n_rows = int(header.get("NAXIS1")), int(header.get("NAXIS2"))
    values = _read_rows(f, path, start, np.dtype((dtype, (width,))), lo, hi, n_rows, header.name)   # (R, M)
    scale, zero = header.get("BSCALE", 1), header.get("BZERO", 0)
    if scale != 1 or zero != 0:
        return values * float(scale) + float(zero)
    return to_native(values)


def _table_rows(f, path, header, start, lo, hi, columns):
    """Columns of rows lo:hi of a binary table -> dict column -> (R,) native arrays, strings stripped str."""
    if header.dtype is None:
        raise NpvaeError(f"{path}: HDU {header.name} is not a binary table")
    rows = _read_rows(f, path, start, header.dtype, lo, hi, int(header.get("NAXIS2", 0)), header.name)   # (R,)
    names, out = list(header.dtype.names), {}
    for col in columns:
        if col not in names:
            raise NpvaeError(f"{path}: HDU {header.name} has no column {col}")
        values = rows[col]
        if values.dtype.kind == "S":
            out[col] = np.char.strip(values.astype(f"U{values.itemsize}"))   # ASCII, as np.char.decode
        else:
            out[col] = _scaled(values, header, names.index(col) + 1)
    return out


def verify_fits(path):
    """Check that ``path`` is a complete FITS file: every header parses, every data unit is there.

    Returns the number of HDUs. Raises NpvaeError (truncated, not FITS, empty).
    """
    size = os.path.getsize(path)
    if size == 0:
        raise NpvaeError(f"{path}: empty file")
    end, count = 0, 0
    with open(path, "rb") as f:
        while end < size:
            f.seek(end)
            header = _read_header(f, path)
            if header is None:
                break
            data_end = f.tell() + header.data_bytes
            if data_end > size:
                raise NpvaeError(f"{path}: truncated FITS file (HDU {count} needs {data_end} "
                                 f"bytes, file has {size})")
            end = f.tell() + _padded(header.data_bytes)
            count += 1
    if count == 0:
        raise NpvaeError(f"{path}: not a FITS file")
    return count
