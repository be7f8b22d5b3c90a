"""Saving and loading models: one .npz with the weights, the mean spectrum and JSON metadata.

The metadata (architecture, lam, alpha, activation, dtype, npvae version, training history)
is stored as a JSON string under ``__meta__``, so the file loads with
``np.load(path, allow_pickle=False)`` in any tool; the weights are under their
``model.params`` names (``enc1.W`` ...).
"""
import json
import zipfile

import numpy as np

from ._version import __version__
from .utils import NpvaeError, atomic_write

__all__ = ["save_model", "load"]

FORMAT = "npvae-model-1"


def save_model(model, path):
    """Write ``model`` to ``path`` atomically (temporary file, then rename)."""
    meta = {"format": FORMAT, "class": type(model).__name__, "config": model.config(),
            "npvae_version": __version__, "history": model.history_}
    arrays = {key: value for key, value in model.params.items()}
    arrays["mean"] = model.mean_
    arrays["__meta__"] = np.array(json.dumps(meta))
    with atomic_write(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def load(path):
    """Load a model written by ``model.save(path)``: an InfoVAE or an Autoencoder."""
    from .model import Autoencoder, InfoVAE

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as err:
        raise NpvaeError(f"{path}: not a readable npvae model file ({err})") from err
    if "__meta__" not in arrays:
        raise NpvaeError(f"{path}: no '__meta__' entry: not an npvae model file")
    try:
        meta = json.loads(str(arrays.pop("__meta__")))
    except json.JSONDecodeError as err:
        raise NpvaeError(f"{path}: the '__meta__' entry is not valid JSON ({err})") from err
    classes = {"InfoVAE": InfoVAE, "Autoencoder": Autoencoder}
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("class") not in classes:
        raise NpvaeError(f"{path}: unknown model format / class in '__meta__'")
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
