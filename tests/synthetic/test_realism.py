"""The optional realism physics against independent anchors: abundance ratios, LIER emission, calibration.

Anchors:

* a Lick index written here from the bandpass definition (Trager et al. 1998) returns the known
  equivalent width of a planted Gaussian line, so it can measure the synthetic spectra;
* Thomas, Maraston & Bender (2003): at fixed [Z/H], +0.3 dex [alpha/Fe] makes Mg b of an old
  population ~16% stronger and Fe5270, Fe5335 ~13% weaker; Conroy & van Dokkum (2012): +0.3 dex
  [Na/Fe] makes Na D ~36% stronger;
* Thomas et al. (2010): [alpha/Fe] = -0.55 + 0.33 log sigma; Conroy, Graves & van Dokkum (2014):
  [Na/Fe] ~0.1 at 100 km/s and ~0.43 at 300 km/s;
* Yan et al. (2006), Belfiore et al. (2016), Cid Fernandes et al. (2011): about half of red,
  old galaxies show weak emission, EW(H-alpha) below 3 A, with [N II] > H-alpha (LINER side
  of the BPT diagram, "retired" in WHAN);
* SDSS spectrophotometry: smooth errors of a few per cent, independent in the two cameras.
"""
import numpy as np
import pytest

from npvae.data.labels import kewley2001_nii
from npvae.synthetic import generate
from npvae.synthetic.abundance import LICK_BANDS, lick_index
from npvae.synthetic.calibration import calibration_distortion
from npvae.synthetic.galaxies import sfh_weights, stellar_continuum
from npvae.synthetic.population import draw_population
from npvae.synthetic.templates import load_templates
from npvae.utils import NpvaeError


def _old_galaxy(alpha_fe, na_fe, sigma):
    """Continuum of a 10-13 Gyr old, solar-metallicity population (N = len(alpha_fe)), no dust."""
    t = load_templates()
    n = len(alpha_fe)
    one = np.ones(n)
    age_w = sfh_weights(t.ages, 12.0 * one, 0.5 * one, 0.5 * one, 0 * one, one)
    spec, _ = stellar_continuum(age_w, 0.0 * one, sigma * one, 0 * one, np.asarray(alpha_fe, float),
                                np.asarray(na_fe, float))
    return spec, 10 ** t.loglam


def test_lick_index_measures_a_planted_line():
    wave = np.linspace(5000, 6100, 8000)
    for name, ew in (("Mgb", 4.0), ("NaD", 2.5)):
        centre = np.mean(LICK_BANDS[name][1])
        sigma = 3.0                                       # A, well inside the 32 A central band
        line = ew / (np.sqrt(2 * np.pi) * sigma) * np.exp(-0.5 * ((wave - centre) / sigma) ** 2)
        flux = 2.0 * (1 - line) * (1 + 1e-4 * (wave - 5500))                     # sloped continuum
        assert lick_index(flux, wave, name)[0] == pytest.approx(ew, rel=0.01)


@pytest.mark.parametrize("sigma", [0.0, 250.0])
def test_index_responses_match_published_fractional_changes(sigma):
    spec, wave = _old_galaxy([0.0, 0.3, 0.0], [0.0, 0.0, 0.3], sigma)
    ratio = {k: lick_index(spec, wave, k) for k in ("Mgb", "Fe5270", "Fe5335", "NaD")}
    ratio = {k: v[1:] / v[0] for k, v in ratio.items()}                       # (alpha, na) runs
    assert 2.0 < lick_index(spec[:1], wave, "Mgb")[0] < 6.0                 # an old population's Mg b
    assert ratio["Mgb"][0] == pytest.approx(1.16, abs=0.04)
    assert ratio["Fe5270"][0] == pytest.approx(0.87, abs=0.04)
    assert ratio["Fe5335"][0] == pytest.approx(0.87, abs=0.04)
    assert ratio["NaD"][1] == pytest.approx(1.36, abs=0.06)
    assert ratio["Mgb"][1] == pytest.approx(1.0, abs=0.01) and ratio["NaD"][0] == pytest.approx(1.0, abs=0.01)
    outside = (wave < 5100) | (wave > 6000)
    np.testing.assert_allclose(spec[1, outside], spec[0, outside], rtol=1e-4)   # only the bands change


def test_abundance_ratios_follow_the_published_sigma_relations():
    pop = draw_population(np.random.default_rng(4), 20000)
    early = np.isin(pop["kind"], ["quiescent", "nlagn"])
    logs = np.log10(pop["sigma_star"][early])
    slope, icept = np.polyfit(logs, pop["alpha_fe"][early], 1)
    assert slope == pytest.approx(0.33, abs=0.03) and icept == pytest.approx(-0.55, abs=0.07)
    near = lambda s: np.abs(pop["sigma_star"][early] - s) < 10
    assert np.mean(pop["na_fe"][early][near(100)]) == pytest.approx(0.10, abs=0.03)
    assert np.mean(pop["na_fe"][early][near(300)]) == pytest.approx(0.43, abs=0.04)
    assert np.all(pop["alpha_fe"][pop["kind"] == "emission"] == 0)


def test_physics_switches_are_checked_and_leave_the_rest_of_the_population_alone():
    on = draw_population(np.random.default_rng(2), 500)
    off = draw_population(np.random.default_rng(2), 500, physics=())
    for key in set(on) - {"alpha_fe", "na_fe", "quiescent_lines", "calibration"}:
        np.testing.assert_array_equal(on[key], off[key])
    assert np.all(off["alpha_fe"] == 0) and on["alpha_fe"].max() > 0.1
    with pytest.raises(NpvaeError, match="physics"):
        draw_population(np.random.default_rng(2), 5, physics=("aliens",))


@pytest.fixture(scope="module")
def quiescent():
    return generate(500, rng=21, fractions={"quiescent": 1, "emission": 0, "nlagn": 0, "blagn": 0, "oddity": 0})


def _cols(records, *names):
    return [np.array([r.meta["columns"][k] for r in records]) for k in names]


def test_quiescent_galaxies_carry_lier_emission_at_the_sdss_frequency(quiescent):
    ha, hb, nii, oiii, sn = _cols(quiescent, "TRUE_FLUX_HA", "TRUE_FLUX_HB", "TRUE_FLUX_NII_6583",
                                  "TRUE_FLUX_OIII_5007", "TRUE_SN")
    ew = np.array([r.lines["ew"][list(r.lines["name"]).index("H_alpha")] for r in quiescent])
    x, y = np.log10(nii / ha), np.log10(oiii / hb)
    assert np.all(x >= 0) and np.all(x <= 0.36)                               # [N II] > H-alpha
    assert np.all(y > kewley2001_nii(np.minimum(x, 0.46)))                    # LINER side of BPT
    bright = sn > 20                                                          # EW measured well
    strong = np.abs(ew[bright]) > 0.5
    assert 0.35 < strong.mean() < 0.65                                        # about half, as in SDSS
    assert np.percentile(np.abs(ew[bright]), 95) < 3.0                        # WHAN retired: EW < 3 A


def test_calibration_errors_are_smooth_few_percent_and_differ_between_cameras():
    wave = 10 ** (3.58 + 1e-4 * np.arange(3801))
    d = calibration_distortion(np.random.default_rng(0), wave, 3000)        # (N, P)
    blue, red = wave < 5700, wave > 6300
    shape = lambda part: part / part.mean(axis=1, keepdims=True) - 1
    rms_blue = np.sqrt(np.mean(shape(d[:, blue]) ** 2))
    rms_red = np.sqrt(np.mean(shape(d[:, red]) ** 2))
    assert 0.01 < rms_blue < 0.03 and 0.01 < rms_red < 0.03                 # a few per cent
    kernel = np.ones(51) / 51
    smooth = np.array([np.convolve(row, kernel, mode="same") for row in d[:50]])
    assert np.abs(d[:50, 100:-100] - smooth[:, 100:-100]).max() < 1e-3      # no pixel-scale structure
    slope_b = d[:, blue][:, -1] - d[:, blue][:, 0]
    slope_r = d[:, red][:, -1] - d[:, red][:, 0]
    assert abs(np.corrcoef(slope_b, slope_r)[0, 1]) < 0.1                   # independent cameras
    again = calibration_distortion(np.random.default_rng(0), wave, 3000)
    np.testing.assert_array_equal(d, again)
