"""Encoding with a trained model: one chunk function, the same latents whatever the batch."""
from dataclasses import replace

import numpy as np
import pytest

import npvae
from npvae.analysis.outliers import fit_lof_reference, lof_novelty_scores
from npvae.apply import encode_chunk, encode_spectra
from npvae.apply import spectra
from npvae.apply.spectra import COLUMNS
from npvae.baselines.metrics import reduced_chi2
from npvae.data.dataset import load_dataset, write_dataset
from npvae.data.preprocess import preprocess
from npvae.paper import LOF_K
from npvae.data.recipe import Preprocessing
from npvae.synthetic import generate


def test_encode_chunk_matches_the_engine(bundle, survey):
    _, model = bundle
    flux, weight, _, _, _ = model.preprocessing.prepare(survey[:50])
    mu, logvar, rchi2 = encode_chunk(model, flux, weight)
    ref_mu, ref_logvar = model.encode(flux)                               # the engine's own path
    assert np.abs(mu - ref_mu).max() <= 1e-4 and np.abs(logvar - ref_logvar).max() <= 1e-4
    ref_chi2 = reduced_chi2(flux, model.reconstruct(flux), weight, model.n_latent)
    assert np.allclose(rchi2, ref_chi2, rtol=1e-4)
    assert encode_chunk(model, flux)[2] is None


@pytest.fixture(scope="module")
def crowd():
    """2,000 other synthetic spectra."""
    return generate(2000, rng=11)


@pytest.mark.parametrize("infill", ["pca", "vae"])
def test_same_spectra_alone_in_three_and_in_two_thousand_give_the_same_latents(bundle, survey, crowd, infill):
    _, model = bundle
    crowd = list(crowd)
    picks = [replace(rec, fiber=9000 + i) for i, rec in enumerate(survey[:3])]   # unique ids
    for slot, rec in zip((5, 1500, 1999), picks):                         # across chunk borders
        crowd[slot] = rec
    big = encode_spectra(model, crowd, infill=infill)
    three = encode_spectra(model, picks, infill=infill)
    keys = lambda t: list(zip(t["PLATE"], t["MJD"], t["FIBERID"]))
    where = [keys(big).index(k) for k in keys(three)]
    for i in range(3):
        alone = encode_spectra(model, [picks[i]], infill=infill)
        for col in ("MU", "LOGVAR"):
            assert np.abs(alone[col][0] - three[col][i]).max() <= 1e-4
            assert np.abs(alone[col][0] - big[col][where[i]]).max() <= 1e-4
        assert np.isclose(alone["RCHI2"][0], big["RCHI2"][where[i]], rtol=1e-4)
        assert np.isclose(alone["OUTLIER"][0], big["OUTLIER"][where[i]], rtol=1e-4)


def test_dataset_input_gives_the_latents_of_the_raw_spectra(bundle, survey, tmp_path):
    _, model = bundle
    res = preprocess(survey[:60], rng=0, verbose=False)                  # batch-infilled file
    path = write_dataset(tmp_path / "d.fits", res.flux, res.weight, res.mask, res.catalog)
    from_file = encode_spectra(model, [str(path)], infill="pca")
    from_raw = encode_spectra(model, survey[:60], infill="pca")
    assert np.abs(from_file["MU"] - from_raw["MU"]).max() <= 1e-4
    assert list(from_file["LABEL"]) == list(from_raw["LABEL"])
    assert np.allclose(from_file["GOOD_FRAC"], from_raw["GOOD_FRAC"])
    masked = load_dataset(path).mask.mean(axis=1)                        # (N,) the reference, exactly
    assert np.array_equal(from_file["INFILL_FRAC"], masked) and np.array_equal(from_file["GOOD_FRAC"], 1.0 - masked)
    assert load_dataset(path).meta == {}


def test_table_has_the_documented_columns_and_reconstructions(bundle, survey):
    _, model = bundle
    table = encode_spectra(model, survey[:4], reconstructions=True)
    assert table.colnames == list(COLUMNS) + ["FLUX", "WEIGHT", "RECON"]
    assert table["MU"].shape == (4, 6) and table["RECON"].shape == (4, 1000)
    assert np.allclose(table["RECON"], model.decode(table["MU"]), atol=1e-5)
    assert np.allclose(table["GOOD_FRAC"] + table["INFILL_FRAC"], 1.0)
    empty = encode_spectra(model, [])
    assert len(empty) == 0 and empty["MU"].shape == (0, 6)


def test_outlier_score_is_about_one_inside_and_large_far_from_the_training_latents():
    rng = np.random.default_rng(0)
    lof = fit_lof_reference(rng.normal(size=(2000, 6)))
    scores = lof_novelty_scores(lof, np.array([np.zeros(6), np.full(6, 8.0)]))
    assert 0.8 < scores[0] < 1.3 and scores[1] > 5


def test_an_autoencoder_bundle_encodes_with_either_infill(prepared, survey, tmp_path):
    ae = npvae.make_model("ae", 3, hidden=(32,), seed=0)
    ae.fit(prepared.flux[:200], prepared.weight[:200], prepared.flux[200:], prepared.weight[200:],
           max_epochs=1, verbose=False)
    ae.preprocessing = Preprocessing.from_training(prepared.flux[:200])
    ae.save(tmp_path / "ae.npz")
    model = npvae.load(tmp_path / "ae.npz")
    for infill in ("pca", "vae"):
        table = encode_spectra(model, survey[:3], infill=infill)
        assert np.all(table["LOGVAR"] == 0) and np.isfinite(table["MU"]).all()


def test_the_kd_tree_outlier_score_is_scikit_learns_bit_for_bit():
    """LofReference (kd-tree queries) against LocalOutlierFactor.score_samples on the same fit."""
    from sklearn.neighbors import LocalOutlierFactor
    rng = np.random.default_rng(3)
    reference = np.concatenate([rng.normal(size=(3000, 6)), rng.normal(4, 0.3, size=(200, 6))])   # two densities
    points = np.concatenate([reference[rng.integers(0, 3200, 300)] + rng.normal(0, 0.2, (300, 6)),
                             reference[:50], rng.uniform(-9, 9, size=(100, 6))])   # near, on, far from it
    lof = fit_lof_reference(reference)
    sklearn_lof = LocalOutlierFactor(n_neighbors=LOF_K, novelty=True).fit(reference)
    np.testing.assert_array_equal(lof_novelty_scores(lof, points), -sklearn_lof.score_samples(points))
    np.testing.assert_array_equal(lof_novelty_scores(lof, points[:1]), -sklearn_lof.score_samples(points[:1]))


def test_engine_tasks_group_whole_chunks_in_order_and_join_their_columns_exactly(bundle, survey, tmp_path):
    _, model = bundle
    res = preprocess(survey[:23], rng=0, verbose=False)
    path = write_dataset(tmp_path / "d.fits", res.flux, res.weight, res.mask, res.catalog)
    sources = spectra._sources([str(path)])
    items = list(spectra._work_items(sources, model.preprocessing, 5))              # 5 chunks: 5+5+5+5+3
    tasks = list(spectra._tasks(sources, model.preprocessing, 5, per_task=2, tail=0))
    assert [len(t) for t in tasks] == [2, 2, 1] and [i for t in tasks for i in t] == items
    tapered = list(spectra._tasks(sources, model.preprocessing, 5, per_task=2, tail=2, per_tail_task=1))
    assert [len(t) for t in tapered] == [2, 1, 1, 1] and [i for t in tapered for i in t] == items   # 2 left: short
    alone = [spectra.encode_task([item], model, "pca", False) for item in items]   # one chunk per task
    joined, skipped, n = spectra.encode_task(items[1:4], model, "pca", False)
    assert n == 15 and skipped == []
    for name, column in joined.items():
        if name == "SOURCE":                                                        # compact until the table
            column, alone_columns = column.strings(), [alone[i][0][name].strings() for i in (1, 2, 3)]
        else:
            alone_columns = [alone[i][0][name] for i in (1, 2, 3)]
        np.testing.assert_array_equal(column, np.concatenate(alone_columns), err_msg=name)


def test_a_compact_source_column_gives_the_strings_it_stands_for():
    from npvae.apply.datarows import SourceColumn
    pieces = [np.full(3, "/a/shard-0.fits"), np.array(["x", "/long/" * 9 + "y.fits", "x"]), np.full(0, "z"),
              np.full(2, "/a/shard-0.fits"), np.full(2, "")]
    columns = [SourceColumn.repeat(str(p[0]), len(p)) if len(set(p)) == 1 else SourceColumn.of(list(p))
               for p in pieces if len(p)] + [SourceColumn.of([])]
    joined = SourceColumn.concatenate(columns)
    want = np.concatenate(pieces)
    assert joined.strings().dtype == want.dtype and list(joined.strings()) == list(want) and len(joined) == 10
    assert sorted(joined.names) == sorted(set(want))                              # each name once
    assert SourceColumn.concatenate([SourceColumn.of([])]).strings().dtype == np.full(0, "").dtype


def test_an_encode_task_scores_with_the_lof_reference_it_is_given(bundle, survey, tmp_path):
    _, model = bundle
    res = preprocess(survey[:12], rng=0, verbose=False)
    path = write_dataset(tmp_path / "d.fits", res.flux, res.weight, res.mask, res.catalog)
    items = [("rows", str(path), 0, 12)]
    fitted_here = spectra.encode_task(items, model, "pca", False)[0]
    sent = spectra.encode_task(items, model, "pca", False, spectra.outlier_reference(model))[0]
    np.testing.assert_array_equal(sent["OUTLIER"], fitted_here["OUTLIER"])
    other = fit_lof_reference(model.train_latents_[::2] + 1.0)                    # a different reference
    moved = spectra.encode_task(items, model, "pca", False, other)[0]
    np.testing.assert_array_equal(moved["OUTLIER"], lof_novelty_scores(other, moved["MU"]))
    assert not np.allclose(moved["OUTLIER"], fitted_here["OUTLIER"])


def test_the_chunk_count_of_every_kind_of_source_is_the_number_of_work_items(bundle, survey, tmp_path):
    """_n_chunks (which sizes the tasks before any is made) against the work items themselves."""
    _, model = bundle
    res = preprocess(survey[:23], rng=0, verbose=False)
    path = write_dataset(tmp_path / "d.fits", res.flux, res.weight, res.mask, res.catalog)
    dataset = spectra._sources([str(path)])[0]
    for chunk in (1, 4, 5, 23, 40):
        for kind, items, where in [dataset, ("records", survey[:9], None), ("files", ["a", "b", "c"], None)]:
            made = list(spectra._work_items([(kind, items, where)], model.preprocessing, chunk))
            assert spectra._n_chunks(kind, items, chunk) == len(made), (kind, chunk)
