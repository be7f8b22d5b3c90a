"""The "beyond the paper" stage: its report sections, metrics keys, and numbers equal to the library's.

The anchors: the tiny run's saved models put through the library functions again
(noise_sensitivity, redshift_spectra) with the stage's random streams, and the NMAD from
scipy.stats.median_abs_deviation (scale "normal" = 1.4826).
"""
import numpy as np
import pytest
from astropy.table import Table
from scipy.stats import median_abs_deviation

from _tiny_reproduce import TINY
from npvae.analysis.noise import noise_sensitivity
from npvae.apply import redshift_spectra
from npvae.data.dataset import load_dataset
from npvae.reproduce.redshift_scores import (CATASTROPHIC, SN_BINS, catastrophic_fraction, nmad, redshift_errors,
                                             score_subsets)
from npvae.reproduce.stages_beyond import NOISE_STREAM, REDSHIFT_STREAM, Z_METHODS
from npvae.reproduce.stages_latent import SN_LEVELS
from npvae.synthetic import generate
from npvae.train import load
from npvae.utils import NpvaeError


def test_report_has_the_beyond_sections_after_the_paper_table(run):
    out, metrics, _ = run
    assert (out / "figures" / "beyond_fig17_noise_aware.png").exists()
    assert (out / "models" / "vae_z2_noise_aware.npz").exists()
    assert set(metrics["beyond"]) == {"n_latent", "noise", "redshift"}
    assert set(metrics["beyond"]["redshift"]["methods"]) == set(Z_METHODS)
    html = (out / "report.html").read_text()
    body = html[html.index("</ol>"):]                      # after the table of contents
    paper, noise, z, data = (body.index(s) for s in ("Paper vs npvae", "Beyond the paper: a noise-aware encoder",
                                                     "Beyond the paper: redshifts with the VAE", ">Data<"))
    assert paper < noise < z < data
    assert body[noise:z].count("data:image/png;base64,") == 1
    assert "VAE NMAD" in body[z:data] and "PCA catastrophic" in body[z:data]


def test_noise_aware_fig17_numbers_are_those_of_noise_sensitivity(run):
    out, metrics, _ = run
    beyond, latent = metrics["beyond"]["noise"], metrics["latent"]["noise"]
    model = load(out / "models" / "vae_z2_noise_aware.npz")
    assert model.noise_aware
    valid = load_dataset(out / "dataset.fits").subset("valid").without_stars()
    row = latent["row"]
    assert beyond["row"] == row and beyond["n_draws"] == TINY["noise_draws"]
    again = noise_sensitivity(model.encode, valid.flux[row], valid.weight[row], SN_LEVELS,
                              n_draws=TINY["noise_draws"], rng=np.random.default_rng((TINY["seed"], NOISE_STREAM)),
                              with_weights=True)
    np.testing.assert_allclose(beyond["noise_aware"]["ratio"], again.ratio, rtol=1e-10)
    np.testing.assert_allclose(beyond["noise_aware"]["bias"], again.bias, rtol=1e-10)
    np.testing.assert_allclose(beyond["standard"]["ratio"], latent["ratio"], rtol=0)    # the latent stage's own
    for side, ratio in (("standard", latent["ratio"]), ("noise_aware", again.ratio)):
        np.testing.assert_allclose(beyond[side]["geomean_ratio"], np.exp(np.log(ratio).mean(axis=1)), rtol=1e-12)


def test_redshift_table_is_that_of_redshift_spectra_scored_independently(run):
    out, metrics, _ = run
    z = metrics["beyond"]["redshift"]
    vae = load(out / "models" / "vae_z2.npz")
    records = generate(TINY["redshift_spectra"], rng=np.random.default_rng((TINY["seed"], REDSHIFT_STREAM)))
    truth = {(r.plate, r.mjd, r.fiber): r.meta["columns"] for r in records}
    for method in Z_METHODS:
        table = redshift_spectra(vae, records, method=method)
        cols = [truth[k] for k in zip(table["PLATE"], table["MJD"], table["FIBERID"])]
        z_true = np.array([c["TRUE_Z"] for c in cols])
        dz = (np.asarray(table["Z"]) - z_true) / (1 + z_true)
        rows = {r["subset"]: r for r in z["methods"][method]["rows"]}
        assert rows["all"]["n"] == len(table) == z["methods"][method]["n_scanned"]
        assert rows["all"]["nmad"] == pytest.approx(median_abs_deviation(dz, scale="normal"), rel=1e-3)
        assert rows["all"]["catastrophic"] == pytest.approx(np.mean(np.abs(dz) > 0.01))
        cls = np.array([c["TRUE_CLASS"] for c in cols])
        for name in np.unique(cls):
            keep = cls == name
            assert rows[f"class {name}"]["n"] == keep.sum()
            assert rows[f"class {name}"]["nmad"] == pytest.approx(median_abs_deviation(dz[keep], scale="normal"),
                                                                  rel=1e-3, abs=1e-12)
        sn = np.array([c["TRUE_SN"] for c in cols])
        assert sum(rows[f"S/N {lo:g}-{hi:g}"]["n"] for lo, hi in SN_BINS) == len(table)
        assert rows["S/N 5-10"]["n"] == np.sum((sn >= 5) & (sn < 10))


def test_nmad_and_catastrophic_fraction_on_known_values():
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.002, 200_000)
    assert nmad(x) == pytest.approx(0.002, rel=0.01)                  # NMAD = sigma for a Gaussian
    assert nmad(x) == pytest.approx(median_abs_deviation(x, scale="normal"), rel=1e-4)
    assert catastrophic_fraction([0.0, 0.005, -0.02, 0.011]) == 0.5
    assert catastrophic_fraction([CATASTROPHIC]) == 0.0                 # strictly above the limit
    assert np.isnan(nmad([])) and np.isnan(catastrophic_fraction([]))


def test_redshift_errors_follow_the_table_rows_not_the_record_order():
    records = generate(4, rng=1)
    order = [2, 0, 3]                                                   # one skipped, rows shuffled
    z_true = np.array([records[i].meta["columns"]["TRUE_Z"] for i in order])
    table = Table({"PLATE": [records[i].plate for i in order], "MJD": [records[i].mjd for i in order],
                   "FIBERID": [records[i].fiber for i in order], "Z": z_true + 0.005 * (1 + z_true)})
    dz, cls, sn = redshift_errors(table, records)
    np.testing.assert_allclose(dz, 0.005, rtol=1e-9)
    assert list(cls) == [records[i].meta["columns"]["TRUE_CLASS"] for i in order]
    rows = score_subsets(dz, cls, sn)
    assert rows[0]["subset"] == "all" and rows[0]["n"] == 3 and rows[0]["catastrophic"] == 0.0
    assert rows[0]["nmad"] == pytest.approx(0.0, abs=1e-12)
    table["FIBERID"][0] = -1
    with pytest.raises(NpvaeError, match="not among the records"):
        redshift_errors(table, records)
