"""``npvae preprocess --out DIR`` and ``npvae encode`` on a real tcp cluster give what the loop gives.

Anchors: the in-process loop (``--scheduler none``) for the bytes of every shard and every
column of the latents table, and the commands' default paths (one file, no Dask) for the values.
"""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.table import Table

from npvae.cli import main
from npvae.data import load_dataset
from npvae.data.preprocess import preprocess
from npvae.data.recipe import Preprocessing
from npvae.data.shards import read_manifest
from npvae.distributed import preprocess as dp
from npvae.synthetic import generate
from npvae.synthetic.dataset import write_raw
from npvae.train import make_model
from _children import npvae_env, run_until_first_shard

N_FILES = 36


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """(raw folder of 36 spec-lite files + one unreadable file, model path): a tiny trained bundle."""
    folder = tmp_path_factory.mktemp("apply_dask")
    raw = write_raw(generate(N_FILES, rng=5), folder / "raw")
    (raw / "spec-0000-00000-0000.fits").write_bytes(b"not a FITS file")       # a named skip
    data = preprocess(generate(120, rng=3), rng=0, verbose=False)
    model = make_model("vae", 6, hidden=(32, 16), seed=1)
    model.fit(data.flux[:90], data.weight[:90], data.flux[90:], data.weight[90:], max_epochs=2, verbose=False)
    model.preprocessing = Preprocessing.from_training(data.flux[:90], {"sn_cap": 50.0})
    model.save(folder / "model.npz")
    return raw, folder / "model.npz"


def _preprocess(raw, out, *extra):
    assert main(["preprocess", str(raw), "--out", str(out), "--shard-size", "10", "--seed", "4", "--quiet",
                 *map(str, extra)]) == 0
    return read_manifest(out)


def _encode(out, *args):
    assert main(["encode", *map(str, args), "--out", str(out), "--chunk", "5", "--quiet"]) == 0
    return Table.read(out, "LATENTS"), Table.read(out, "SKIPPED")


def _assert_tables_equal(a, b, rtol=0):
    """Every column equal (floats to ``rtol``: BLAS with one thread or several rounds differently)."""
    assert a.colnames == b.colnames and len(a) == len(b)
    for name in a.colnames:
        x, y = np.asarray(a[name]), np.asarray(b[name])
        if rtol and x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)


def test_tcp_cluster_preprocesses_and_encodes_exactly_as_the_loop(dask_cluster, inputs, tmp_path):
    address, worker_pids = dask_cluster
    raw, model = inputs
    runs = {}
    for tag in ("none", address):
        sub = tmp_path / ("tcp" if tag == address else tag)
        manifest = _preprocess(raw, sub / "shards", "--scheduler", tag)
        runs[tag] = manifest, _encode(sub / "raw.fits", raw, sub / "shards", "--model", model, "--scheduler", tag)
    (ours, (lat, skip)), (theirs, (lat_tcp, skip_tcp)) = runs["none"], runs[address]
    # preprocess: the same shard files byte for byte, written by the workers
    assert [r["sha256"] for r in theirs["shards"]] == [r["sha256"] for r in ours["shards"]]
    assert theirs["files"]["basis"]["sha256"] == ours["files"]["basis"]["sha256"]
    assert {int(r["written_by"].rsplit(":", 1)[1]) for r in ours["shards"]} == {os.getpid()}
    assert {int(r["written_by"].rsplit(":", 1)[1]) for r in theirs["shards"]} <= worker_pids
    a, b = load_dataset(tmp_path / "none" / "shards"), load_dataset(tmp_path / "tcp" / "shards")
    assert len(a) == N_FILES and a.meta["shards"] == 4
    for name in ("flux", "weight", "mask"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    # encode: the raw files then the sharded dataset, every column equal and in input order
    assert len(lat) == 2 * N_FILES and list(skip["SOURCE"]) == [str(raw / "spec-0000-00000-0000.fits")]
    assert set(lat["SOURCE"][N_FILES:]) == {str(tmp_path / "none" / "shards" / r["file"]) for r in ours["shards"]}
    lat_tcp["SOURCE"] = np.char.replace(np.asarray(lat_tcp["SOURCE"]), bytes(tmp_path / "tcp"), bytes(tmp_path / "none"))
    _assert_tables_equal(lat, lat_tcp)
    _assert_tables_equal(skip, skip_tcp)
    assert np.isfinite(np.asarray(lat["OUTLIER"])).all()                 # scored on the workers too
    # the values are those of the default path (no Dask, chunks of 5 in this process, BLAS threads)
    plain, _ = _encode(tmp_path / "plain.fits", raw, tmp_path / "none" / "shards", "--model", model, "--jobs", "1")
    _assert_tables_equal(lat, plain, rtol=1e-4)


def test_sharded_preprocess_with_a_model_keeps_each_spectrum_of_the_one_file_run(inputs, tmp_path):
    raw, model = inputs
    _preprocess(raw, tmp_path / "shards", "--model", model)
    assert main(["preprocess", str(raw), "--out", str(tmp_path / "one.fits"), "--model", str(model), "--quiet",
                 "--jobs", "1"]) == 0
    shards, one = load_dataset(tmp_path / "shards"), load_dataset(tmp_path / "one.fits")
    assert "basis" not in read_manifest(tmp_path / "shards")["files"]     # the model's basis, not fitted
    assert list(shards.catalog["FIBERID"]) == list(one.catalog["FIBERID"])
    np.testing.assert_array_equal(np.asarray(shards.mask), np.asarray(one.mask))
    np.testing.assert_array_equal(np.asarray(shards.weight), np.asarray(one.weight))
    np.testing.assert_allclose(np.asarray(shards.flux), np.asarray(one.flux), rtol=1e-5, atol=1e-6)


def test_a_rerun_redoes_only_the_missing_shard_and_options_are_checked_first(inputs, tmp_path, capsys):
    raw, model = inputs
    first = _preprocess(raw, tmp_path / "shards")
    (tmp_path / "shards" / first["shards"][2]["file"]).unlink()            # as if killed before shard 2
    mtimes = {r["file"]: (tmp_path / "shards" / r["file"]).stat().st_mtime_ns for r in first["shards"][:2]}
    again = _preprocess(raw, tmp_path / "shards")
    assert [r["sha256"] for r in again["shards"]] == [r["sha256"] for r in first["shards"]]
    assert {f: (tmp_path / "shards" / f).stat().st_mtime_ns for f in mtimes} == mtimes   # kept untouched
    capsys.readouterr()
    for argv, message in (
            (["preprocess", raw, "--out", tmp_path / "shards", "--seed", "5"], "seed 4 now 5"),
            (["preprocess", raw, "--out", tmp_path / "one.fits", "--scheduler", "none"],
             "--scheduler needs a sharded output"),
            (["encode", raw, "--model", model, "--out", tmp_path / "x.fits", "--scheduler", "none", "--workers", "2"],
             "--workers 2: only for --scheduler local")):
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err


def test_a_shard_whose_files_were_all_skipped_loads_and_encodes(inputs, tmp_path):
    raw, model = inputs
    few = tmp_path / "few"
    few.mkdir()
    for path in sorted(raw.glob("*.fits"))[:3]:                        # the unreadable file sorts first
        (few / path.name).write_bytes(path.read_bytes())
    assert main(["preprocess", str(few), "--out", str(tmp_path / "shards"), "--shard-size", "1", "--no-infill",
                 "--quiet"]) == 0
    assert [r["rows"] for r in read_manifest(tmp_path / "shards")["shards"]] == [0, 1, 1]
    data = load_dataset(tmp_path / "shards")
    assert len(data) == 2 and np.asarray(data.flux).shape == (2, 1000)
    latents, _ = _encode(tmp_path / "latents.fits", tmp_path / "shards", "--model", model, "--scheduler", "none")
    assert list(latents["FIBERID"]) == list(data.catalog["FIBERID"])



def _file_sha256(folder):
    """{name: sha256} of the shard files and the basis, hashed here (not the manifest's records)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*"))
            if p.name.startswith("shard-") or p.name == "infill_basis.npz"}


def test_killed_sharded_preprocess_resumes_from_the_finished_shards(tmp_path):
    raw = write_raw(generate(80, rng=9), tmp_path / "raw")
    args = ["preprocess", str(raw), "--shard-size", "4", "--seed", "1", "--scheduler", "none", "--quiet"]
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "npvae.cli", *args, "--out", str(out)]
    manifest = run_until_first_shard(cmd, out)                       # a real SIGKILL mid-run
    assert not manifest["complete"] and 1 <= len(manifest["shards"]) < 20
    kept = {r["file"]: ((out / r["file"]).stat().st_ino, (out / r["file"]).stat().st_mtime_ns, r["written_by"])
            for r in manifest["shards"]}
    subprocess.run(cmd, env=npvae_env(), check=True, stdout=subprocess.DEVNULL)
    resumed = read_manifest(out)
    by_file = {r["file"]: r["written_by"] for r in resumed["shards"]}
    for name, (inode, mtime, writer) in kept.items():                 # not rewritten, same writer
        assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns, by_file[name]) == (inode, mtime, writer)
    assert len(set(by_file.values())) == 2                            # the rest by the second run
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    whole = _file_sha256(tmp_path / "whole")
    assert len(whole) == 21 and _file_sha256(out) == whole
    assert not list(out.glob(".*"))                                   # no temporaries left


def test_a_shard_read_in_blocks_is_the_shard_read_whole(inputs, tmp_path, monkeypatch):
    """Files read and prepared READ_BLOCK at a time (bounded memory) give the same shard bytes."""
    raw, model = inputs
    _preprocess(raw, tmp_path / "whole", "--model", model, "--scheduler", "none")
    monkeypatch.setattr(dp, "READ_BLOCK", 3)                       # 10-file shards in blocks of 3, 3, 3, 1
    _preprocess(raw, tmp_path / "blocks", "--model", model, "--scheduler", "none")
    whole, blocks = _file_sha256(tmp_path / "whole"), _file_sha256(tmp_path / "blocks")
    assert len(whole) >= 3 and whole == blocks
