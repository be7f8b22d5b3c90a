"""Arguments, paths and data are checked before any work; pipes and killed workers leave no mess.

Every bad number is a one-line usage error (exit 2); a bad output path, too little memory or a
broken data file is a one-line error (exit 1) that comes before the work starts.
"""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import npvae
import npvae.commands.synth as synth_command
import npvae.commands.train as train_command
from npvae.cli import main

from test_run_folder import ROOT, TINY, _one_line_error, cli


@pytest.mark.parametrize("args, message", [
    (["train", "--latent", "0"], "--latent: must be an integer >= 1, got 0"),
    (["train", "--latent", "-3"], "--latent: must be an integer >= 1"),
    (["train", "--hidden", "0", "32"], "--hidden: must be an integer >= 1, got 0"),
    (["train", "--hidden", "-5"], "--hidden: must be an integer >= 1"),
    (["train", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["train", "--lam", "-5"], "--lam: must be a finite number >= 0"),
    (["train", "--lam", "inf"], "--lam: must be a finite number >= 0"),
    (["train", "--alpha", "2"], "--alpha: must be a finite number >= 0 and <= 1"),
    (["train", "--lr", "0"], "--lr: must be a finite number > 0"),
    (["train", "--lr", "nan"], "--lr: must be a finite number > 0"),
    (["train", "--epochs", "0"], "--epochs: must be an integer >= 1"),
    (["train", "--batch-size", "0"], "--batch-size: must be an integer >= 1"),
    (["train", "--latent", "2.5"], "--latent: '2.5' is not an integer"),
    (["synth", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["synth", "--n", "0"], "--n: must be an integer >= 1"),
    (["preprocess", "x", "--seed", "-1"], "--seed: must be an integer >= 0"),
    (["preprocess", "x", "--sn-cap", "-1"], "--sn-cap: must be a finite number >= 0"),
    (["reproduce", "--latents", "0"], "--latents: must be an integer >= 1"),
    (["reproduce", "--n", "5"], "--n: must be an integer >= 84"),
    (["search", "--latent", "0"], "--latent: must be an integer >= 1"),
])
def test_every_bad_number_is_a_one_line_usage_error(tmp_path, capsys, args, message):
    needs = {"train": ["--data", "d.npz", "--out", str(tmp_path / "o")],
             "search": ["--data", "d.npz", "--out", str(tmp_path / "o")],
             "synth": ["--out", str(tmp_path / "s.fits")], "preprocess": ["--out", str(tmp_path / "p.fits")],
             "reproduce": ["--out", str(tmp_path / "r")]}[args[0]]
    with pytest.raises(SystemExit) as info:
        main(args + needs)
    assert info.value.code == 2
    _one_line_error(capsys, message)
    assert not any(tmp_path.iterdir())                              # nothing was started


@pytest.mark.parametrize("kind", ["file", "under a file", "unwritable"])
def test_bad_out_is_refused_before_the_data_is_read(tmp_path, capsys, kind):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"file": blocker, "under a file": blocker / "run", "unwritable": "/proc/self/npvae_run"}[kind]
    missing_data = tmp_path / "no_such_data.npz"
    assert cli(["train", "--data", missing_data, "--out", out] + TINY) == 1
    _one_line_error(capsys, "--out", "is a file" if kind == "file" else "cannot write there")
    assert blocker.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_out_is_refused_before_training(tmp_path, npz_file, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 1
        _one_line_error(capsys, "cannot write there")
    finally:
        out.chmod(0o755)


def test_synth_checks_out_and_raw_dir_before_generating(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(synth_command, "make_dataset", lambda *a, **k: pytest.fail("work started"))
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert cli(["synth", "--n", "10", "--out", blocker / "d.fits"]) == 1
    _one_line_error(capsys, "a_file: is a file, not a folder")
    assert cli(["synth", "--n", "10", "--out", tmp_path / "d.fits", "--raw-dir", blocker]) == 1
    _one_line_error(capsys, "--raw-dir", "is a file")
    assert cli(["synth", "--n", "10", "--out", tmp_path]) == 1
    _one_line_error(capsys, "is not empty and has no manifest.json")   # a folder means a sharded dataset


def test_training_that_cannot_fit_in_memory_is_refused_before_it_starts(tmp_path, npz_file, capsys,
                                                                        monkeypatch):
    monkeypatch.setattr(train_command, "available_memory", lambda: 50_000)
    assert cli(["train", "--data", npz_file, "--out", tmp_path / "o"] + TINY) == 1
    _one_line_error(capsys, "needs about", "GiB", "--batch-size")
    assert not (tmp_path / "o" / "checkpoint.npz").exists()
    need = npvae.train.guards.training_memory_bytes
    assert need(1000, (703, 94), 6, 10**8, 40000) == need(1000, (703, 94), 6, 40000, 40000)   # B <= N
    params = npvae.InfoVAE(1000, (703, 94), 6).flat_params.nbytes
    assert 6 * params < need(1000, (703, 94), 6, 64, 40000) < 7 * params


def test_truncated_dataset_file_is_a_one_line_error(tmp_path, dataset_fits, capsys):
    path = dataset_fits
    data = path.read_bytes()
    path.write_bytes(data[:int(0.99 * len(data))])
    assert cli(["train", "--data", path, "--out", tmp_path / "o"] + TINY) == 1
    _one_line_error(capsys, "d.fits", "truncated")


@pytest.mark.parametrize("arrays, message", [
    (lambda X, W: {"flux": X, "weight": W, "split": np.array(["train"] * (len(X) - 1))}, "split has shape"),
    (lambda X, W: {"flux": X.astype(str), "weight": W}, "flux holds <U"),
])
def test_npz_with_wrong_split_length_or_string_flux_is_a_one_line_error(tmp_path, tiny_data, capsys,
                                                                        arrays, message):
    X, W, _, _ = tiny_data
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays(X, W))
    assert cli(["train", "--data", path, "--out", tmp_path / "o"] + TINY) == 1
    _one_line_error(capsys, "bad.npz", message)


def test_all_zero_weights_are_refused(tmp_path, tiny_data, capsys):
    X, W, _, _ = tiny_data
    path = tmp_path / "zero.npz"
    np.savez(path, flux=X, weight=np.zeros_like(W))
    assert cli(["train", "--data", path, "--out", tmp_path / "o"] + TINY) == 1
    _one_line_error(capsys, "all zero")


def test_synth_raw_dir_reused_with_fewer_spectra_is_refused_unless_overwritten(tmp_path, capsys):
    raw, out = tmp_path / "raw", tmp_path / "d.fits"
    assert cli(["synth", "--n", "12", "--out", out, "--raw-dir", raw, "--quiet"]) == 0
    assert len(list(raw.glob("*.fits"))) == 12
    debris = tmp_path / ".d.fits.k2j4h5g6.tmp.fits"                 # left by a killed synth
    debris.write_bytes(b"half")
    capsys.readouterr()
    assert cli(["synth", "--n", "5", "--out", out, "--raw-dir", raw, "--quiet"]) == 1
    _one_line_error(capsys, "already holds 12 spectrum files", "--on-exists overwrite")
    assert cli(["synth", "--n", "5", "--out", out, "--raw-dir", raw, "--quiet", "--on-exists", "overwrite"]) == 0
    assert len(list(raw.glob("*.fits"))) == 5 and not debris.exists()


def test_preprocess_into_a_closed_pipe_writes_the_dataset_and_exits_0(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "p.fits"
    assert cli(["synth", "--n", "12", "--out", tmp_path / "s.fits", "--raw-dir", raw, "--quiet"]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    command = (f"{sys.executable} -m npvae.cli preprocess {raw} --out {out} --quiet | true; "
               "echo status ${PIPESTATUS[0]} >&2")
    result = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, timeout=120)
    assert "status 0" in result.stderr and "Error" not in result.stderr, result.stderr
    assert len(npvae.load_dataset(out)) == 12


WORKER_SCRIPT = """
import os, sys, time
from npvae.utils import worker_pool
pool = worker_pool(2)
futures = [pool.submit(time.sleep, 120) for _ in range(2)]
time.sleep(1.0)
print(" ".join(str(pid) for pid in pool._processes), flush=True)
time.sleep(120)
"""


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_worker_processes_die_with_their_killed_parent():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    parent = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT], env=env, stdout=subprocess.PIPE, text=True)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    try:
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        t0 = time.time()
        while any(_running(pid) for pid in workers) and time.time() - t0 < 10:
            time.sleep(0.05)
        assert not any(_running(pid) for pid in workers)
    finally:
        for pid in workers:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
