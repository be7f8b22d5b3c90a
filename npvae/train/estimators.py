"""The models as scikit-learn-style estimators: the engine's classes plus ``fit``.

:class:`InfoVAE` and :class:`Autoencoder` are :class:`npvae.nn.model.InfoVAE` and
:class:`npvae.nn.model.Autoencoder` with a ``fit`` method that runs :func:`npvae.train.loop.fit`.
The engine (``npvae.nn``) knows nothing of training; this module joins the two, so
dependencies run one way (nn -> train). :func:`make_model` is the one place that builds a model
from its kind ("vae" or "ae") and :func:`load` reads a model file into these classes.
"""
from .. import nn, paper
from ..utils import NpvaeError
from .loop import fit

__all__ = ["InfoVAE", "Autoencoder", "make_model", "load", "KINDS"]


class _Trainable:
    """Adds ``fit`` to an engine model."""

    def fit(self, X, weights=None, X_val=None, weights_val=None, **options):
        """Train on spectra X (N, D) with inverse-variance weights (N, D); returns self.

        See :func:`npvae.train.loop.fit` for the options (batch size, epochs, checkpoint, ...).
        """
        return fit(self, X, weights, X_val, weights_val, **options)


class InfoVAE(_Trainable, nn.InfoVAE):
    __doc__ = nn.InfoVAE.__doc__


class Autoencoder(_Trainable, nn.Autoencoder):
    __doc__ = nn.Autoencoder.__doc__


KINDS = {"vae": InfoVAE, "ae": Autoencoder}


def make_model(kind, n_latent, *, n_features=paper.N_PIXELS, hidden=None, lam=None, alpha=paper.ALPHA,
               seed=0, **options):
    """A new untrained model of ``kind`` ("vae" or "ae") with ``n_latent`` latents.

    ``hidden`` and ``lam`` default to Table 1 for that latent size (:func:`npvae.paper.architecture`);
    ``lam`` and ``alpha`` are ignored for the autoencoder. Other options go to the constructor.
    """
    if kind not in KINDS:
        raise NpvaeError(f"model kind must be one of {sorted(KINDS)}, not {kind!r}")
    table_hidden, table_lam = paper.architecture(n_latent)
    hidden = table_hidden if hidden is None else hidden
    if kind == "vae":
        lam = table_lam if lam is None else lam
        return InfoVAE(n_features, hidden, n_latent, lam=lam, alpha=alpha, seed=seed, **options)
    return Autoencoder(n_features, hidden, n_latent, seed=seed, **options)


def load(path):
    """Load a model written by ``model.save(path)`` as a trainable InfoVAE or Autoencoder."""
    return nn.load(path, classes={"InfoVAE": InfoVAE, "Autoencoder": Autoencoder})
