"""The scan's shared trial rows (npvae.apply.ztrials) against the recipe's own row-by-row functions."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from npvae.apply import redshift_spectra
from npvae.apply.zmodels import PcaScorer
from npvae.apply import ztrials
from npvae.apply.ztrials import BasisFill, prepare_windows
from npvae.data import infill
from npvae.data.infill import basis_infill
from npvae.data.preprocess import normalise_rest
from npvae.data.recipe import Preprocessing
from npvae.paper import N_PIXELS

M = N_PIXELS
WINDOW = slice(240, 709)          # rest pixels of the normalisation window (4200-6400 A)


def rebinned_rows(rng, n_rows, length):
    """Random rebinned (flux, ivar, cover) rows (R, L): ~5% pixels with no ivar, ~5% half-covered."""
    rflux = 1.0 + 0.3 * rng.standard_normal((n_rows, length))
    rivar = rng.uniform(10.0, 1e4, (n_rows, length)) * (rng.random((n_rows, length)) > 0.05)
    cover = np.where(rng.random((n_rows, length)) < 0.05, rng.uniform(0, 1, (n_rows, length)), 1.0)
    return rflux, rivar, cover


def recipe(sn_cap=50.0):
    """A recipe with the paper's grid and rules (its basis is not used by prepare_windows)."""
    return Preprocessing(infill_mean=np.zeros(M), infill_vectors=np.zeros((M, 1)), sn_cap=sn_cap)


def assert_same_as_normalise_rest(got, rows, rec):
    flux, weight, bad, problem = got
    want = normalise_rest(*rows, rec.sn_cap, rec.min_coverage)
    assert np.array_equal(problem, want[4]) and np.array_equal(bad, want[3])
    ok = want[4] == 0                                                   # the usable rows' numbers
    assert np.allclose(flux[ok], want[0][ok], rtol=1e-6, atol=0)
    assert np.allclose(weight[ok], want[2][ok], rtol=1e-6, atol=0)
    assert flux.dtype == weight.dtype == np.float32


@pytest.mark.parametrize("sn_cap", [50.0, None])
def test_windows_of_one_row_equal_normalise_rest_of_each_window(sn_cap):
    rng = np.random.default_rng(0)
    n_trials = 60
    one = rebinned_rows(rng, 1, M + n_trials - 1)                      # (1, M+T-1): the coarse layout
    rec = recipe(sn_cap)
    got = prepare_windows(one, np.zeros(n_trials, int), np.arange(n_trials), rec)
    windows = [sliding_window_view(a[0], M) for a in one]               # (T, M) each
    assert_same_as_normalise_rest(got, windows, rec)


def test_problem_rows_are_flagged_as_normalise_rest_flags_them():
    rng = np.random.default_rng(1)
    rows = rebinned_rows(rng, 4, M)                                     # (4, M): one row per trial
    rows[2][1, :450] = 0.0                                              # 1: 45% of the row bad
    rows[2][2, WINDOW.start:WINDOW.start + 300] = 0.0                   # 2: window mostly bad
    rows[0][3, WINDOW] = -1.0                                           # 3: negative window mean
    rec = recipe()
    got = prepare_windows(rows, np.arange(4), np.zeros(4, int), rec)
    assert list(got[3]) == [0, 1, 2, 3]
    assert_same_as_normalise_rest(got, rows, rec)


def test_a_window_outside_the_rows_is_refused():
    rows = rebinned_rows(np.random.default_rng(2), 1, M + 3)
    with pytest.raises(ValueError, match="outside"):
        prepare_windows(rows, [0, 0], [3, 4], recipe())


def test_basis_fill_equals_basis_infill():
    rng = np.random.default_rng(3)
    n, k = 50, 10
    mean = 1.0 + 0.1 * rng.standard_normal(M)
    vectors = np.linalg.qr(rng.standard_normal((M, k)))[0]             # (M, K) orthonormal
    flux = (mean + rng.standard_normal((n, k)) @ vectors.T * 3).astype(np.float32)   # (N, M)
    mask = rng.random((n, M)) < 0.1
    mask[:, :150] |= rng.random((n, 1)) < 0.5                           # an uncovered end in half of them
    mask[0] = False                                                     # a row with nothing to fill
    weight = np.where(mask, 0.0, rng.uniform(1, 100, (n, M))).astype(np.float32)
    flux[mask] = 0.0                                                    # as the recipe leaves them
    want = basis_infill(flux, mask, mean, vectors, weight=weight)
    given = flux.copy()
    got = BasisFill(mean, vectors)(given, weight, mask)
    assert got is given and np.array_equal(got[~mask], flux[~mask])    # in place, good pixels kept
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pca_scorer_equals_a_least_squares_fit_row_by_row():
    rng = np.random.default_rng(4)
    n, k = 6, 4
    templates = rng.standard_normal((M, k + 1))                        # (D, K+1): mean, vectors
    flux = templates @ rng.standard_normal((k + 1, n)) + 0.1 * rng.standard_normal((M, n))   # (D, N)
    flux = flux.T.astype(np.float32)                                    # (N, D)
    mask = rng.random((n, M)) < 0.2
    weight = rng.uniform(1, 100, (n, M)).astype(np.float32)             # not 0 on masked: ignored there
    rchi2, amp = PcaScorer(templates[:, 0], templates[:, 1:])(flux, weight, mask)
    for t in range(n):
        good = ~mask[t]
        sw = np.sqrt(weight[t, good].astype(np.float64))                # (G,)
        want, chi2 = np.linalg.lstsq(templates[good] * sw[:, None], flux[t, good] * sw, rcond=None)[:2]
        assert np.allclose(amp[t], want, rtol=1e-5, atol=1e-6)
        assert np.isclose(rchi2[t], chi2[0] / (good.sum() - k - 1), rtol=1e-6)


def test_same_result_whatever_the_threads(bundle, survey):
    _, model = bundle
    one = redshift_spectra(model, survey[:4], z_range=(0.0, 0.3), threads=1)
    two = redshift_spectra(model, survey[:4], z_range=(0.0, 0.3), threads=2)
    for name in ("Z", "Z_ERR", "MU", "RCHI2", "ZWARN", "PLATE", "FIBERID"):
        assert np.array_equal(one[name], two[name]), name


def test_plain_python_kernel_bodies_equal_the_jitted_kernels():
    rng = np.random.default_rng(5)
    rows = rebinned_rows(rng, 1, M + 2)
    args = (*rows, np.zeros(3, np.int64), np.arange(3), np.zeros(M, bool), 0.5, 4e-4, 0.6)
    args[5][WINDOW] = True
    outs = [(np.empty((3, M), np.float32), np.empty((3, M), np.float32), np.empty((3, M), bool),
             np.empty(3, np.int8)) for _ in range(2)]
    ztrials._prepare_windows(*args, *outs[0])
    ztrials._prepare_windows_jit(*args, *outs[1])
    for a, b in zip(*outs):
        assert np.array_equal(a, b)
    mask, mean, V, C = rng.random((3, M)) < 0.3, rng.standard_normal(M), rng.standard_normal((M, 4)), \
        rng.standard_normal((3, 4))
    filled = [outs[0][0].copy() for _ in range(2)]
    infill._fill_masked(filled[0], mask, mean, V, C)
    infill.fill_masked(filled[1], mask, mean, V, C)
    assert np.allclose(filled[0], filled[1], rtol=1e-6) and np.array_equal(filled[0][~mask], outs[0][0][~mask])
    assert np.allclose(filled[0][mask], (C @ V.T + mean)[mask], rtol=1e-5, atol=1e-5)


def test_work_arrays_are_reused_within_a_thread_and_never_shared_between_threads():
    first = infill.work_arrays(2, (3, 4))
    again = infill.work_arrays(2, (3, 4))
    assert all(np.shares_memory(a, b) for a, b in zip(first, again))          # no new pages
    assert not np.shares_memory(first[0], first[1])
    bigger = infill.work_arrays(1, (50, 40))[0]
    assert bigger.shape == (50, 40) and bigger.dtype == np.float64
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(infill.work_arrays, 2, (3, 4)).result()
    assert not any(np.shares_memory(a, b) for a in other for b in infill.work_arrays(2, (3, 4)))
