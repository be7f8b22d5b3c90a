"""The Numba kernels of the encode and preprocess tasks, loaded once: imported by the workers' fork server.

A process loads a Numba kernel (from its cache in ``__pycache__``) the first time it calls it:
about a quarter of a second over the kernels of an encode task, spent by each worker of a local
cluster in its first task. The fork server those workers are forked from imports this module
(through :mod:`npvae.workerboot`), which calls each kernel once on a few made-up rows of
the types the tasks give it, so that every worker starts with them loaded. Importing this module
does that (:func:`load_kernels`) and nothing else; tests/apply/test_preload.py checks that an
encode of raw files then loads no kernel of its own.

Shapes: N rows, P raw pixels, D pixels, K basis vectors, Z latent dimensions.
"""
import numpy as np

from ..analysis.outliers import fit_lof_reference
from ..data.arraykernels import count_per_row, to_native
from ..data.infill import basis_infill
from ..data.rebin import rebin_rows
from ..nn.layers import linear_act_forward

__all__ = ["load_kernels"]


def load_kernels():
    """Call each kernel of an encode or preprocess task once, with the types the tasks use."""
    rng = np.random.default_rng(0)
    fit_lof_reference(rng.standard_normal((30, 6)), 5)                          # the kd-tree's two kernels
    flux = rng.standard_normal((3, 8)).astype(np.float32)                       # (N, D)
    mask = np.zeros((3, 8), bool)                                               # (N, D)
    mask[:, 2] = True
    to_native(flux.astype(">f4"))                                               # rows read from a FITS file
    count_per_row(mask)
    basis = np.linalg.qr(rng.standard_normal((8, 2)))[0]                        # (D, K)
    basis_infill(flux, mask, np.zeros(8), basis, weight=np.ones((3, 8), np.float32))
    linear_act_forward(flux, np.ones((8, 4), np.float32), np.zeros(4, np.float32), 0.01)
    edges = np.log10(np.linspace(3800.0, 9200.0, 9))[None, :].repeat(3, axis=0)   # (N, P+1)
    rebin_rows(edges, flux, np.ones((3, 8), np.float32), ~mask, np.log10(np.linspace(4000.0, 9000.0, 5)),
               np.full(3, 8, np.int64))


load_kernels()
