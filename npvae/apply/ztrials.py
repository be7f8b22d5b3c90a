"""One spectrum made ready at many trial redshifts at once: the recipe's normalisation and infill.

A redshift scan (:mod:`npvae.apply.redshift`) needs each spectrum prepared exactly as the
model's recipe prepares a spectrum at a known z, at hundreds of trial redshifts. The recipe's own
functions do it row by row in NumPy, a dozen passes over a (T, M) array, which was most of the
scan's time. Here the same steps are done once per trial in one pass, and the infill's small
solves are stacked:

- :func:`prepare_windows` (Numba): trial t is the window [o_t, o_t + M) of rebinned row r_t
  (every coarse trial is a window of ONE rebinning, one pixel further along; a fine trial is a
  row of its own). One pass over the window finds the bad rest pixels, the good fraction and the
  mean over the normalisation window, a second writes the normalised flux and the S/N-capped
  weights straight into float32 rows. Its reference is the recipe's
  :func:`npvae.data.preprocess.normalise_rest` (the tests compare them).
- :class:`WeightedFit` (:mod:`npvae.data.infill`, shared with the recipe's own infill): weighted
  least-squares fits of all rows by one basis with two BLAS products and one stacked K x K solve. :class:`BasisFill` is the recipe's basis infill with it
  (:func:`npvae.data.infill.basis_infill`: each row's fit of its good pixels by the training
  set's mean and eigenvectors); the PCA-template scorer (:mod:`npvae.apply.zmodels`) fits with it.
- :func:`work_arrays` (also there): the fits' large temporaries, allocated once per thread and reused.

Shapes: T trial rows, R rebinned rows, L rebinned pixels (>= M), M = D rest pixels,
K eigenvectors, P = K(K+1)/2 packed pairs.
"""
import numba
import numpy as np

from ..data.infill import WeightedFit, fill_masked, work_arrays
from ..data.preprocess import REST_WAVE

__all__ = ["prepare_windows", "BasisFill"]

def _prepare_windows(rflux, rivar, cover, row, offset, in_window, min_pixel_coverage, cap, min_coverage,
                     flux, weight, bad, problem):
    """Steps 3-6 of the recipe for each trial t, the window [offset_t, offset_t + M) of row row_t.

    bad = cover < min_pixel_coverage or ivar <= 0; good fraction 1 - n_bad / M; norm = mean flux
    of the good pixels in the window; flux = rflux / norm, ivar = rivar norm^2, weight =
    1 / (1/ivar + cap) on good pixels, 0 on bad ones. problem_t as normalise_rest (then norm = 1).
    """
    n_trials, m = flux.shape
    n_in = 0
    for d in range(m):
        n_in += in_window[d]
    for t in range(n_trials):
        r, o = row[t], offset[t]
        n_bad, win_good, win_sum = 0, 0, 0.0
        for d in range(m):
            is_bad = cover[r, o + d] < min_pixel_coverage or rivar[r, o + d] <= 0
            bad[t, d] = is_bad
            if is_bad:
                n_bad += 1
            elif in_window[d]:
                win_good += 1
                win_sum += rflux[r, o + d]
        norm = win_sum / max(win_good, 1)
        if 1.0 - n_bad / m < min_coverage:
            problem[t] = 1
        elif win_good < 0.5 * n_in:
            problem[t] = 2
        elif not norm > 0:
            problem[t] = 3
        else:
            problem[t] = 0
        scale = norm if problem[t] == 0 else 1.0
        for d in range(m):
            ivar = 0.0 if bad[t, d] else rivar[r, o + d] * (scale * scale)
            if ivar > 0:
                flux[t, d] = rflux[r, o + d] / scale
                weight[t, d] = 1.0 / (1.0 / ivar + cap)
            else:
                flux[t, d] = 0.0
                weight[t, d] = 0.0


_prepare_windows_jit = numba.njit(cache=True, nogil=True, error_model="numpy")(_prepare_windows)


def prepare_windows(rebinned, row, offset, recipe):
    """The recipe's rows at T trials, each a window of the rebinned arrays.

    Parameters
    ----------
    rebinned : (rflux, rivar, cover), each (R, L) float64, from :func:`npvae.data.rebin.rebin_rows`
    row, offset : ndarray (T,) int
        Trial t is ``rebinned[:, row[t], offset[t]:offset[t] + M]``.
    recipe : :class:`npvae.data.recipe.Preprocessing` (its window, S/N cap and coverage rules)

    Returns
    -------
    flux (T, M) float32 normalised, 0 on bad pixels; weight (T, M) float32, 0 on bad pixels;
    bad (T, M) bool; problem (T,) int8, 0 for a usable row, else as normalise_rest: 1 too little
    coverage, 2 normalisation window mostly bad, 3 non-positive window mean.
    """
    rflux, rivar, cover = (np.ascontiguousarray(a, np.float64) for a in rebinned)   # (R, L)
    row, offset = np.asarray(row, np.int64), np.asarray(offset, np.int64)           # (T,)
    m = recipe.n_pixels
    if len(row) and (row.min() < 0 or row.max() >= len(rflux) or offset.min() < 0
                     or offset.max() + m > rflux.shape[1]):
        raise ValueError("a trial window falls outside the rebinned rows")          # no bounds checks in Numba
    in_window = (REST_WAVE >= recipe.norm_window[0]) & (REST_WAVE <= recipe.norm_window[1])   # (M,)
    cap = 0.0 if not recipe.sn_cap or not np.isfinite(recipe.sn_cap) else (1.0 / recipe.sn_cap) ** 2
    flux, weight = np.empty((len(row), m), np.float32), np.empty((len(row), m), np.float32)
    bad, problem = np.empty((len(row), m), bool), np.empty(len(row), np.int8)
    _prepare_windows_jit(rflux, rivar, cover, row, offset, in_window, recipe.min_pixel_coverage, cap,
                         recipe.min_coverage, flux, weight, bad, problem)
    return flux, weight, bad, problem


class BasisFill:
    """The recipe's basis infill of many rows at once (:func:`npvae.data.infill.basis_infill`).

    Row t's good pixels (weights g_t, 0 on masked pixels) are fitted by the basis:
    (V^T G_t V + ridge) c_t = V^T G_t (x_t - mean) (:class:`WeightedFit`), and its masked
    pixels become mean + V c_t.
    """

    def __init__(self, mean, vectors, ridge=1e-8):
        self.mean = np.asarray(mean, np.float64)                              # (D,)
        self.fit = WeightedFit(vectors, ridge)

    @classmethod
    def from_recipe(cls, recipe):
        """The infill of a model's recipe (its training set's mean and eigenvectors)."""
        return cls(recipe.infill_mean, recipe.infill_vectors)

    def __call__(self, flux, weight, mask):
        """Masked pixels of flux (T, D) float32 filled IN PLACE; weight (T, D) must be 0 where mask.

        Returns flux. Row t depends only on row t (and the basis), as in basis_infill.
        """
        if flux.dtype != np.float32 or not flux.flags.c_contiguous or np.shape(mask) != flux.shape:
            raise ValueError("BasisFill fills C-contiguous float32 rows with a mask of their shape")
        g, gy = work_arrays(2, flux.shape)                                    # (T, D) float64 each
        np.copyto(g, weight)
        np.subtract(flux, self.mean, out=gy)
        gy *= g                                                               # g (x - mean)
        C = self.fit.coefficients(g, gy)                                      # (T, K)
        fill_masked(flux, np.ascontiguousarray(mask, bool), self.mean, self.fit.B, C)
        return flux
