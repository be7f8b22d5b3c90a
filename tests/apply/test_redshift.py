"""Redshifts by the trial z the model reconstructs best (npvae.apply.redshift, zmodels, zcatalog)."""
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import npvae
from npvae.apply import encode_spectra, redshift_spectra
from npvae.apply.redshift import (DISTINCT, ZWARN_BITS, _parabola, coarse_curve, distinct_minima, observe,
                                  rows_at, scan, trial_grid)
from npvae.apply.zcatalog import make_scorer
from npvae.data.readers import read_spectrum
from npvae.data.record import Spectrum
from npvae.paper import REST_DLOGLAM, rest_loglam
from npvae.utils import get_data_home

SIGMA = 0.03                    # planted noise, in units of the normalised flux


def planted(rest_flux, z, rng, sigma=SIGMA, scale=7.0):
    """An observed spectrum that is ``rest_flux`` (M,) at redshift z, on an SDSS-like grid, plus noise.

    Observed pixels of 1e-4 in log10(lambda) (the SDSS step) over the rest grid moved by
    log10(1 + z); each takes the value of the rest pixel holding its rest wavelength, with
    independent noise of ``sigma`` per rest pixel (sigma sqrt(3.9) per observed pixel).
    """
    loglam_rest = rest_loglam()                                                     # (M,)
    half = REST_DLOGLAM / 2
    loglam = np.arange(loglam_rest[0] - half + 5e-5, loglam_rest[-1] + half, 1e-4)  # (P,) rest frame
    j = np.clip(np.round((loglam - loglam_rest[0]) / REST_DLOGLAM).astype(int), 0, len(rest_flux) - 1)
    noise = sigma * np.sqrt(REST_DLOGLAM / 1e-4)
    flux = scale * (rest_flux[j] + noise * rng.standard_normal(loglam.size))        # (P,)
    ivar = np.full(loglam.size, 1.0 / (scale * noise) ** 2)
    return Spectrum(plate=1, mjd=50000, fiber=1, z=z, cls="GALAXY", loglam=loglam + np.log10(1.0 + z),
                    flux=flux, ivar=ivar, and_mask=np.zeros(loglam.size, np.int32), source="planted")


@pytest.fixture(scope="module")
def vae_truth(bundle, prepared):
    """A rest-frame spectrum the VAE reproduces: the decode of a training spectrum's latents."""
    _, model = bundle
    mu = model.encode(prepared.flux[:1])[0]
    return model.decode(mu)[0].astype(np.float64)                                    # (M,)


def test_planted_redshift_is_recovered_within_its_error(bundle, vae_truth):
    _, model = bundle
    table = redshift_spectra(model, [planted(vae_truth, 0.1234, np.random.default_rng(s)) for s in range(3)])
    err = np.abs(table["Z"] - 0.1234)
    assert np.all(err < 4 * table["Z_ERR"] + 1e-5), (table["Z"], table["Z_ERR"])
    assert np.all(table["Z_ERR"] < 3e-4) and np.all(table["ZWARN"] == 0)
    assert np.all(table["DCHI2"] > 9)


def test_z_err_matches_the_scatter_over_noise_draws(bundle, vae_truth):
    _, model = bundle
    spectra = [planted(vae_truth, 0.0876, np.random.default_rng(100 + s)) for s in range(20)]
    table = redshift_spectra(model, spectra, z_range=(0.06, 0.12))
    scatter = np.std(table["Z"] - 0.0876)
    reported = np.median(table["Z_ERR"])
    assert 0.5 < scatter / reported < 2.0, (scatter, reported)


def test_coarse_curve_equals_the_slow_loop_through_encode(bundle, survey):
    _, model = bundle
    record = survey[4]
    z_true = record.meta["columns"]["TRUE_Z"]
    s_grid, z_grid = trial_grid((max(z_true - 0.02, 0.0), z_true + 0.02))
    obs = observe([record], model.preprocessing)[0][0]
    curve = coarse_curve(make_scorer(model, "vae"), obs, s_grid, model.preprocessing)
    slow = np.array([encode_spectra(model, [replace(record, z=z)], infill="pca")["RCHI2"][0]  # one z at a time
                     for z in z_grid])
    assert np.allclose(curve, slow, rtol=1e-4, atol=0)
    assert np.argmin(curve) == np.argmin(slow)


def test_fine_rows_equal_the_recipe_at_that_redshift(bundle, survey):
    _, model = bundle
    record = survey[9]
    obs = observe([record], model.preprocessing)[0][0]
    z = 0.1 + 0.37 * REST_DLOGLAM                                                   # off the coarse grid
    rows = rows_at(obs, [np.log10(1 + z)], model.preprocessing)
    flux, weight, mask, _, _ = model.preprocessing.prepare([replace(record, z=z)], fill=False)
    assert np.array_equal(rows["bad"], mask)
    assert np.allclose(rows["flux"], flux, rtol=1e-5, atol=1e-6)
    assert np.allclose(rows["weight"], weight, rtol=1e-5)


def test_pca_templates_find_a_planted_redshift(bundle):
    _, model = bundle
    recipe = model.preprocessing
    truth = recipe.infill_mean + recipe.infill_vectors[:, :3] @ np.array([0.3, -0.2, 0.1])   # (M,)
    table = redshift_spectra(model, [planted(truth, 0.2109, np.random.default_rng(7))], method="pca")
    assert abs(table["Z"][0] - 0.2109) < 4 * table["Z_ERR"][0] + 1e-5
    assert table["MU"].shape == (1, recipe.infill_vectors.shape[1] + 1)


def test_minimum_below_the_range_is_flagged_at_the_edge(bundle, vae_truth):
    _, model = bundle
    table = redshift_spectra(model, [planted(vae_truth, 0.05, np.random.default_rng(1))], z_range=(0.1, 0.3))
    assert table["ZWARN"][0] & (1 << ZWARN_BITS["AT_EDGE"])
    assert table["Z"][0] < 0.1 + 2 * REST_DLOGLAM * np.log(10) * 1.1


def test_distinct_minima_are_lowest_first_and_apart():
    curve = np.array([5, 4, 5, 6, 1, 2, 1.5, 3, 3, 3, 2.5, 9, np.nan, 0.5])
    chosen = distinct_minima(curve, n=3)
    assert chosen[0] == 13 and chosen[1] == 4
    assert all(abs(a - b) > DISTINCT for i, a in enumerate(chosen) for b in chosen[:i])


def test_parabola_vertex_and_curvature_are_exact_on_a_parabola():
    u = np.linspace(-1, 1, 9)
    y = 3.0 * (u - 0.13) ** 2 + 2.0
    u0, y0, a = _parabola(u, y)
    assert np.isclose(u0, 0.13) and np.isclose(y0, 2.0) and np.isclose(a, 3.0)
    assert np.isnan(_parabola(u, -y)[2])                                            # concave: no curvature
    w = np.array([0.5, 2.0, 0.0, 2.0, 0.5])                                         # lowest in the middle,
    assert np.isnan(_parabola(np.linspace(-1, 1, 5), w)[2])                         # but a concave fit


def test_same_result_whatever_the_chunk(bundle, survey):
    _, model = bundle
    one = redshift_spectra(model, survey[:3], z_range=(0.0, 0.3), chunk=1)
    all_ = redshift_spectra(model, survey[:3], z_range=(0.0, 0.3), chunk=3)
    assert np.array_equal(one["Z"], all_["Z"]) and np.array_equal(one["MU"], all_["MU"])


def test_vae_infill_at_every_trial_finds_the_planted_redshift(bundle, vae_truth):
    _, model = bundle
    spectrum = planted(vae_truth, 0.1234, np.random.default_rng(11))
    spectrum.ivar[200:260] = 0                                                      # a gap to fill
    table = redshift_spectra(model, [spectrum], infill="vae", z_range=(0.1, 0.15))
    assert abs(table["Z"][0] - 0.1234) < 4 * table["Z_ERR"][0] + 1e-5
    encoded = encode_spectra(model, [replace(spectrum, z=float(table["Z"][0]))], infill="vae")
    assert np.abs(table["MU"][0] - encoded["MU"][0]).max() < 1e-4                   # the encode path at Z
    assert np.isclose(table["RCHI2"][0], encoded["RCHI2"][0], rtol=1e-4)



def genuine_files():
    """The two genuine SDSS DR18 spec-lite files shipped with ppxf (skip without them)."""
    ppxf = pytest.importorskip("ppxf")
    files = [Path(ppxf.__file__).parent / "spectra" / f"{name}_SDSS_DR18.fits" for name in ("NGC3073", "NGC3522")]
    if not all(f.exists() for f in files):
        pytest.skip("the genuine SDSS files are missing from the ppxf package")
    return files


def assert_catalogue_redshifts(model, method):
    files = genuine_files()
    table = redshift_spectra(model, files, method=method)
    z_sdss = np.array([read_spectrum(f).z for f in files])
    assert np.all(np.abs(table["Z"] - z_sdss) < 0.0005), (list(table["Z"]), list(z_sdss))


def test_genuine_sdss_spectra_get_their_catalogue_redshift_with_pca_templates(bundle):
    assert_catalogue_redshifts(bundle[1], "pca")


def test_genuine_sdss_spectra_get_their_catalogue_redshift_with_the_benchmark_vae():
    path = get_data_home() / "encode_genuine" / "model.npz"      # benchmarks/encode_genuine.py trains it
    if not path.exists():
        pytest.skip(f"{path} not cached (run benchmarks/encode_genuine.py)")
    assert_catalogue_redshifts(npvae.load(path), "vae")
