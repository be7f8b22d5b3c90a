"""``npvae train --data DIR`` on a sharded dataset trains exactly as on the same data in one file."""
import csv

import numpy as np
from astropy.table import vstack

from npvae.cli import main
from npvae.commands.train import read_training_data
from npvae.data import load_dataset, write_dataset
from npvae.data.shards import read_manifest

TINY = ["--latent", "2", "--hidden", "16", "8", "--lam", "3", "--epochs", "2", "--batch-size", "32",
        "--seed", "4", "--quiet"]


def test_training_from_shards_matches_training_from_one_file(tmp_path):
    shards = tmp_path / "shards"
    assert main(["synth", "--n", "240", "--shard-size", "100", "--out", str(shards), "--scheduler", "none",
                 "--seed", "2", "--quiet"]) == 0
    parts = [load_dataset(shards / record["file"]) for record in read_manifest(shards)["shards"]]
    assert len(parts) == 3
    arrays = [np.concatenate([getattr(p, k) for p in parts]) for k in ("flux", "weight", "mask")]
    write_dataset(tmp_path / "one.fits", *arrays, vstack([p.catalog for p in parts]))   # joined here
    for a, b in zip(read_training_data(shards), read_training_data(tmp_path / "one.fits")):
        np.testing.assert_array_equal(a, b)
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
