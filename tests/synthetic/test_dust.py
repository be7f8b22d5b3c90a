"""Dust curves against published values, and which curve the synthetic survey gives stars and lines.

Anchors (independent of the code's formulas):

* Calzetti et al. (2000): k(V) = R_V = 4.05 at V (5500 A), by the definition R_V = A_V / E(B-V);
  k(B) - k(V) = 1 at B (4400 A), by the definition E(B-V) = A_B - A_V; k(H-alpha) = 3.33 and
  k(H-beta) = 4.60 as quoted for this curve by Calzetti (2001, PASP 113, 1449) and used in the
  Balmer-decrement formula E(B-V) = 1.97 log10[(Ha/Hb)_obs / 2.86] (e.g. Dominguez et al. 2013).
* Cardelli, Clayton & Mathis (1989), R_V = 3.1: A(B)/A(V) = 1.324 at 4400 A (= 1 + 1/R_V up to
  the curve's shape); A/A(V) = 0.751, 0.479, 0.282, 0.114 at R, I, J, K (7000, 9000, 12500,
  22000 A; CCM89 Table 3); k(H-alpha) = 2.53 and k(H-beta) = 3.61 as commonly quoted for CCM
  R_V = 3.1 (e.g. Dominguez et al. 2013); the 2175 A bump is the maximum of the UV curve
  between 1800 and 2600 A (to 1%).
"""
import numpy as np
import pytest

from npvae.synthetic import survey
from npvae.synthetic.dust import calzetti_k, ccm89_k, line_transmission, transmission
from npvae.synthetic.galaxies import sfh_weights, stellar_continuum
from npvae.synthetic.templates import load_templates

V, B = 5500.0, 4400.0
HA, HB = 6562.8, 4861.3            # air wavelengths, as in the papers quoting k at these lines


def test_calzetti_curve_at_published_points():
    assert calzetti_k(V) == pytest.approx(4.05, abs=0.01)
    assert calzetti_k(B) - calzetti_k(V) == pytest.approx(1.0, abs=0.02)
    assert calzetti_k(HA) == pytest.approx(3.33, abs=0.006)                   # quoted to 2 decimals
    assert calzetti_k(HB) == pytest.approx(4.60, abs=0.006)
    assert 2.5 / (calzetti_k(HB) - calzetti_k(HA)) == pytest.approx(1.97, abs=0.01)


def test_ccm89_curve_at_published_points():
    assert ccm89_k(V) / 3.1 == pytest.approx(1.0, abs=0.002)
    assert ccm89_k(B) / 3.1 == pytest.approx(1.324, abs=0.002)              # A(V) = R_V E(B-V)
    table3 = {7000.0: 0.751, 9000.0: 0.479, 12500.0: 0.282, 22000.0: 0.114}
    for wave, a_over_av in table3.items():
        assert ccm89_k(wave) / ccm89_k(V) == pytest.approx(a_over_av, abs=0.002), wave
    assert ccm89_k(HA) == pytest.approx(2.53, abs=0.006)
    assert ccm89_k(HB) == pytest.approx(3.61, abs=0.006)
    uv = np.linspace(1800.0, 2600.0, 801)
    # the bump centred at 2175 A; the far-UV rise moves the maximum of the sum slightly blueward
    assert uv[np.argmax(ccm89_k(uv))] == pytest.approx(2175.0, abs=25.0)
    # the three pieces join: no step at x = 1.1 and 3.3 per micron
    for x in (1.1, 3.3):
        assert ccm89_k(1e4 / (x - 1e-9)) == pytest.approx(ccm89_k(1e4 / (x + 1e-9)), abs=2e-3)
    with pytest.raises(ValueError, match="1250"):
        ccm89_k(1000.0)


def test_transmissions_are_ten_to_the_minus_04_k_ebv():
    ebv = np.array([0.0, 0.25, 0.8])
    t = transmission(np.array([V, HA]), ebv)                                   # (3, 2)
    np.testing.assert_allclose(t, 10 ** (-0.4 * np.outer(ebv, [4.05, 3.33])), rtol=5e-3)
    t = line_transmission(np.array([HA, HB]), ebv)
    np.testing.assert_allclose(t, 10 ** (-0.4 * np.outer(ebv, [2.53, 3.61])), rtol=5e-3)


def test_stellar_continuum_is_attenuated_by_calzetti_with_its_ebv():
    ages = load_templates().ages
    n = 3
    age_w = sfh_weights(ages, np.full(n, 10.0), np.full(n, 3.0), np.zeros(n), np.zeros(n),
                        np.ones(n))
    mh, sigma = np.zeros(n), np.full(n, 100.0)
    ebv = np.array([0.1, 0.3, 0.6])
    clean, _ = stellar_continuum(age_w, mh, sigma, np.zeros(n))
    dusty, _ = stellar_continuum(age_w, mh, sigma, ebv)
    wave = 10 ** load_templates().loglam
    for lam, k in ((V, 4.05), (HA, 3.33), (HB, 4.60)):
        i = int(np.argmin(np.abs(wave - lam)))
        np.testing.assert_allclose(dusty[:, i] / clean[:, i], 10 ** (-0.4 * k * ebv), rtol=5e-3)


@pytest.fixture(scope="module")
def dusty_survey():
    """Star-forming and narrow-line AGN galaxies (no quasars or oddities), one batch, and the
    E(B-V) the stellar continuum was built with."""
    seen = []
    real = survey.stellar_continuum

    def spy(age_w, mh, sigma_star, ebv_star, *abundances):
        seen.append(np.array(ebv_star))
        return real(age_w, mh, sigma_star, ebv_star, *abundances)

    survey.stellar_continuum = spy
    try:
        recs = survey.generate(300, rng=21, batch_size=300,
                               fractions={"quiescent": 0, "blagn": 0, "oddity": 0})
    finally:
        survey.stellar_continuum = real
    return recs, np.concatenate(seen)


def _col(records, name):
    return np.array([r.meta["columns"][name] for r in records])


def test_stars_get_044_of_the_gas_colour_excess(dusty_survey):
    """Calzetti (2000) eq. 3: E(B-V)_star = 0.44 E(B-V)_gas."""
    recs, ebv_star = dusty_survey
    ebv_gas = _col(recs, "TRUE_EBV")
    assert ebv_gas.max() > 0.5
    np.testing.assert_allclose(ebv_star, 0.44 * ebv_gas, rtol=1e-12)
    np.testing.assert_allclose(_col(recs, "TRUE_EBV_STAR"), 0.44 * ebv_gas, rtol=1e-12)


def test_balmer_decrement_follows_ebv_gas_through_the_milky_way_curve(dusty_survey):
    """Case B H-alpha/H-beta = 2.86 (10^4 K; Osterbrock & Ferland 2006, Table 4.4) reddened by
    CCM89: log10(decrement / 2.86) = 0.4 E(B-V)_gas (k(H-beta) - k(H-alpha)) = 0.432 E(B-V)_gas."""
    recs, _ = dusty_survey
    ebv = _col(recs, "TRUE_EBV")
    decrement = _col(recs, "TRUE_FLUX_HA") / _col(recs, "TRUE_FLUX_HB")
    assert (ebv > 0.3).sum() > 50
    np.testing.assert_allclose(decrement, 2.86 * 10 ** (0.4 * (3.61 - 2.53) * ebv), rtol=0.01)
