"""Flux conservation of the broadening, the line adder and the redshifting (npvae.synthetic.spectral)."""
import numpy as np
import pytest

from npvae.synthetic.spectral import (KMS_PER_PIXEL, add_gaussian_lines, gaussian_broaden,
                                      gaussian_broaden_reference, redshift_rebin)

L0 = 3.4390


def _bumpy(rng, n, w):
    """Random positive spectra with flat ends (so edge padding changes nothing)."""
    f = 1 + rng.random((n, w))
    f[:, :80] = 1.0
    f[:, -80:] = 1.0
    return f


def test_broadening_conserves_flux_and_matches_direct_convolution():
    rng = np.random.default_rng(0)
    f = _bumpy(rng, 4, 600)
    sigma = np.array([0.0, 0.8, 2.5, 350 / KMS_PER_PIXEL])
    fast = gaussian_broaden(f, sigma)
    slow = gaussian_broaden_reference(f, sigma)
    np.testing.assert_allclose(fast.sum(axis=1), f.sum(axis=1), rtol=1e-7)
    np.testing.assert_allclose(fast[0], f[0], atol=1e-12)
    np.testing.assert_allclose(fast[2:], slow[2:], atol=2e-3)      # sigma >= 2.5: sampled = continuous
    assert fast[3, 100:-100].std() < 0.5 * f[3, 100:-100].std()         # it really smooths


def test_line_adder_puts_the_area_in_the_grid():
    flux = np.zeros((3, 800))
    area = np.array([5.0, 1.0, 30.0])
    loglam = L0 + 1e-4 * np.array([400.3, 200.0, 500.7])
    add_gaussian_lines(flux, L0, loglam, area, np.array([70.0, 300.0, 3000.0]))
    dlam = 10 ** (L0 + 1e-4 * np.arange(800)) * np.log(10) * 1e-4
    np.testing.assert_allclose((flux * dlam).sum(axis=1), area, rtol=1e-6)
    peak = np.argmax(flux, axis=1)
    assert list(peak[:2]) == [400, 200]


@pytest.mark.parametrize("z", [0.0, 0.0137, 0.1, 0.3599])
def test_redshifting_conserves_flux_of_a_line_and_dims_a_flat_continuum(z):
    w = 5391
    rest = np.ones((1, w))
    loglam_line = np.log10(5008.24)
    add_gaussian_lines(rest, L0, np.array([loglam_line]), np.array([40.0]), np.array([150.0]))
    obs = redshift_rebin(rest, L0, np.array([z]), 3.58, 3801)
    lam_obs = 10 ** (3.58 + 1e-4 * np.arange(3801))
    dlam_obs = lam_obs * np.log(10) * 1e-4
    centre = np.log10(5008.24 * (1 + z))
    near = np.abs(np.log10(lam_obs) - centre) < 40e-4
    line_area = ((obs[0] - 1 / (1 + z)) * dlam_obs)[near].sum()
    assert line_area == pytest.approx(40.0, rel=1e-3)
    far = np.abs(np.log10(lam_obs) - centre) > 60e-4
    np.testing.assert_allclose(obs[0][far], 1 / (1 + z), rtol=1e-6)
    assert np.argmax(obs[0]) == np.argmin(np.abs(np.log10(lam_obs) - centre))


def test_redshifting_conserves_total_flux_of_random_spectra():
    rng = np.random.default_rng(1)
    rest = _bumpy(rng, 3, 5391)
    z = np.array([0.02, 0.15, 0.33])
    obs = redshift_rebin(rest, L0, z, 3.58, 3801)
    dlam_obs = 10 ** (3.58 + 1e-4 * np.arange(3801)) * np.log(10) * 1e-4
    for i in range(3):
        lo = 3.58 - 0.5e-4 - np.log10(1 + z[i])
        hi = 3.58 + 3800.5e-4 - np.log10(1 + z[i])
        # whole rest pixels strictly inside the observed range
        idx = np.arange(5391)
        c = L0 + 1e-4 * idx
        inside = (c - 0.5e-4 >= lo) & (c + 0.5e-4 <= hi)
        dlam_rest = 10 ** c * np.log(10) * 1e-4
        rest_total = (rest[i] * dlam_rest)[inside].sum()
        obs_total = (obs[i] * dlam_obs).sum()
        edge_rest = (rest[i] * dlam_rest)[inside.argmax() - 1] + (rest[i] * dlam_rest)[idx[inside][-1] + 1]
        assert abs(obs_total - rest_total) <= edge_rest            # differs only by partial edge pixels


def test_line_set_equals_lines_added_one_by_one():
    from npvae.synthetic.spectral import add_line_set
    rng = np.random.default_rng(3)
    n = 6
    loglam = 3.6 + rng.uniform(0.01, 0.3, (n, 1)) + np.array([0.0, 0.001, 0.0015])[None, :]  # overlapping
    areas = rng.uniform(0.5, 5, (n, 3))
    sigma = np.array([40.0, 70, 200, 500, 900, 3000])
    one = np.zeros((n, 3801))
    for l in range(3):
        add_gaussian_lines(one, 3.58, loglam[:, l], areas[:, l], sigma)
    many = add_line_set(np.zeros((n, 3801)), 3.58, loglam, areas, sigma)
    np.testing.assert_allclose(many, one, atol=1e-9 * one.max())


def test_line_fit_survives_a_blend_seen_on_one_good_pixel():
    """Two lines whose profiles meet only one good pixel make a singular normal matrix:
    the fit must still return finite numbers (found by `npvae synth --n 16000`)."""
    from npvae.synthetic.measure import _fit_group

    n, p = 3, 200
    rng = np.random.default_rng(0)
    resid = rng.normal(size=(n, p))
    ivar = np.ones((n, p))
    ivar[1] = 0.0
    ivar[1, 100] = 1.0                                  # spectrum 1: a single good pixel
    centre = np.tile([99.0, 101.0], (n, 1))             # (N, L) two lines around it
    area, err = _fit_group(resid, ivar, centre, np.full(n, 3.0), halfwidth=14)
    assert area.shape == err.shape == (n, 2)
    assert np.isfinite(area).all() and np.isfinite(err).all()
