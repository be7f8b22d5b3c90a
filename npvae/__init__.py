"""npvae: the InfoVAE of Portillo et al. (2020) for SDSS spectra, in NumPy with hand-written gradients.

Main entry points: :class:`InfoVAE`, :class:`Autoencoder`, :func:`load`, :class:`Adam`,
:func:`load_dataset`, :func:`search`, the command line ``npvae``. See README.md and docs/.
"""
from ._version import __version__
from .adam import Adam
from .data.dataset import load_dataset
from .io import load
from .model import Autoencoder, InfoVAE
from .search import search

__all__ = ["__version__", "InfoVAE", "Autoencoder", "Adam", "load", "load_dataset", "search"]
