"""Saving and loading models: one .npz with the weights, the mean spectrum and JSON metadata.

The metadata (architecture, lam, alpha, activation, dtype, npvae version, training history)
is stored as a JSON string under ``__meta__``, so the file loads with
``np.load(path, allow_pickle=False)`` in any tool; the weights are under their
``model.params`` names (``enc1.W`` ...).
"""
import json
import zipfile
import zlib

import numpy as np

from ._version import __version__
from .utils import NpvaeError, atomic_write

__all__ = ["save_model", "load", "write_npz_with_meta", "read_npz_with_meta"]

FORMAT = "npvae-model-1"


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


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    meta = {"format": FORMAT, "class": type(model).__name__, "config": model.config(),
            "npvae_version": __version__, "history": model.history_}
    write_npz_with_meta(path, dict(model.params, mean=model.mean_), meta)


def load(path):
    """Load a model written by ``model.save(path)``: an InfoVAE or an Autoencoder."""
    from .model import Autoencoder, InfoVAE

    arrays, meta = read_npz_with_meta(path, "npvae model file", FORMAT)
    classes = {"InfoVAE": InfoVAE, "Autoencoder": Autoencoder}
    if meta.get("class") not in classes:
        raise NpvaeError(f"{path}: unknown model class {meta.get('class')!r} in '__meta__'")
    try:
        model = classes[meta["class"]](**meta["config"])
    except (TypeError, KeyError, ValueError) as err:
        raise NpvaeError(f"{path}: bad model configuration in '__meta__' ({err})") from err
    targets = dict(model.params, mean=model.mean_)
    for key, value in targets.items():
        if key not in arrays:
            raise NpvaeError(f"{path}: {'parameter ' if key != 'mean' else ''}{key!r} is missing")
        if arrays[key].shape != value.shape:
            raise NpvaeError(f"{path}: {key!r} has shape {arrays[key].shape}, expected {value.shape}")
        value[...] = arrays[key]
    model.history_ = meta.get("history", [])
    return model
