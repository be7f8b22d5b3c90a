"""The npz-with-metadata file format of models and checkpoints: arrays plus one JSON string.

The metadata (architecture, lam, alpha, activation, dtype, npvae version, training history)
is stored as a JSON string under ``__meta__``, so the file loads with
``np.load(path, allow_pickle=False)`` in any tool; the weights are under their
``model.params`` names (``enc1.W`` ...).
"""
import json
import zipfile
import zlib

import numpy as np

from ..utils import NpvaeError, atomic_write

__all__ = ["MODEL_FORMAT", "write_npz_with_meta", "read_npz_with_meta"]

MODEL_FORMAT = "npvae-model-1"   # meta["format"] of a model file (npvae.nn.model.load)


def write_npz_with_meta(path, arrays, meta):
    """Write arrays (dict) and ``meta`` (JSON-serialisable dict, under ``__meta__``) atomically."""
    payload = {k: v for k, v in arrays.items() if v is not None}
    payload["__meta__"] = np.array(json.dumps(meta))
    with atomic_write(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)


def read_npz_with_meta(path, what, fmt):
    """Read a file of :func:`write_npz_with_meta`; return (arrays, meta).

    ``what`` names the kind of file in error messages ("npvae model file", "checkpoint");
    ``fmt`` is the expected ``meta["format"]``. Every failure is an NpvaeError naming the file.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError as err:
        raise NpvaeError(f"{path}: {what} not found") from err
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise NpvaeError(f"{path}: not a readable {what} (truncated or corrupt: {err})") from err
    if "__meta__" not in arrays:
        raise NpvaeError(f"{path}: no '__meta__' entry: not an {what}")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as err:
        raise NpvaeError(f"{path}: the '__meta__' entry is not valid JSON ({err})") from err
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise NpvaeError(f"{path}: format {found!r} is not {fmt!r}: not an {what}")
    return arrays, meta
