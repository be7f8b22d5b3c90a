"""The synthetic survey in shards: each shard made from (seed, shard index) alone.

A :class:`ShardPlan` cuts ``n`` spectra into shards of ``shard_size``. Shard k draws its own
population, builds and preprocesses it with a generator spawned from (seed, k) by
``np.random.SeedSequence``, so a shard is the same whichever process, machine or order makes
it. The iterative-PCA infill basis is fitted once, on a separate seeded sample of
``min(n, INFILL_SAMPLE)`` spectra (:func:`fit_shard_basis`), and every shard is infilled with
that one basis (:func:`npvae.data.infill.basis_infill`): the shards do not depend on how the
work was split. The Dask plumbing that maps :func:`make_shard` over shards is
:mod:`npvae.distributed`. Docs: docs/scale.md. Shapes: N spectra in a shard, M rest pixels,
K infill eigenvectors.
"""
from dataclasses import asdict, dataclass

import numpy as np

from ..data.infill import basis_infill, iterative_pca_infill
from ..data.preprocess import MIN_COVERAGE, concat_parts, finish, prepare_chunk
from ..data.shards import DEFAULT_SHARD_SIZE
from ..paper import INFILL_EIGENVECTORS, INFILL_ITERATIONS, SN_CAP
from ..utils import NpvaeError
from .survey import batch_plan, build_records

__all__ = ["ShardPlan", "INFILL_SAMPLE", "prepared_spectra", "fit_shard_basis", "make_shard"]

INFILL_SAMPLE = 5000     # spectra of the separate sample the infill basis is fitted on
_BASIS_KEY, _SHARDS_KEY = 0, 1      # SeedSequence spawn keys: (0,) the basis sample, (1, k) shard k


@dataclass(frozen=True)
class ShardPlan:
    """What a sharded synthetic survey is: size, shard size, seed, classes and preprocessing.

    Everything a shard depends on is here, so a plan (a small picklable object) is all a
    worker needs besides the basis.
    """

    n: int
    shard_size: int = DEFAULT_SHARD_SIZE
    seed: int = 0
    fractions: dict = None
    infill: bool = True
    sn_cap: float = SN_CAP
    min_coverage: float = MIN_COVERAGE
    dilate: int = 2
    n_ev: int = INFILL_EIGENVECTORS
    n_iter: int = INFILL_ITERATIONS

    def __post_init__(self):
        if int(self.n) != self.n or self.n < 1:
            raise NpvaeError(f"n = {self.n}: need at least one spectrum")
        if int(self.shard_size) != self.shard_size or self.shard_size < 1:
            raise NpvaeError(f"shard size {self.shard_size}: need at least one spectrum per shard")

    @property
    def n_shards(self):
        return -(-self.n // self.shard_size)

    def rows(self, index):
        """(first object number, number of objects) of shard ``index``."""
        start = index * self.shard_size
        return start, min(self.shard_size, self.n - start)

    def shard_seed(self, index):
        """The SeedSequence of shard ``index``: spawn key (1, index) of the plan's seed."""
        return np.random.SeedSequence(self.seed, spawn_key=(_SHARDS_KEY, int(index)))

    def basis_seed(self):
        """The SeedSequence of the infill-basis sample: spawn key (0,) of the plan's seed."""
        return np.random.SeedSequence(self.seed, spawn_key=(_BASIS_KEY,))

    def as_dict(self):
        """The plan as a JSON-friendly dict (the manifest's ``plan``)."""
        return asdict(self)

    def preprocessing(self):
        """Options of the preprocessing steps, for the metadata."""
        return {"sn_cap": self.sn_cap, "min_coverage": self.min_coverage, "dilate": self.dilate,
                "infill": self.infill, "n_ev": self.n_ev, "n_iter": self.n_iter,
                "infill_sample": min(self.n, INFILL_SAMPLE)}


def prepared_spectra(first, count, rng, plan):
    """``count`` synthetic spectra numbered from ``first``, built and prepared batch by batch.

    Returns what :func:`npvae.data.preprocess.concat_parts` returns: (flux, weight, mask, rows,
    skipped), no labels, split or infill yet. One thread: the parallelism is across shards.
    """
    starts, batches, batch_rngs = batch_plan(count, rng, plan.fractions)
    options = {"sn_cap": plan.sn_cap, "min_coverage": plan.min_coverage, "dilate": plan.dilate}
    parts = [prepare_chunk(build_records(first + start, batch, batch_rng), **options)
             for start, batch, batch_rng in zip(starts, batches, batch_rngs)]
    return concat_parts(parts)


def fit_shard_basis(plan):
    """The infill basis of a plan: mu (M,), V (M, K) float64 from its separate sample; None without infill.

    The sample is ``min(n, INFILL_SAMPLE)`` spectra drawn from the plan's basis seed, infilled
    by the iterative PCA of the single-file path; the basis of its last iteration is returned.
    """
    if not plan.infill:
        return None
    rng = np.random.default_rng(plan.basis_seed())
    flux, _, mask, _, _ = prepared_spectra(0, min(plan.n, INFILL_SAMPLE), rng, plan)
    if len(flux) <= plan.n_ev:
        return None
    _, mu, V = iterative_pca_infill(flux, mask, n_ev=plan.n_ev, n_iter=plan.n_iter, rng=rng,
                                    return_basis=True)
    return mu, V


def make_shard(index, plan, basis):
    """Shard ``index`` of the plan: a PreprocessResult with labels, split and infill.

    ``basis`` is :func:`fit_shard_basis`'s (mu, V), or None to set bad pixels to 0.
    """
    if not 0 <= index < plan.n_shards:
        raise NpvaeError(f"shard {index}: the plan has shards 0 to {plan.n_shards - 1}")
    rng = np.random.default_rng(plan.shard_seed(index))
    first, count = plan.rows(index)
    res = finish(*prepared_spectra(first, count, rng, plan), infill=False, rng=rng, verbose=False)
    if basis is not None:
        res.flux = basis_infill(res.flux, res.mask, *basis)             # (N, M)
    return res
