"""The synthetic SDSS-like survey: E-MILES stellar populations, nebular lines, quasars, sky and noise.

``generate(n, rng)`` returns observed-frame :class:`npvae.data.record.Spectrum` records;
``make_dataset(n, rng, path)`` runs them through the preprocessing into a Dataset.
Physics and provenance: docs/synthetic.md.
"""
from .survey import generate
from .dataset import make_dataset

__all__ = ["generate", "make_dataset"]
