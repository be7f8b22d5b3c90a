"""A run folder belongs to one run: locks, --on-exists, --resume without a checkpoint, divergence.

The lock tests use real processes: a training run stopped with SIGSTOP holds its folder, and
after SIGKILL its stale lock and temporary files are taken over by the next run.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import npvae
from npvae.cli import main
from npvae.runfolder import LOCK_NAME
from _poison import poisoned

TINY = ["--latent", "2", "--hidden", "16", "8", "--lam", "3", "--epochs", "2", "--batch-size", "32", "--quiet"]
ROOT = Path(npvae.__file__).parent.parent


def cli(args):
    """``npvae ARGS`` in this process; paths may be given as Path."""
    return main([str(a) for a in args])


def npvae_process(*args, **kwargs):
    """``python -m npvae.cli ARGS`` in a real subprocess of this worktree."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "npvae.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(path, proc, seconds=60):
    t0 = time.time()
    while not Path(path).exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < seconds, f"{path} never appeared"
        time.sleep(0.01)


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    for needle in needles:
        assert needle in err, err
    return err


def test_diverged_run_keeps_checkpoint_and_best_model_and_writes_no_model(tmp_path, npz_file, capsys,
                                                                          monkeypatch):
    # 220 * 0.75 = 165 rows: 6 steps per epoch; call 9 is epoch 2, step 3
    nan_at_step_9 = poisoned(npvae.InfoVAE.loss_and_grads, 9, "out.b", 0, np.nan)
    monkeypatch.setattr(npvae.InfoVAE, "loss_and_grads", nan_at_step_9)
    out = tmp_path / "run"
    assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 1
    _one_line_error(capsys, "diverged in epoch 2, step 3: gradient", "best_finite_model.npz", "checkpoint")
    assert not (out / "model.npz").exists() and (out / "checkpoint.npz").exists()
    best = npvae.load(out / "best_finite_model.npz")
    assert len(best.history_) == 1 and np.isfinite(best.flat_params).all()


def test_run_that_diverges_at_once_leaves_no_model(tmp_path, npz_file, capsys):
    out = tmp_path / "run"
    with np.errstate(all="ignore"):
        assert cli(["train", "--data", npz_file, "--out", out, "--lr", "10"] + TINY) == 1
    _one_line_error(capsys, "diverged in epoch 1", "nothing was saved")
    assert not out.exists()                             # the folder it made, empty, is gone again


def test_a_folder_holding_a_run_is_never_silently_overwritten(tmp_path, npz_file, capsys):
    out = tmp_path / "run"
    assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 1
    _one_line_error(capsys, "already holds a finished run", "--resume", "--on-exists overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (out / "model.npz").unlink()                                  # as after Ctrl-C: a checkpoint only
    assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 1
    _one_line_error(capsys, "an interrupted run", "checkpoint.npz")
    assert (out / "checkpoint.npz").read_bytes() == before["checkpoint.npz"]


def test_on_exists_overwrite_starts_over_and_resume_continues(tmp_path, npz_file):
    out = tmp_path / "run"
    assert cli(["train", "--data", npz_file, "--out", out] + TINY) == 0
    (out / "best_finite_model.npz").write_bytes((out / "model.npz").read_bytes())   # of an older run
    assert cli(["train", "--data", npz_file, "--out", out, "--on-exists", "overwrite"] + TINY[:-4]
                + ["1", "--batch-size", "32", "--quiet"]) == 0
    assert len(npvae.load(out / "model.npz").history_) == 1 and not (out / "best_finite_model.npz").exists()
    assert cli(["train", "--data", npz_file, "--out", out, "--on-exists", "resume"] + TINY) == 0
    assert len(npvae.load(out / "model.npz").history_) == 2


def test_resume_without_a_checkpoint_starts_fresh_with_a_notice(tmp_path, npz_file, capsys):
    out = tmp_path / "run"
    assert cli(["train", "--data", npz_file, "--out", out, "--resume"] + TINY) == 0
    assert "no checkpoint" in capsys.readouterr().err
    assert len(npvae.load(out / "model.npz").history_) == 2


def test_concurrent_run_is_refused_and_a_killed_runs_lock_and_temporaries_are_taken_over(
        tmp_path, tiny_data, capsys):
    X, W, Xv, Wv = tiny_data
    data = tmp_path / "big.npz"                       # 20 x more rows: a run lasts a few seconds
    np.savez(data, flux=np.tile(np.vstack([X, Xv]), (20, 1)), weight=np.tile(np.vstack([W, Wv]), (20, 1)))
    out = tmp_path / "run"
    first = npvae_process("train", "--data", data, "--out", out, *TINY[:-4], "200", "--batch-size", "8")
    try:
        wait_for(out / "checkpoint.npz", first)
        first.send_signal(signal.SIGSTOP)             # the owner is alive but does nothing
        assert cli(["train", "--data", data, "--out", out, "--resume"] + TINY) == 1
        _one_line_error(capsys, "is in use by npvae train", f"pid {first.pid}")
        first.kill()                                  # SIGKILL: the lock stays behind, stale
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert (out / LOCK_NAME).exists()
    debris = [out / ".checkpoint.npz.abcd_123.tmp.npz", out / ".model.npz.zz9xq0ab.tmp.npz"]
    for path in debris:
        path.write_bytes(b"half a file")
    keep = out / ".my_notes.txt"
    keep.write_text("not npvae's")
    assert cli(["train", "--data", data, "--out", out, "--resume"] + TINY[:-4] + ["3", "--batch-size", "8",
                                                                                  "--quiet"]) == 0
    assert not any(p.exists() for p in debris) and keep.exists() and not (out / LOCK_NAME).exists()
    assert len(npvae.load(out / "model.npz").history_) == 3


def test_sigint_to_a_real_training_process_saves_and_exits_130(tmp_path, tiny_data):
    X, W, Xv, Wv = tiny_data
    data = tmp_path / "big.npz"
    np.savez(data, flux=np.tile(np.vstack([X, Xv]), (20, 1)), weight=np.tile(np.vstack([W, Wv]), (20, 1)))
    out = tmp_path / "run"
    proc = npvae_process("train", "--data", data, "--out", out, *TINY[:-4], "200", "--batch-size", "8")
    wait_for(out / "checkpoint.npz", proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in err and "Traceback" not in err
    assert not (out / LOCK_NAME).exists() and not (out / "model.npz").exists()
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def _write_lock(folder, pid):
    """A lock file as a run with process ``pid`` on this host writes it."""
    import json
    import socket

    from npvae.runfolder import _process_start

    owner = {"pid": pid, "host": socket.gethostname(), "command": "npvae reproduce", "start": _process_start(pid)}
    (folder / LOCK_NAME).write_text(json.dumps(owner))


def test_reproduce_is_refused_while_the_lock_owner_lives_and_proceeds_once_it_is_killed(
        tmp_path, capsys, monkeypatch):
    import npvae.commands.reproduce as command

    calls = []
    monkeypatch.setattr(command, "reproduce", lambda **kwargs: calls.append(kwargs))
    out = tmp_path / "rep"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(out, holder.pid)
        assert cli(["reproduce", "--out", str(out), "--quiet"]) == 1
        _one_line_error(capsys, "in use by npvae reproduce", f"pid {holder.pid}")
        assert calls == []
    finally:
        holder.kill()
        holder.wait()
    assert cli(["reproduce", "--out", str(out), "--quiet"]) == 0
    assert len(calls) == 1 and not (out / LOCK_NAME).exists()


def test_lock_of_a_reused_pid_is_stale(tmp_path):
    from npvae.runfolder import _alive, _process_start
    import socket

    me = {"pid": os.getpid(), "host": socket.gethostname()}
    assert _alive(dict(me, start=_process_start(os.getpid())))
    assert not _alive(dict(me, start=_process_start(os.getpid()) - 1))     # same pid, older process
    assert _alive(dict(me, host="elsewhere", pid=1))                       # cannot tell: assume alive
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = dict(me, pid=child.pid, start=_process_start(child.pid))
        assert _alive(owner)
        child.kill()
        time.sleep(0.5)                                                    # dead, not reaped: a zombie
        assert not _alive(owner)
    finally:
        child.kill()
        child.wait()


def test_stale_temporaries_are_removed_one_level_down_and_nothing_else(tmp_path):
    from npvae.runfolder import locked_folder

    (tmp_path / "models" / "deep").mkdir(parents=True)
    stale = [tmp_path / ".report.html.a1b2c3d4.tmp.html", tmp_path / "models" / ".vae_6.npz.zzzzzzzz.tmp.npz"]
    kept = [tmp_path / "models" / "deep" / ".x.npz.abcdefgh.tmp.npz", tmp_path / ".hidden.tmp.npz",
            tmp_path / "models" / "vae_6.npz", tmp_path / ".notes.txt"]
    for path in stale + kept:
        path.write_bytes(b"")
    with locked_folder(tmp_path, "test"):
        assert (tmp_path / LOCK_NAME).exists()
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert not (tmp_path / LOCK_NAME).exists()
