"""``npvae encode --top N``: the N highest LOF scores, their IDs, file and row, on any engine and chunking.

Anchors: scikit-learn's ``LocalOutlierFactor(novelty=True)`` fitted on the model's training
latents and ranked by brute force (a lexicographic sort, not npvae's ranking), and the files
themselves for SOURCE / ROW (the catalogue row there has the same plate, MJD and fiber).
"""
import numpy as np
import pytest
from astropy.table import Table
from sklearn.neighbors import LocalOutlierFactor

from npvae.cli import main
from npvae.data import load_dataset
from npvae.paper import LOF_K
from npvae.synthetic.dataset import write_raw

TOP = 15


@pytest.fixture(scope="module")
def inputs(survey, tmp_path_factory):
    """(raw folder of 30 spec-lite files + an unreadable one, sharded folder of 200 in 3 shards)."""
    folder = tmp_path_factory.mktemp("top")
    raw = write_raw(survey[:30], folder / "raw")
    (raw / "spec-0000-00000-0000.fits").write_bytes(b"not a FITS file")
    shards = folder / "shards"
    assert main(["synth", "--n", "200", "--out", str(shards), "--shard-size", "70", "--scheduler", "none",
                 "--seed", "2", "--quiet"]) == 0
    return raw, shards


def _encode_top(bundle, inputs, out, *extra):
    raw, shards = inputs
    assert main(["encode", str(raw), str(shards), "--model", str(bundle[0]), "--out", str(out), "--quiet",
                 "--top", str(TOP), *extra]) == 0
    return Table.read(out, "LATENTS"), Table.read(out.with_suffix(".top.csv"), format="ascii.csv")


def test_top_outliers_are_the_brute_force_lof_ranking_on_any_engine_and_chunking(bundle, inputs, tmp_path):
    model = bundle[1]
    latents, top = _encode_top(bundle, inputs, tmp_path / "a.fits", "--jobs", "1")
    # anchor: sklearn's novelty LOF on the training latents, ranked by a lexsort (ties: lower row first)
    lof = LocalOutlierFactor(n_neighbors=LOF_K, novelty=True).fit(model.train_latents_)
    score = -lof.score_samples(np.asarray(latents["MU"], np.float64))        # (N,)
    expected = np.lexsort((np.arange(len(score)), -score))[:TOP]
    assert len(latents) == 230 and list(top["RANK"]) == list(range(1, TOP + 1))
    assert list(top["INDEX"]) == list(expected)
    np.testing.assert_allclose(top["OUTLIER"], score[expected], rtol=1e-6)
    np.testing.assert_array_equal(top["RCHI2"], latents["RCHI2"][expected])
    for name in ("PLATE", "MJD", "FIBERID"):
        np.testing.assert_array_equal(top[name], latents[name][expected])
    # the same list from the Dask task function in a loop and from other chunkings
    for tag, extra in (("none", ("--scheduler", "none", "--chunk", "7")), ("chunk", ("--chunk", "13"))):
        _, again = _encode_top(bundle, inputs, tmp_path / f"{tag}.fits", *extra)
        assert list(again["INDEX"]) == list(top["INDEX"]), tag
        assert list(again["SOURCE"]) == list(top["SOURCE"]) and list(again["ROW"]) == list(top["ROW"]), tag


def test_every_row_names_the_file_and_row_it_came_from(bundle, inputs, tmp_path):
    raw, shards = inputs
    latents, _ = _encode_top(bundle, inputs, tmp_path / "a.fits", "--scheduler", "none", "--chunk", "11")
    from_raw = latents[:30]
    assert [s.rsplit("/", 1)[1] for s in from_raw["SOURCE"]] == [
        f"spec-{p:04d}-{m:05d}-{f:04d}.fits" for p, m, f in zip(from_raw["PLATE"], from_raw["MJD"], from_raw["FIBERID"])]
    assert set(from_raw["ROW"]) == {0}
    from_shards = latents[30:]
    files = sorted(set(from_shards["SOURCE"]))
    assert [f.rsplit("/", 1)[1] for f in files] == ["shard-00000.fits", "shard-00001.fits", "shard-00002.fits"]
    for file in files:
        rows = from_shards[from_shards["SOURCE"] == file]
        catalog = load_dataset(file).catalog
        for name in ("PLATE", "MJD", "FIBERID"):
            np.testing.assert_array_equal(rows[name], np.asarray(catalog[name])[rows["ROW"]])
        assert list(rows["ROW"]) == list(range(len(catalog)))


@pytest.mark.parametrize("extra, message", [
    (["--top-out", "t.csv"], "--top-out needs --top N"),
    (["--top", "3", "--top-out", "t.txt"], "must be a .csv or .fits file"),
    (["--top", "3", "--top-out", "missing/t.csv"], "does not exist"),
    (["--top", "3", "--top-out", "out.fits"], "the same file as --out"),
])
def test_bad_top_options_are_refused_before_any_work(bundle, tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.chdir(tmp_path)
    assert main(["encode", "nothing/", "--model", "no-model.npz", "--out", "out.fits", *extra]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_top_needs_a_model_with_training_latents(bundle, survey, tmp_path, capsys):
    model = bundle[1]
    saved, model.train_latents_ = model.train_latents_, None
    try:
        model.save(tmp_path / "bare.npz")
    finally:
        model.train_latents_ = saved
    raw = write_raw(survey[:2], tmp_path / "raw")
    assert main(["encode", str(raw), "--model", str(tmp_path / "bare.npz"), "--out", str(tmp_path / "x.fits"),
                 "--top", "2"]) == 1
    assert "holds no training latents" in capsys.readouterr().err
    assert not (tmp_path / "x.fits").exists()


def test_encoding_a_sharded_folder_never_loads_its_catalogue_whole(bundle, inputs, tmp_path, monkeypatch):
    """A million rows' catalogue is a gigabyte: the client reads the manifest, the chunks read their rows."""
    from npvae.data import dataset

    def whole_catalogue(*args, **kwargs):
        raise AssertionError("a whole catalogue was loaded")

    latents, top = _encode_top(bundle, inputs, tmp_path / "a.fits", "--chunk", "50")
    monkeypatch.setattr(dataset, "_table_from_hdu", whole_catalogue)
    monkeypatch.setattr(dataset.fits, "open", whole_catalogue)
    again, top_again = _encode_top(bundle, inputs, tmp_path / "b.fits", "--chunk", "50")
    for name in latents.colnames:
        np.testing.assert_array_equal(again[name], latents[name], err_msg=name)


def test_no_rchi2_drops_the_column_and_changes_no_other_bit(bundle, inputs, tmp_path):
    for tag, extra in (("loop", ()), ("task", ("--scheduler", "none", "--chunk", "7"))):
        latents, top = _encode_top(bundle, inputs, tmp_path / f"with_{tag}.fits", *extra)
        without, top_without = _encode_top(bundle, inputs, tmp_path / f"without_{tag}.fits", "--no-rchi2", *extra)
        assert "RCHI2" in latents.colnames and "RCHI2" not in without.colnames, tag
        assert without.colnames == [c for c in latents.colnames if c != "RCHI2"], tag
        for name in without.colnames:
            np.testing.assert_array_equal(without[name], latents[name], err_msg=f"{tag} {name}")
        assert top_without.colnames == [c for c in top.colnames if c != "RCHI2"], tag
        for name in top_without.colnames:
            np.testing.assert_array_equal(top_without[name], top[name], err_msg=f"{tag} {name}")
