"""``npvae train --data DIR`` on a sharded dataset trains exactly as on the same data in one file.

The folder is trained streaming: the run fails if anything reads a whole ShardedArray.
"""
import csv

import numpy as np

import npvae
from astropy.table import Table, vstack

from npvae.cli import main
from npvae.commands.train import read_training_data
from npvae.data import load_dataset, write_dataset
from npvae.data.dataset import write_shard
from npvae.data.shards import ShardedArray, ShardWriter, read_manifest

TINY = ["--latent", "2", "--hidden", "16", "8", "--lam", "3", "--epochs", "2", "--batch-size", "32",
        "--seed", "4", "--quiet"]


def _never_whole(self, dtype=None, copy=None):
    raise AssertionError("a sharded array was read into memory whole")


def test_training_from_shards_matches_training_from_one_file(tmp_path, monkeypatch):
    shards = tmp_path / "shards"
    assert main(["synth", "--n", "240", "--shard-size", "100", "--out", str(shards), "--scheduler", "none",
                 "--seed", "2", "--quiet"]) == 0
    parts = [load_dataset(shards / record["file"]) for record in read_manifest(shards)["shards"]]
    assert len(parts) == 3
    arrays = [np.concatenate([getattr(p, k) for p in parts]) for k in ("flux", "weight", "mask")]
    write_dataset(tmp_path / "one.fits", *arrays, vstack([p.catalog for p in parts]))   # joined here
    in_memory = read_training_data(tmp_path / "one.fits")
    for a, b in zip(read_training_data(shards), in_memory):
        np.testing.assert_array_equal(a, b)
    lazy = read_training_data(shards, lazy=True)                     # lazy rows, nothing read
    assert all(isinstance(a, ShardedArray) for a in lazy)
    for a, b in zip(lazy, in_memory):
        np.testing.assert_array_equal(a[:], b)
    monkeypatch.setattr(ShardedArray, "__array__", _never_whole)
    for data, out in ((shards, "from_shards"), (tmp_path / "one.fits", "from_file")):
        assert main(["train", "--data", str(data), "--out", str(tmp_path / out)] + TINY) == 0
    with np.load(tmp_path / "from_shards" / "model.npz") as a, np.load(tmp_path / "from_file" / "model.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if a[key].dtype.kind in "fiub":
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    histories = [list(csv.DictReader((tmp_path / out / "history.csv").read_text().splitlines()))
                 for out in ("from_shards", "from_file")]
    for rows in histories:
        for row in rows:
            del row["seconds"]                                       # wall time, not a result
    assert histories[0] == histories[1] and len(histories[0]) == 2


def test_lazy_training_rows_keep_the_class_filter_and_the_split(tmp_path):
    rng = np.random.default_rng(8)
    n, folder = 40, tmp_path / "shards"
    flux = rng.normal(size=(n, 1000)).astype(np.float32)                # (N, D)
    weight = rng.uniform(0.5, 2.0, size=(n, 1000)).astype(np.float32)   # (N, D)
    classes = np.array(["GALAXY", "QSO", "STAR", "UNKNOWN", "SKY"] * 8)
    split = np.array(["train", "valid", "train", "train"] * 10)
    catalog = Table({"PLATE": np.arange(n), "MJD": np.full(n, 52000), "FIBERID": np.arange(n) + 1,
                     "Z": np.full(n, 0.1), "CLASS": classes, "LABEL": ["quiescent"] * n,
                     "SN_MEDIAN": np.full(n, 10.0), "SPLIT": split})
    writer = ShardWriter(folder, {"kind": "test"}, 2)
    for index, rows in enumerate((slice(0, 25), slice(25, n))):
        writer.add(write_shard(folder, index, flux[rows], weight[rows], np.zeros((n, 1000))[rows], catalog[rows]))
    keep = np.isin(classes, ["GALAXY", "QSO"])
    for all_classes, kept in ((False, keep), (True, np.ones(n, bool))):
        lazy = read_training_data(folder, all_classes=all_classes, lazy=True)
        assert all(isinstance(a, ShardedArray) for a in lazy)
        expected = [flux[kept & (split == "train")], weight[kept & (split == "train")],
                    flux[kept & (split == "valid")], weight[kept & (split == "valid")]]
        for a, b in zip(lazy, expected):
            np.testing.assert_array_equal(a[:], b)


def test_streaming_training_reads_two_catalogue_columns_and_the_manifest_meta(tmp_path, monkeypatch):
    """A million spectra's catalogue is a gigabyte: training from shards reads CLASS and SPLIT only."""
    from npvae.data import dataset
    shards = tmp_path / "shards"
    assert main(["synth", "--n", "120", "--shard-size", "60", "--out", str(shards), "--scheduler", "none",
                 "--seed", "2", "--quiet"]) == 0
    asked, table_from_hdu = [], dataset._table_from_hdu
    monkeypatch.setattr(dataset, "_table_from_hdu", lambda hdu, columns=None, where="": (
        asked.append(columns), table_from_hdu(hdu, columns, where))[1])
    assert main(["train", "--data", str(shards), "--out", str(tmp_path / "run")] + TINY) == 0
    assert asked and all(sorted(c) == ["CLASS", "SPLIT"] for c in asked)     # one per shard, two columns
    full = load_dataset(shards)
    assert dataset.dataset_meta(shards) == full.meta and full.meta["shards"] == 2
    assert npvae.load(tmp_path / "run").preprocessing is not None
    one = shards / read_manifest(shards)["shards"][0]["file"]                # a dataset file: its header's meta
    assert dataset.dataset_meta(one) == load_dataset(one).meta and "preprocessing" in dataset.dataset_meta(one)
    full.close()
