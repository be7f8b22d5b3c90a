"""npvae: the InfoVAE of Portillo et al. (2020) for SDSS spectra, in NumPy with hand-written gradients.

Main entry points: :class:`InfoVAE`, :class:`Autoencoder`, :func:`load`, :class:`Adam`,
:func:`load_dataset`, :func:`search`, :func:`encode_spectra`, the command line ``npvae``.
The layout, one way down: ``paper`` (the paper's facts) and ``utils``; ``nn`` (the engine: start
reading here) and ``data``; ``synthetic``; ``distributed``; ``train``; ``baselines``;
``analysis``; ``apply``; ``plots``; ``explore``; ``reproduce``; ``commands`` and ``cli``.
See README.md and docs/design.md.
"""
from ._version import __version__
from .apply import encode_spectra
from .data.dataset import load_dataset
from .nn.adam import Adam
from .train.estimators import Autoencoder, InfoVAE, load, make_model
from .train.search import search

__all__ = ["__version__", "InfoVAE", "Autoencoder", "Adam", "load", "load_dataset", "make_model", "search",
           "encode_spectra"]
