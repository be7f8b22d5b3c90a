"""The engine: the paper's equations 1-13 and nothing else. Start reading here.

Reading order: :mod:`~npvae.nn.layers` (linear and ReLU pairs), :mod:`~npvae.nn.losses`
(Gaussian likelihood, KL, MMD, reparameterization), :meth:`npvae.nn.model.InfoVAE.loss_and_grads`
(the forward and backward pass through the whole model), :mod:`~npvae.nn.adam`, and
:mod:`~npvae.nn.gradcheck`, which checks every gradient against finite differences.
:mod:`~npvae.nn.kernels` holds the Numba loops behind them, each beside a plain reference.
The derivations: docs/derivations/ (its README maps each paper equation to code and tests).
This package imports only NumPy, Numba, :mod:`npvae.paper` and :mod:`npvae.utils`.
"""
from .adam import Adam
from .model import MODEL_CLASSES, Autoencoder, InfoVAE, load

__all__ = ["Adam", "InfoVAE", "Autoencoder", "load", "MODEL_CLASSES"]
