"""The synthetic survey: determinism, class mix, BPT sides, measured lines, S/N, redshifts, oddities, CLI."""
import numpy as np
import pytest

from npvae.data.labels import classify, kewley2001_nii, line_columns
from npvae.synthetic import generate
from npvae.synthetic import nebular
from npvae.synthetic.observe import MASK_BITS, draw_redshift, draw_sn, observe
from npvae.synthetic.population import DEFAULT_FRACTIONS, draw_population
from npvae.utils import NpvaeError


@pytest.fixture(scope="module")
def survey():
    return generate(500, rng=11)


def _col(records, name):
    return np.array([r.meta["columns"][name] for r in records])


def test_same_seed_same_survey_other_seed_other_survey():
    a, b, c = generate(40, rng=3), generate(40, rng=3), generate(40, rng=4)
    assert all(np.array_equal(x.flux, y.flux) and np.array_equal(x.lines, y.lines) for x, y in zip(a, b))
    assert [x.meta for x in a] == [y.meta for y in b]
    assert not np.array_equal(a[0].flux, c[0].flux)


def test_records_follow_the_contract(survey):
    r = survey[0]
    assert r.loglam[0] == pytest.approx(3.58) and np.allclose(np.diff(r.loglam), 1e-4)
    assert r.flux.shape == r.ivar.shape == r.and_mask.shape == r.loglam.shape
    assert r.and_mask.dtype == np.int32 and np.all(r.ivar >= 0)
    assert {"ODDITY", "TRUE_Z", "TRUE_SN", "TRUE_EBV", "TRUE_AGN_FRAC"} <= set(r.meta["columns"])
    assert {x.cls for x in survey} <= {"GALAXY", "QSO"}
    names = set(r.lines["name"])
    assert {"H_alpha", "H_beta", "[N_II] 6583", "[O_III] 5007", "[O_II] 3727"} <= names
    assert all(len(n) <= 13 for n in names)                    # SDSS LINENAME is 13A


def test_class_fractions_follow_the_defaults_and_overrides():
    pop = draw_population(np.random.default_rng(0), 20000)
    n = len(pop["kind"])
    for kind in ("emission", "nlagn", "blagn"):
        p = DEFAULT_FRACTIONS[kind] / sum(DEFAULT_FRACTIONS.values())
        assert abs((pop["kind"] == kind).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
    p_odd = DEFAULT_FRACTIONS["oddity"] / sum(DEFAULT_FRACTIONS.values())
    assert abs((pop["oddity"] != "").mean() - p_odd) < 4 * np.sqrt(p_odd / n)
    only = draw_population(np.random.default_rng(0), 300, fractions={"quiescent": 0, "emission": 0,
                                                                      "nlagn": 0, "oddity": 0})
    assert np.all(only["kind"] == "blagn")
    with pytest.raises(NpvaeError, match="unknown class"):
        draw_population(np.random.default_rng(0), 10, fractions={"spiral": 0.5})
    with pytest.raises(NpvaeError, match=">= 0"):
        draw_population(np.random.default_rng(0), 10, fractions={"emission": -1})
    with pytest.raises(NpvaeError, match="positive integer"):
        generate(0, rng=1)


def test_line_ratios_land_on_the_intended_side_of_kewley():
    rng = np.random.default_rng(5)
    sf = nebular.line_fluxes(nebular.sf_ratios(rng, rng.normal(-0.3, 0.4, 3000)), rng)
    x, y = nebular.bpt_of_fluxes(sf)
    assert np.all(y < kewley2001_nii(x)) and np.all(x < 0.47)
    for make in (nebular.agn_ratios, nebular.liner_ratios):
        x, y = nebular.bpt_of_fluxes(nebular.line_fluxes(make(rng, 3000), rng))
        assert np.all((x >= 0.47) | (y > kewley2001_nii(np.minimum(x, 0.469))))


def test_true_fluxes_of_survey_agn_and_starforming_galaxies_are_on_their_side():
    recs = generate(400, rng=2, fractions={"quiescent": 0, "blagn": 0, "oddity": 0, "nlagn": 0.5})
    kind = _col(recs, "TRUE_CLASS")
    x = np.log10(_col(recs, "TRUE_FLUX_NII_6583") / _col(recs, "TRUE_FLUX_HA"))
    y = np.log10(_col(recs, "TRUE_FLUX_OIII_5007") / _col(recs, "TRUE_FLUX_HB"))
    above = (x >= 0.47) | (y > kewley2001_nii(np.minimum(x, 0.469)))
    assert np.all(above[kind == "nlagn"]) and not np.any(above[kind == "emission"])
    assert (kind == "nlagn").sum() > 100 and (kind == "emission").sum() > 100


def test_measured_halpha_matches_truth_within_errors(survey):
    cols = [line_columns(r.lines) for r in survey]
    area = np.array([c["HA_AREA"] for c in cols])
    err = np.array([c["HA_AREA_ERR"] for c in cols])
    true = _col(survey, "TRUE_FLUX_HA")
    normal = (_col(survey, "ODDITY") == "") & (_col(survey, "TRUE_CLASS") != "blagn") & (err > 0)
    pull = (area - true)[normal] / err[normal]
    assert normal.sum() > 400
    assert abs(np.median(pull)) < 0.3 and 0.7 < np.std(np.clip(pull, -5, 5)) < 1.4
    strong = normal & (true > 20 * err)
    assert np.median(area[strong] / true[strong]) == pytest.approx(1.0, abs=0.05)


def test_labels_from_measurements_mostly_agree_with_intended_classes(survey):
    cols = [line_columns(r.lines) for r in survey]
    g = {k: np.array([c[k] for c in cols]) for k in cols[0]}
    label, _, _ = classify(np.array([r.cls for r in survey]), g["HA_AREA"], g["HA_AREA_ERR"], g["HB_AREA"],
                           g["HB_AREA_ERR"], g["NII_AREA"], g["OIII_AREA"])
    kind = _col(survey, "TRUE_CLASS")
    for k in ("quiescent", "emission"):
        assert (label[kind == k] == k).mean() > 0.85
    assert np.all(label[kind == "blagn"] == "blagn")
    assert abs((label == "quiescent").mean() - 0.60) < 0.08


def test_sn_and_redshift_distributions():
    rng = np.random.default_rng(9)
    sn = draw_sn(rng, 20000)
    assert sn.min() >= 5 and sn.max() <= 90 and np.median(sn) == pytest.approx(14, abs=0.7)
    assert 0.002 < (sn > 50).mean() < 0.02
    z = draw_redshift(rng, 20000)
    hist, edges = np.histogram(z, bins=36, range=(0, 0.36))
    assert 0.07 <= edges[np.argmax(hist)] <= 0.12 and z.min() > 0 and z.max() <= 0.36
    model = np.tile(np.linspace(2, 20, 3801), (5, 1))
    target = np.array([5.0, 10, 14, 40, 90])
    flux, ivar, mask, bright = observe(rng, model, target)
    achieved = np.median(model * np.sqrt(ivar), axis=1)
    np.testing.assert_allclose(achieved, target, rtol=0.02)
    assert bright.sum() > 20 and np.all(mask[:, bright] & (1 << MASK_BITS["BRIGHTSKY"]))


def test_oddities_are_labelled_and_damaged():
    recs = generate(120, rng=8, fractions={"quiescent": 0, "emission": 0, "nlagn": 0, "blagn": 0,
                                           "oddity": 1})
    odd = _col(recs, "ODDITY")
    assert np.all(odd != "") and len(set(odd)) == 6
    for r, kind in zip(recs, odd):
        if kind == "missing_data":
            gap = (r.and_mask & (1 << MASK_BITS["NODATA"])) > 0
            assert gap.sum() >= 400 and np.all(r.ivar[gap] == 0)
        if kind.startswith("star"):
            assert r.cls == "GALAXY" and r.meta["columns"]["TRUE_CLASS"] == "star"
        if kind == "low_sn":
            assert r.meta["columns"]["TRUE_SN"] < 3.5 and (r.ivar == 0).mean() > 0.3


def test_synth_command_writes_a_dataset(tmp_path):
    from npvae.cli import main
    from npvae.data.dataset import load_dataset

    out = tmp_path / "synth.fits"
    assert main(["synth", "--n", "80", "--out", str(out), "--seed", "1", "--no-infill", "--quiet",
                 "--raw-dir", str(tmp_path / "raw")]) == 0
    ds = load_dataset(out)
    assert 70 <= len(ds) <= 80 and ds.flux.shape[1] == 1000
    assert {"ODDITY", "TRUE_Z", "TRUE_CLASS", "LABEL", "SPLIT"} <= set(ds.catalog.colnames)
    assert len(list((tmp_path / "raw").glob("spec-*.fits"))) == 80
    with pytest.raises(SystemExit) as usage_error:                 # a usage error: exit code 2
        main(["synth", "--n", "0", "--out", str(out)])
    assert usage_error.value.code == 2


def test_make_dataset_in_worker_processes_equals_the_single_process_one():
    """Building and preparing batches in worker processes must not change the dataset."""
    from npvae.synthetic import make_dataset

    one = make_dataset(700, rng=11, n_jobs=1)
    two = make_dataset(700, rng=11, n_jobs=2)
    np.testing.assert_array_equal(one.flux, two.flux)
    np.testing.assert_array_equal(one.weight, two.weight)
    np.testing.assert_array_equal(one.mask, two.mask)
    assert one.catalog.colnames == two.catalog.colnames
    for name in one.catalog.colnames:
        a, b = np.asarray(one.catalog[name]), np.asarray(two.catalog[name])
        if a.dtype.kind == "f":
            np.testing.assert_array_equal(a, b)          # NaN == NaN here
        else:
            assert (a == b).all(), name


def test_doublet_ratios_and_case_b_balmer_lines_follow_atomic_physics():
    """Intrinsic line fluxes of every kind of narrow-line spectrum.

    [O III] 5007/4959 = 2.98 (Storey & Zeippen 2000, MNRAS 312, 813; measured 2.993 +- 0.014 in
    SDSS AGN by Dimitrijevic et al. 2007); [N II] 6583/6548 = 3.05 (measured 3.049 +- 0.021 in
    250 SDSS type-2 AGN by Dojcinovic et al. 2023; Storey & Zeippen's transition probabilities give
    about 3.07); case B at 10^4 K, n_e = 100 cm^-3 (Osterbrock & Ferland 2006, Table 4.4):
    H-alpha/H-beta = 2.86, H-gamma/H-beta = 0.468, H-delta/H-beta = 0.259.
    """
    rng = np.random.default_rng(6)
    i = {name: k for k, name in enumerate(nebular.LINE_NAMES)}
    for ratios in (nebular.sf_ratios(rng, rng.normal(-0.3, 0.4, 500)), nebular.agn_ratios(rng, 500),
                   nebular.liner_ratios(rng, 500)):
        f = nebular.line_fluxes(ratios, rng)
        np.testing.assert_allclose(f[:, i["[O_III] 5007"]] / f[:, i["[O_III] 4959"]], 2.98, atol=0.015)
        np.testing.assert_allclose(f[:, i["[N_II] 6583"]] / f[:, i["[N_II] 6548"]], 3.05, atol=0.03)
        hb = f[:, i["H_beta"]]
        for line, ratio in (("H_alpha", 2.86), ("H_gamma", 0.468), ("H_delta", 0.259)):
            np.testing.assert_allclose(f[:, i[line]] / hb, ratio, atol=0.005)
