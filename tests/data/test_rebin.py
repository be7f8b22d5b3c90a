"""Rebinning: agrees with the plain loop, conserves flux, propagates the inverse variance."""
import numpy as np

from npvae.data.preprocess import REST_EDGES
from npvae.data.rebin import loglam_edges, rebin_batch, rebin_reference, rebin_rows


def _observed(rng, n_pix=400, z=0.07):
    loglam = 3.5793 + 1e-4 * np.arange(n_pix)
    return loglam_edges(loglam) - np.log10(1 + z)


def test_batched_rebin_matches_reference_loop_with_masks_and_padding():
    rng = np.random.default_rng(3)
    edges = _observed(rng)
    flux = rng.normal(5, 1, 400)
    ivar = rng.uniform(0.5, 2, 400)
    good = rng.random(400) > 0.15
    new = REST_EDGES[40:141]                                    # 100 rest pixels in range
    short = 250                                                 # second row: padded spectrum
    edges2 = np.concatenate([edges[:short + 1], np.full(400 - short, edges[short])])
    good2 = np.concatenate([good[:short], np.zeros(400 - short, bool)])
    out = rebin_batch(np.vstack([edges, edges2]), np.vstack([flux, flux]),
                      np.vstack([ivar, ivar]), np.vstack([good, good2]), new)
    for row, (e, g) in enumerate([(edges, good), (edges[:short + 1], good[:short])]):
        ref = rebin_reference(e, flux[:len(g)], ivar[:len(g)], g, new)
        for got, want in zip(out, ref):
            np.testing.assert_allclose(got[row], want, rtol=1e-10, atol=1e-12)


def test_rebin_conserves_integrated_flux():
    rng = np.random.default_rng(4)
    edges = _observed(rng, n_pix=3000)
    flux = np.abs(rng.normal(3, 1, 3000))
    lam = 10 ** edges
    inside = (REST_EDGES > edges[0] + 0.01) & (REST_EDGES < edges[-1] - 0.01)
    new = REST_EDGES[inside]                                    # new grid strictly inside old
    f_new, _, cover = rebin_batch(edges[None], flux[None], np.ones((1, 3000)),
                                  np.ones((1, 3000), bool), new)
    total_new = (f_new[0] * np.diff(10 ** new)).sum()
    lo, hi = 10 ** new[0], 10 ** new[-1]
    overlap = np.clip(np.minimum(lam[1:], hi) - np.maximum(lam[:-1], lo), 0, None)
    total_old = (flux * overlap).sum()
    assert abs(total_new / total_old - 1) < 1e-12
    assert np.allclose(cover, 1.0)


def test_white_noise_chi2_per_pixel_is_one_after_rebinning():
    rng = np.random.default_rng(5)
    n_spec, n_pix = 200, 3000
    edges = np.tile(_observed(rng, n_pix=n_pix), (n_spec, 1))
    sigma = rng.uniform(0.5, 2.0, (n_spec, n_pix))              # known, varying noise
    noise = sigma * rng.standard_normal((n_spec, n_pix))
    good = rng.random((n_spec, n_pix)) > 0.05
    new = REST_EDGES[100:800]
    f_new, ivar_new, cover = rebin_batch(edges, noise, 1 / sigma ** 2, good, new)
    ok = cover > 0.5
    chi2 = (f_new[ok] ** 2 * ivar_new[ok]).mean()
    assert abs(chi2 - 1) < 0.02, chi2
    # the linear (reference-code) error rebinning would be wrong by ~ a factor 2-4
    assert np.median(ivar_new[ok]) > 2 * np.median(1 / sigma ** 2)


def test_numba_kernel_matches_numpy_twin_with_padding():
    rng = np.random.default_rng(6)
    edges = _observed(rng, n_pix=600, z=0.2)
    n_pix = np.array([600, 420])
    padded = np.vstack([edges, np.concatenate([edges[:421], np.full(180, edges[420])])])
    flux = rng.normal(2, 1, (2, 600)).astype(np.float32)
    ivar = rng.uniform(0.5, 3, (2, 600)).astype(np.float32)
    good = rng.random((2, 600)) > 0.1
    good_np = good & (np.arange(600)[None, :] < n_pix[:, None])
    fast = rebin_rows(padded, flux, ivar, good, REST_EDGES, n_pix)
    twin = rebin_batch(padded, flux.astype(float), ivar.astype(float), good_np, REST_EDGES)
    for a, b in zip(fast, twin):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert (fast[2][0] > 0.5).sum() > 50                       # the test covers real overlap
