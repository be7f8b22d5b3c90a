"""Sharded ``npvae synth``: the same bytes on any engine, and a killed run resumes where it stopped."""
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from npvae.cli import main
from npvae.data import load_dataset
from npvae.data.shards import read_manifest
from npvae.distributed import open_engine, synth_shards
from npvae.synthetic.shards import ShardPlan
from _children import npvae_env, run_until_first_shard

SYNTH = ["synth", "--n", "300", "--shard-size", "100", "--seed", "3", "--quiet"]


def _checksums(folder):
    manifest = read_manifest(folder)
    return [r["sha256"] for r in manifest["shards"]], manifest["files"]["basis"]["sha256"]


def _writers(folder):
    return {int(r["written_by"].rsplit(":", 1)[1]) for r in read_manifest(folder)["shards"]}


def test_tcp_cluster_writes_the_bytes_of_the_in_process_loop(dask_cluster, tmp_path):
    address, worker_pids = dask_cluster
    assert main(SYNTH + ["--out", str(tmp_path / "none"), "--scheduler", "none"]) == 0
    assert main(SYNTH + ["--out", str(tmp_path / "tcp"), "--scheduler", address]) == 0
    assert _writers(tmp_path / "none") == {os.getpid()}
    assert _writers(tmp_path / "tcp") <= worker_pids                  # the workers wrote the shards
    assert _checksums(tmp_path / "tcp") == _checksums(tmp_path / "none")   # byte-identical files
    a, b = load_dataset(tmp_path / "none"), load_dataset(tmp_path / "tcp")
    assert len(a) > 290 and a.meta["shards"] == 3
    for name in ("flux", "weight", "mask"):
        np.testing.assert_array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name)))
    assert list(a.catalog["FIBERID"]) == list(b.catalog["FIBERID"])


def _environ(name):
    return name, os.environ.get(name)


def test_local_cluster_writes_the_same_bytes_and_keeps_malloc_default(tmp_path):
    plan = ShardPlan(n=250, shard_size=100, seed=3)
    with open_engine("none") as engine:
        synth_shards(tmp_path / "none", plan, engine)
    with open_engine("local", workers=2) as engine:
        synth_shards(tmp_path / "local", plan, engine)
        environ = dict(engine.map(_environ, ["MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS"]))   # any order
    assert _checksums(tmp_path / "local") == _checksums(tmp_path / "none")
    assert os.getpid() not in _writers(tmp_path / "local")
    assert environ == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}


def test_killed_synth_resumes_from_the_finished_shards(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "npvae.cli"] + SYNTH[:2] + ["500"] + SYNTH[3:] + [
        "--out", str(out), "--scheduler", "none"]
    manifest = run_until_first_shard(cmd, out)
    assert not manifest["complete"] and 1 <= len(manifest["shards"]) < 5
    stats = {r["file"]: ((out / r["file"]).stat().st_ino, (out / r["file"]).stat().st_mtime_ns)
             for r in manifest["shards"]}
    subprocess.run(cmd, env=npvae_env(), check=True, stdout=subprocess.DEVNULL)
    for name, stat in stats.items():                                 # not rewritten
        assert ((out / name).stat().st_ino, (out / name).stat().st_mtime_ns) == stat, name
    assert main(SYNTH[:2] + ["500"] + SYNTH[3:] + ["--out", str(tmp_path / "whole"), "--scheduler", "none"]) == 0
    assert _checksums(out) == _checksums(tmp_path / "whole")
    assert not list(out.glob(".*"))                                   # no temporaries left


def test_foreign_folder_is_refused_before_reaching_the_scheduler(tmp_path, capsys):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "notes.txt").write_text("mine")
    t0 = time.perf_counter()
    assert main(SYNTH + ["--out", str(tmp_path / "ds"), "--scheduler", "tcp://127.0.0.1:9"]) == 1   # no one there
    assert "is not empty and has no manifest.json" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 10


@pytest.mark.parametrize("extra, message", [
    (["--scheduler", "udp://x:1"], "use 'local', 'none' or 'tcp://HOST:PORT'"),
    (["--raw-dir", "raw"], "--raw-dir is not supported"),
])
def test_bad_sharded_options_are_refused_before_any_work(tmp_path, capsys, extra, message):
    assert main(SYNTH + ["--out", str(tmp_path / "ds")] + extra) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_a_worker_count_below_one_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(SYNTH + ["--out", str(tmp_path / "ds"), "--workers", "0"])
    assert exit_info.value.code == 2
    assert "argument --workers: must be an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()
