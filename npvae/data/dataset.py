"""The npvae dataset file: one self-describing, memory-mappable FITS file.

HDUs: PRIMARY (keywords NPVFMT, NSPEC, NPIX and the ``meta`` dict as JSON in NPVMETA),
``FLUX`` (N, M) float32, ``WEIGHT`` (N, M) float32, ``MASK`` (N, M) uint8 (1 = bad / infilled),
``WAVE`` (M,) float64 rest-frame Angstrom, ``CATALOG`` binary table with at least
PLATE, MJD, FIBERID, Z, CLASS, LABEL, SN_MEDIAN, SPLIT. Written atomically (a crash never
leaves a half-written file over an existing one). A dataset may also be a folder of such files
with a manifest (:mod:`npvae.data.shards`): :func:`load_dataset` opens either, the folder as one
lazily concatenated Dataset. Docs: docs/data.md, docs/design.md, docs/scale.md.
Shapes: N spectra, M pixels.
"""
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table, vstack
from astropy.utils.exceptions import AstropyUserWarning

from ..utils import NpvaeError, atomic_write
from .fitsfast import iter_hdus
from .preprocess import REST_WAVE
from .rowfiles import RowFiles
from .shards import ShardedArray, file_record, read_manifest, shard_name

__all__ = ["Dataset", "write_dataset", "write_shard", "load_dataset", "dataset_meta", "load_training_rows", "training_class_rows",
           "is_dataset_file", "pipeline_stars", "pipeline_galaxies_and_quasars", "TRAINING_CLASSES",
           "REQUIRED_COLUMNS", "FORMAT_NAME"]

FORMAT_NAME = "npvae-dataset-1"
REQUIRED_COLUMNS = ("PLATE", "MJD", "FIBERID", "Z", "CLASS", "LABEL", "SN_MEDIAN", "SPLIT")
IMAGE_HDUS = ("FLUX", "WEIGHT", "MASK", "WAVE")

# Sec. 3: "We then only keep spectra that are classified by SDSS's spectroscopic pipeline
# spectro1d as galaxies (SPEC_CLN=2) or quasars (SPEC_CLN=3)" -- CLASS GALAXY and QSO here;
# stars, UNKNOWN and SKY spectra are left out of training.
TRAINING_CLASSES = ("GALAXY", "QSO")


def _pipeline_class(catalog):
    """(N,) str: the catalogue's CLASS column, stripped and upper case."""
    return np.char.upper(np.char.strip(np.asarray(catalog["CLASS"], dtype=str)))


def pipeline_stars(catalog):
    """(N,) bool: the rows of a dataset catalogue whose pipeline CLASS is STAR."""
    return _pipeline_class(catalog) == "STAR"


def pipeline_galaxies_and_quasars(catalog):
    """(N,) bool: the rows whose pipeline CLASS is GALAXY or QSO (the paper's training classes)."""
    return np.isin(_pipeline_class(catalog), TRAINING_CLASSES)


@dataclass
class Dataset:
    """Arrays and catalogue of a dataset file (memory-mapped arrays are big-endian views).

    For a sharded dataset opened with ``memmap`` the arrays are
    :class:`npvae.data.shards.ShardedArray`: index them (``ds.flux[rows]``) or ``np.asarray``.
    """

    flux: np.ndarray            # (N, M) float32
    weight: np.ndarray          # (N, M) float32
    mask: np.ndarray            # (N, M) uint8
    wave: np.ndarray            # (M,) float64
    catalog: Table
    meta: dict = field(default_factory=dict)
    path: str = ""
    _hdul: object = field(default=None, repr=False)

    def __len__(self):
        return len(self.flux)

    @property
    def labels(self):
        """LABEL column as a str array (N,)."""
        return np.asarray(self.catalog["LABEL"], dtype=str)

    @property
    def split(self):
        """SPLIT column as a str array (N,): "train" or "valid"."""
        return np.asarray(self.catalog["SPLIT"], dtype=str)

    def subset(self, name):
        """A Dataset of the rows whose SPLIT is ``name`` ("train" or "valid"), in memory."""
        if name not in ("train", "valid"):
            raise NpvaeError(f"{self.path}: subset must be 'train' or 'valid', not {name!r}")
        part = self.rows(np.flatnonzero(self.split == name))
        part.meta["subset"] = name
        return part

    def rows(self, keep):
        """A Dataset of the rows selected by ``keep`` (bool mask or indices), in memory."""
        keep = np.asarray(keep)
        return Dataset(flux=np.asarray(self.flux[keep], np.float32),
                       weight=np.asarray(self.weight[keep], np.float32),
                       mask=np.asarray(self.mask[keep], np.uint8), wave=np.asarray(self.wave),
                       catalog=self.catalog[keep], meta=dict(self.meta), path=self.path)

    @property
    def is_star(self):
        """(N,) bool: the pipeline CLASS is STAR."""
        return pipeline_stars(self.catalog)

    @property
    def is_galaxy_or_quasar(self):
        """(N,) bool: the pipeline CLASS is GALAXY or QSO."""
        return pipeline_galaxies_and_quasars(self.catalog)

    def galaxies_and_quasars(self):
        """The rows whose pipeline CLASS is GALAXY or QSO, as the paper trains: no STAR, UNKNOWN, SKY."""
        return self.rows(self.is_galaxy_or_quasar)

    without_stars = galaxies_and_quasars          # the former name

    def close(self):
        """Close the underlying file (memory-mapped arrays become invalid)."""
        if self._hdul is not None:
            self._hdul.close()
            self._hdul = None


def _check_shapes(flux, weight, mask, wave, catalog, where, colnames=None):
    """NpvaeError unless the arrays and catalogue agree; ``colnames``: the file's catalogue columns (default the table's)."""
    if flux.ndim != 2:
        raise NpvaeError(f"{where}: FLUX must be 2-D (N, M), got shape {flux.shape}")
    for name, arr in (("WEIGHT", weight), ("MASK", mask)):
        if arr.shape != flux.shape:
            raise NpvaeError(f"{where}: {name} has shape {arr.shape}, FLUX has {flux.shape}")
    if wave.shape != (flux.shape[1],):
        raise NpvaeError(f"{where}: WAVE has shape {wave.shape}, expected ({flux.shape[1]},)")
    if len(catalog) != flux.shape[0]:
        raise NpvaeError(f"{where}: CATALOG has {len(catalog)} rows, FLUX has {flux.shape[0]}")
    for col in REQUIRED_COLUMNS:
        if col not in (catalog.colnames if colnames is None else colnames):
            raise NpvaeError(f"{where}: HDU CATALOG has no column {col}")


def write_dataset(path, flux, weight, mask, catalog, wave=REST_WAVE, meta=None):
    """Write a dataset file atomically; returns the path.

    Parameters
    ----------
    flux, weight : array (N, M), written as float32
    mask : array (N, M), written as uint8 (nonzero -> 1)
    catalog : astropy Table with at least REQUIRED_COLUMNS, N rows
    wave : array (M,) Angstrom
    meta : dict, JSON-serialisable, stored in the primary header
    """
    flux = np.asarray(flux, np.float32)
    weight = np.asarray(weight, np.float32)
    mask = (np.asarray(mask) != 0).astype(np.uint8)
    wave = np.asarray(wave, np.float64)
    catalog = Table(catalog, copy=False)
    _check_shapes(flux, weight, mask, wave, catalog, str(path))
    primary = fits.PrimaryHDU()
    primary.header["NPVFMT"] = (FORMAT_NAME, "npvae dataset file format")
    primary.header["NSPEC"] = (flux.shape[0], "number of spectra")
    primary.header["NPIX"] = (flux.shape[1], "pixels per spectrum")
    primary.header["NPVMETA"] = json.dumps(meta or {}, default=str)
    hdus = [primary,
            fits.ImageHDU(flux, name="FLUX"), fits.ImageHDU(weight, name="WEIGHT"),
            fits.ImageHDU(mask, name="MASK"), fits.ImageHDU(wave, name="WAVE")]
    hdus[-1].header["BUNIT"] = "Angstrom"
    hdus.append(fits.table_to_hdu(catalog))
    hdus[-1].name = "CATALOG"
    with atomic_write(path) as tmp:
        fits.HDUList(hdus).writeto(tmp, overwrite=True)
    return path


def is_dataset_file(path):
    """True when ``path`` is an npvae dataset file (its primary header names the format)."""
    try:
        for _, header, _ in iter_hdus(path):          # the primary header only
            return str(header.get("NPVFMT", "")).strip() == FORMAT_NAME
    except (NpvaeError, OSError):
        return False
    return False


def _table_from_hdu(hdu, columns=None, where=""):
    """The catalogue HDU as an in-memory Table (strings decoded and stripped); only ``columns`` if given."""
    if columns is None:
        table = Table(hdu.data, copy=True)
    else:
        missing = [c for c in columns if c not in hdu.columns.names]
        if missing:
            raise NpvaeError(f"{where}: HDU CATALOG has no column {missing[0]}")
        table = Table({c: np.array(hdu.data[c]) for c in columns})
    for name in table.colnames:
        if table[name].dtype.kind == "S":
            table[name] = np.char.strip(np.char.decode(np.asarray(table[name]), "ascii"))
    return table


def dataset_meta(path):
    """The ``meta`` dict of a dataset file (its primary header) or sharded folder (its manifest), nothing else read."""
    path = Path(path)
    if path.is_dir():
        manifest = read_manifest(path)
        return {**manifest["meta"], "shards": len(manifest["shards"])}
    try:
        header = fits.getheader(path, 0)                 # the primary header only
    except OSError as err:
        raise NpvaeError(f"{path}: not a readable FITS file ({err})") from err
    return _meta_of(header, path)


def _meta_of(header, path):
    """The ``meta`` dict stored as JSON in a dataset file's primary header (NPVMETA)."""
    try:
        return json.loads(header.get("NPVMETA", "{}"))
    except json.JSONDecodeError as err:
        raise NpvaeError(f"{path}: HDU PRIMARY keyword NPVMETA is not valid JSON") from err


def load_training_rows(path, all_classes=False):
    """Load a dataset file into memory, keeping only GALAXY and QSO rows unless ``all_classes``.

    Raises NpvaeError if no row is left.
    """
    ds = load_dataset(path, memmap=False)
    return ds if all_classes else ds.rows(training_class_rows(ds))


def training_class_rows(ds, all_classes=False):
    """(N,) bool: the rows of Dataset ``ds`` that are trained on, GALAXY and QSO unless ``all_classes``.

    Raises NpvaeError if no row is left.
    """
    if all_classes:
        return np.ones(len(ds), bool)
    kept = ds.is_galaxy_or_quasar
    if not kept.any():
        found = sorted(set(_pipeline_class(ds.catalog)))
        raise NpvaeError(f"{ds.path}: HDU CATALOG column CLASS has no GALAXY or QSO rows "
                         f"(found {found}); use --all-classes to train on every row")
    return kept


def write_shard(folder, index, flux, weight, mask, catalog, meta=None):
    """Write shard ``index`` of a sharded dataset (atomically); returns its manifest record."""
    name = shard_name(index)
    write_dataset(Path(folder) / name, flux, weight, mask, catalog, meta=meta)
    return file_record(folder, name, index=int(index), rows=int(len(catalog)))


def load_dataset(path, memmap=True, columns=None):
    """Open a dataset file or a sharded dataset folder.

    With ``memmap`` the image arrays are read-only memory maps (a folder's are
    :class:`npvae.data.shards.ShardedArray` over its shards); without, they are read into memory.
    ``columns``: the catalogue columns to read (None = all; a million spectra's full catalogue
    is about a gigabyte in memory).
    Raises NpvaeError naming the file and the missing or malformed HDU / column, or saying
    that the file is truncated (astropy only warns about that).
    """
    if Path(path).is_dir():
        return _load_shards(Path(path), memmap, columns)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="File may have been truncated", category=AstropyUserWarning)
        try:
            return _open_dataset(str(path), memmap, columns)
        except AstropyUserWarning as err:
            raise NpvaeError(f"{path}: the dataset file is truncated ({err}); write it again") from err


def _open_dataset(path, memmap, columns=None):
    try:
        hdul = fits.open(path, memmap=memmap, mode="readonly")
    except FileNotFoundError as err:
        raise NpvaeError(f"{path}: no such dataset file") from err
    except OSError as err:
        raise NpvaeError(f"{path}: not a readable FITS file ({err})") from err
    try:
        names = [h.name.upper() for h in hdul]
        for name in IMAGE_HDUS + ("CATALOG",):
            if name not in names:
                raise NpvaeError(f"{path}: missing HDU {name}")
        arrays = {}
        for name in IMAGE_HDUS:
            data = hdul[name].data
            if data is None:
                raise NpvaeError(f"{path}: HDU {name} has no data")
            arrays[name] = data if memmap else np.array(data, dtype=data.dtype.newbyteorder("="))
        catalog = _table_from_hdu(hdul["CATALOG"], columns, path)
        _check_shapes(arrays["FLUX"], arrays["WEIGHT"], arrays["MASK"], arrays["WAVE"], catalog, path,
                      hdul["CATALOG"].columns.names)
        meta = _meta_of(hdul[0].header, path)
    except Exception:
        hdul.close()
        raise
    dataset = Dataset(flux=arrays["FLUX"], weight=arrays["WEIGHT"], mask=arrays["MASK"],
                      wave=arrays["WAVE"], catalog=catalog, meta=meta, path=path,
                      _hdul=hdul if memmap else None)
    if not memmap:
        hdul.close()
    return dataset


class _AllShards:
    """Closes every shard file of a sharded Dataset at once (and the files its rows are read from)."""

    def __init__(self, shards, readers=()):
        self.shards, self.readers = shards, readers

    def close(self):
        for shard in self.shards:
            shard.close()
        for reader in self.readers:
            reader.close()


def _row_files(shards, name):
    """:class:`RowFiles` of HDU ``name`` of memory-mapped shards: where each one's rows lie in its file.

    None when an HDU stores scaled values (BZERO/BSCALE), which only the memory map decodes.
    """
    offsets = []
    for shard in shards:
        hdu = shard._hdul[name]
        if hdu.header.get("BZERO", 0) != 0 or hdu.header.get("BSCALE", 1) != 1:
            return None
        offsets.append(shard._hdul.fileinfo(shard._hdul.index_of(name))["datLoc"])
    first = getattr(shards[0], name.lower())
    return RowFiles([s.path for s in shards], offsets, first.dtype, first.shape[1:])


def _load_shards(folder, memmap, columns=None):
    """A sharded dataset folder as one Dataset (catalogues concatenated in memory)."""
    manifest = read_manifest(folder)
    shards = [load_dataset(folder / record["file"], memmap=memmap, columns=columns) for record in manifest["shards"]]
    try:
        for record, shard in zip(manifest["shards"], shards):
            if len(shard) != record["rows"]:
                raise NpvaeError(f"{shard.path}: {len(shard)} spectra, the manifest says {record['rows']}")
            if not np.array_equal(shard.wave, shards[0].wave):
                raise NpvaeError(f"{shard.path}: HDU WAVE differs from {shards[0].path}'s")
        try:
            tables = [shard.catalog for shard in shards if len(shard)] or [shards[0].catalog]   # an empty
            catalog = vstack(tables, join_type="exact")          # shard (every file skipped) has no line columns
        except Exception as err:
            raise NpvaeError(f"{folder}: the shards' CATALOG columns differ ({err})") from err
    except Exception:
        _AllShards(shards).close()
        raise
    meta = {**manifest["meta"], "shards": len(shards)}
    arrays = {}
    for name in ("FLUX", "WEIGHT", "MASK"):
        parts = [getattr(s, name.lower()) for s in shards]
        arrays[name] = ShardedArray(parts, files=_row_files(shards, name)) if memmap else np.concatenate(parts)
    readers = [a.files for a in arrays.values() if memmap and a.files is not None]
    if memmap:
        arrays["FLUX"].release()            # the catalogues' pages, read through the maps: unmapped
    return Dataset(flux=arrays["FLUX"], weight=arrays["WEIGHT"], mask=arrays["MASK"],
                   wave=np.array(shards[0].wave, np.float64), catalog=catalog, meta=meta, path=str(folder),
                   _hdul=_AllShards(shards, readers) if memmap else None)
