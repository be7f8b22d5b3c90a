"""The loop around the engine: fit, schedule, validation objective, checkpoints, random search.

:mod:`~npvae.train.loop` runs minibatch Adam with the paper's schedule (:mod:`~npvae.train.schedule`)
and picks the best epoch by the validation objective (:mod:`~npvae.train.validation`,
:mod:`~npvae.train.history`); :mod:`~npvae.train.checkpoint` makes runs resumable bit for bit;
:mod:`~npvae.train.search` is the paper's random search (:mod:`~npvae.train.halving` with successive
halving); :mod:`~npvae.train.estimators` gives the
models their ``fit``. Docs: docs/training.md.
"""
from .estimators import Autoencoder, InfoVAE, load, make_model
from .loop import TrainingDiverged, TrainingInterrupted, fit
from .history import best_record
from .search import search
from .halving import search_halving

__all__ = ["InfoVAE", "Autoencoder", "load", "make_model", "fit", "TrainingInterrupted", "TrainingDiverged",
           "best_record", "search", "search_halving"]
