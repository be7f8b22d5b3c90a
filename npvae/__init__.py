"""npvae: the InfoVAE of Portillo et al. (2020) for SDSS spectra, in NumPy with hand-written gradients.

Main entry points: :class:`InfoVAE`, :class:`Autoencoder`, :func:`load`, :class:`Adam`,
:func:`load_dataset`, :func:`search`, :func:`encode_spectra`, the command line ``npvae``.
The layout, one way down: ``paper`` (the paper's facts) and ``utils``; ``nn`` (the engine: start
reading here) and ``data``; ``synthetic``; ``distributed``; ``train``; ``baselines``;
``analysis``; ``apply``; ``plots``; ``explore``; ``reproduce``; ``commands`` and ``cli``.
See README.md and docs/design.md.

The entry points are imported on first use (``npvae.InfoVAE``, ``from npvae import load``), as
in SciPy (Scientific Python's SPEC 1): ``import npvae`` alone imports nothing heavy, so that the
``npvae`` command can start a local cluster's fork server before its own imports
(:mod:`npvae.forkserver`). Each entry point's module is in :data:`ENTRY_POINTS`; the house test
of the import graph reads it as imports of this package.
"""
import importlib

from ._version import __version__

# entry point -> the module (relative to npvae) that defines it, imported on first use
ENTRY_POINTS = {"InfoVAE": "train.estimators", "Autoencoder": "train.estimators", "load": "train.estimators",
                "make_model": "train.estimators", "Adam": "nn.adam", "load_dataset": "data.dataset",
                "search": "train.search", "encode_spectra": "apply"}

__all__ = ["__version__", "InfoVAE", "Autoencoder", "Adam", "load", "load_dataset", "make_model", "search",
           "encode_spectra"]


def __getattr__(name):
    """An entry point of :data:`ENTRY_POINTS`, its module imported now (then kept as an attribute)."""
    if name not in ENTRY_POINTS:
        raise AttributeError(f"module 'npvae' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{ENTRY_POINTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *ENTRY_POINTS})
