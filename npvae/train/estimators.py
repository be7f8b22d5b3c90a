"""The models as scikit-learn-style estimators: the engine's classes plus ``fit``.

:class:`InfoVAE` and :class:`Autoencoder` are :class:`npvae.nn.model.InfoVAE` and
:class:`npvae.nn.model.Autoencoder` with a ``fit`` method that runs :func:`npvae.train.loop.fit`.
The engine (``npvae.nn``) knows nothing of training; this module joins the two, so
dependencies run one way (nn -> train). :func:`make_model` is the one place that builds a model
from its kind ("vae" or "ae") and :func:`load` reads a model file into these classes.

A trained model also carries what applying it to new spectra needs (docs/encode.md):
``preprocessing``, the recipe that takes a raw spectrum to its input
(:class:`npvae.data.recipe.Preprocessing`, set by ``npvae train`` and ``npvae reproduce``), and
``train_latents_``, the latent means of (up to :data:`MAX_TRAIN_LATENTS` of) its training spectra,
the reference of the outlier score. Both are saved in the model file; older files load with None.
A noise-aware InfoVAE's ``fit`` ends by polishing its decoder on the spectra as given, encoder
frozen (:func:`npvae.train.polish.polish_decoder`), then calibrating its latent variance
(:func:`npvae.train.calibrate.calibrate_logvar`, folded into the log-variance head); the record of
that calibration, ``logvar_calibration_``, is saved too (None for any other model).
Shapes: N spectra, D pixels, Z latent.
"""
from pathlib import Path

import numpy as np

from .. import nn, paper
from ..data.recipe import Preprocessing
from ..data.shards import ShardedArray
from ..nn.model import ENCODE_CHUNK
from ..utils import NpvaeError, as_generator
from .calibrate import calibrate_logvar
from .loop import fit
from .polish import POLISH_EPOCHS, check_polish, polish_decoder

__all__ = ["InfoVAE", "Autoencoder", "make_model", "load", "KINDS", "MAX_TRAIN_LATENTS"]

MAX_TRAIN_LATENTS = 20000     # training latent means kept in the model file (evenly spaced rows)
_TRAIN_LATENTS_KEY = "train_latents"
_CALIBRATION_KEY = "logvar_calibration"


class _Trainable:
    """Adds ``fit`` to an engine model, and the preprocessing recipe and training latents."""

    preprocessing = None      # npvae.data.recipe.Preprocessing, or None when unknown
    train_latents_ = None     # (N_ref, Z) training latent means, or None
    logvar_calibration_ = None   # dict, the latent-variance calibration of a noise-aware model, or None
    polish_history_ = None       # list of dict, the decoder polish of a noise-aware model's fit, or None

    def fit(self, X, weights=None, X_val=None, weights_val=None, calibrate=True, polish=POLISH_EPOCHS,
            **options):
        """Train on spectra X (N, D) with inverse-variance weights (N, D); returns self.

        See :func:`npvae.train.loop.fit` for the options (batch size, epochs, checkpoint, ...).
        Afterwards ``train_latents_`` holds the latent means of (up to MAX_TRAIN_LATENTS rows of) X.
        A noise-aware model then trains its decoder alone for ``polish`` epochs on X as given
        (:func:`npvae.train.polish.polish_decoder`; 0 to skip; the best epoch by validation recon
        term is kept when X_val is given), and calibrates its latent variance on noisy copies of training
        spectra (:func:`npvae.train.calibrate.calibrate_logvar`; ``calibrate``: True = target
        "scatter", or the target "scatter" / "error", or False to skip) and keeps the record in
        ``logvar_calibration_``.
        """
        if calibrate not in (True, False, "scatter", "error"):
            raise NpvaeError(f"calibrate must be True, False, 'scatter' or 'error', not {calibrate!r}")
        check_polish(polish)                               # before the training, not after it
        if self.noise_aware and polish and options.get("rng") is not None:
            options["rng"] = as_generator(options["rng"])   # one generator: the polish continues its draws
        fit(self, X, weights, X_val, weights_val, **options)
        if self.noise_aware and polish:
            self.polish_history_ = polish_decoder(self, X, weights, X_val, weights_val, epochs=polish,
                                                  batch_size=options.get("batch_size", 64),
                                                  rng=options.get("rng"), val_seed=options.get("val_seed", 0))
        if self.noise_aware and calibrate is not False:
            target = "scatter" if calibrate is True else calibrate
            self.logvar_calibration_ = calibrate_logvar(self, X, weights, target=target)
        if not isinstance(X, ShardedArray):               # lazy rows stay lazy: read by pieces below
            X = self.check_X(X)
        keep = np.unique(np.linspace(0, len(X) - 1, min(len(X), MAX_TRAIN_LATENTS)).astype(int))   # (N_ref,)
        # in the pieces that transform encodes anyway, so the same numbers as transform(X[keep])
        self.train_latents_ = np.concatenate([self._train_codes(X, weights, keep[s:s + ENCODE_CHUNK])
                                              for s in range(0, len(keep), ENCODE_CHUNK)])   # (N_ref, Z)
        return self

    def _train_codes(self, X, weights, rows):
        """Latent means of training rows (C,); a noise-aware encoder also reads their weights (ones if None)."""
        x = X[rows]                                                                 # (C, D)
        if not self.noise_aware:
            return self.transform(x)
        return self.transform(x, np.ones(np.shape(x), self.dtype) if weights is None else weights[rows])

    def save(self, path):
        """Write the model file, with the preprocessing recipe and training latents when known."""
        arrays, meta = self.preprocessing.to_file() if self.preprocessing is not None else ({}, {})
        if self.train_latents_ is not None:
            arrays[_TRAIN_LATENTS_KEY] = np.asarray(self.train_latents_, np.float32)
        if self.logvar_calibration_ is not None:
            meta[_CALIBRATION_KEY] = self.logvar_calibration_
        return super().save(path, extra_arrays=arrays, extra_meta=meta)


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
    """Load a model written by ``model.save(path)`` as a trainable InfoVAE or Autoencoder.

    ``path`` may be the folder ``npvae train --out`` wrote (its ``model.npz`` is read).
    ``preprocessing`` and ``train_latents_`` are None for a file that does not store them.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.npz"
    model = nn.load(path, classes={"InfoVAE": InfoVAE, "Autoencoder": Autoencoder})
    model.preprocessing = Preprocessing.from_file(model.extra_arrays_, model.extra_meta_, str(path))
    model.train_latents_ = model.extra_arrays_.get(_TRAIN_LATENTS_KEY)
    model.logvar_calibration_ = model.extra_meta_.get(_CALIBRATION_KEY)
    return model
