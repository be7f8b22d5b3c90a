"""Training checkpoints: everything needed to continue a run bit for bit, in one .npz file.

Goes with docs/training.md ("Checkpoints and resume"). A checkpoint holds the arrays (current
and best weights as flat buffers, the mean spectrum, Adam's moments, the validation noise, the
epoch's shuffling order) and a JSON string ``__meta__`` with the rest (format, model class and
config, Adam step and learning rate, scheduler and early-stopping state, the generator's
``bit_generator.state``, history, epoch, position inside the epoch, data fingerprint).
It is written with :func:`npvae.utils.atomic_write`, so a kill at any moment leaves the last
good checkpoint. Shapes: P parameters, N training spectra, V validation spectra, Z latent,
M prior samples, D pixels.
"""
import zlib

import numpy as np

from .._version import __version__
from ..nn.model_file import read_npz_with_meta, write_npz_with_meta
from ..utils import NpvaeError

__all__ = ["FORMAT", "save_checkpoint", "load_checkpoint", "data_fingerprint",
           "rng_state_to_json", "rng_state_from_json"]

FORMAT = "npvae-checkpoint-1"
ARRAYS = ("flat", "best_flat", "mean", "adam_m", "adam_v", "order")


def data_fingerprint(X, dtype=None):
    """A cheap identity of a data set: shape and a CRC32 of up to 64 evenly spaced rows.  X (N, D).

    Only those rows are read, so X may be lazy rows of a sharded dataset; ``dtype`` is the one
    the rows are trained in (the same data give the same fingerprint in memory or lazy).
    """
    step = max(1, len(X) // 64)
    rows = np.ascontiguousarray(X[np.arange(0, len(X), step)[:64]], dtype)     # (<=64, D)
    return f"{X.shape[0]}x{X.shape[1]}:{zlib.crc32(rows.tobytes()):08x}"


def rng_state_to_json(state):
    """``bit_generator.state`` with numpy arrays (MT19937's key) made JSON-serialisable."""
    if isinstance(state, dict):
        return {k: rng_state_to_json(v) for k, v in state.items()}
    if isinstance(state, np.ndarray):
        return {"__ndarray__": state.tolist(), "dtype": state.dtype.str}
    if isinstance(state, np.integer):
        return int(state)
    return state


def rng_state_from_json(state):
    """Inverse of :func:`rng_state_to_json`."""
    if isinstance(state, dict) and "__ndarray__" in state:
        return np.array(state["__ndarray__"], dtype=state["dtype"])
    if isinstance(state, dict):
        return {k: rng_state_from_json(v) for k, v in state.items()}
    return state


def save_checkpoint(path, arrays, meta):
    """Write ``arrays`` (dict of ndarray, see ARRAYS; plus optional ``val_eps``, ``val_prior``)
    and ``meta`` (JSON-serialisable dict) to ``path`` atomically."""
    write_npz_with_meta(path, arrays, dict(meta, format=FORMAT, npvae_version=__version__))


def load_checkpoint(path, model):
    """Read a checkpoint written for ``model``'s architecture; return (arrays, meta).

    Raises
    ------
    NpvaeError
        If the file is missing, unreadable or truncated, not an npvae checkpoint, or written
        for another model class, configuration or parameter count; the message names the file.
    """
    arrays, meta = read_npz_with_meta(path, "npvae checkpoint", FORMAT)
    _check_matches(path, arrays, meta, model)
    return arrays, meta


def _check_matches(path, arrays, meta, model):
    """Raise NpvaeError unless the checkpoint's class, config and array sizes fit ``model``."""
    if meta.get("class") != type(model).__name__:
        raise NpvaeError(f"{path}: checkpoint is for a {meta.get('class')}, the model is a "
                         f"{type(model).__name__}")
    if meta.get("config") != model.config():
        raise NpvaeError(f"{path}: checkpoint was written for another model configuration: "
                         f"{meta.get('config')} != {model.config()}")
    missing = [k for k in ARRAYS if k not in arrays]
    if missing:
        raise NpvaeError(f"{path}: checkpoint lacks the arrays {missing}")
    for key in ("flat", "best_flat", "adam_m", "adam_v"):
        if arrays[key].shape != model.flat_params.shape or arrays[key].dtype != model.flat_params.dtype:
            raise NpvaeError(f"{path}: '{key}' is {arrays[key].dtype} {arrays[key].shape}, the model "
                             f"has {model.flat_params.dtype} {model.flat_params.shape}")
    if arrays["mean"].shape != model.mean_.shape:
        raise NpvaeError(f"{path}: mean spectrum has shape {arrays['mean'].shape}, "
                         f"expected {model.mean_.shape}")
