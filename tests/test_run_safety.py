"""No run is trained twice and no data is lost: the run folder's lock, full disks, the first and the
time-based checkpoints (README "Resume", "Ctrl-C and SIGTERM", "Exit codes")."""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import types

import pytest
import torch

from sdpg_warp import runner as runner_module
from sdpg_warp import train
from sdpg_warp.checkpoint import read_checkpoint
from sdpg_warp.run_lock import RunLock, RunLocked
from sdpg_warp.runner import Runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATE = ["--task", "pointmass", "--obs", "state", "--device", "cpu", "--num-nominal", "2", "--num-aux", "3",
         "--horizon", "4", "--critic-minibatch", "16"]


def _files(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _start(tmp_path, *args) -> tuple:
    """A real training process (``python -m sdpg_warp.train``) and the file its stdout goes to."""
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    out = tmp_path / f"stdout{len(list(tmp_path.glob('stdout*')))}.txt"
    with open(out, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "sdpg_warp.train", *args], cwd=ROOT, env=env, stdout=f,
                                stderr=subprocess.PIPE, text=True)
    return proc, out


def _wait_for(proc, out, text: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while text not in out.read_text():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, f"no {text!r} within {seconds} s"
        time.sleep(0.1)


# ------------------------------------------------------------------------------------ the lock


def test_lock_excludes_a_second_holder_and_names_the_first(tmp_path):
    first, second = RunLock(), RunLock()
    assert first.acquire(str(tmp_path)) is None
    holder = json.loads((tmp_path / ".lock").read_text())
    assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    with pytest.raises(RunLocked, match=f"is in use by pid {os.getpid()} on host {socket.gethostname()}"):
        second.acquire(str(tmp_path))  # flock excludes a second open file even in the same process
    first.release()
    first.release()  # idempotent
    assert not (tmp_path / ".lock").exists()  # a clean release leaves the folder as it was
    assert second.acquire(str(tmp_path)) is None
    second.release()


def test_a_lock_left_by_a_killed_process_is_taken_over_with_a_message(tmp_path):
    # A real process that takes the lock and dies by SIGKILL, as a job killed on a cluster does.
    code = (f"import os, signal; from sdpg_warp.run_lock import RunLock; RunLock().acquire({str(tmp_path)!r}); "
            f"os.kill(os.getpid(), signal.SIGKILL)")
    dead = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=ROOT))
    assert dead.wait(timeout=60) == -signal.SIGKILL
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == dead.pid
    lock = RunLock()
    message = lock.acquire(str(tmp_path))
    assert message.startswith(f"took over the stale lock of pid {dead.pid} on host {socket.gethostname()}")
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    lock.release()


def test_a_second_resume_of_a_running_run_exits_2_naming_it_and_the_first_trains_on(tmp_path, capsys):
    """Two real processes resume one run, as a re-queued cluster job and the original do: the second
    stops before it touches the folder (no third event file, no TensorBoard purge), the first is
    undisturbed."""
    run = tmp_path / "r"
    assert train.main([*STATE, "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "r"]) == 0
    first, out = _start(tmp_path, "--resume", str(run), "--epochs", "100000")
    try:
        _wait_for(first, out, "epoch     3/")
        capsys.readouterr()
        assert train.main(["--resume", str(run), "--epochs", "100000"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert f"{run} is in use by pid {first.pid} on host {socket.gethostname()}" in err
        first.send_signal(signal.SIGTERM)
        _, stderr = first.communicate(timeout=60)
    finally:
        first.kill()
    stdout = out.read_text()
    assert first.returncode == 143, stderr
    assert "SIGTERM: stopping after the epoch in progress (in about " in stdout  # the previous epoch's length
    last = max(int(line.split()[1].split("/")[0]) for line in stdout.splitlines() if line.startswith("epoch "))
    assert f"stopped by SIGTERM after epoch {last}; checkpoint saved" in stdout
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == last
    assert len(list(run.glob("events.out.tfevents.*"))) == 2  # the first job's and its resume's
    assert not (run / ".lock").exists()


def test_a_run_killed_after_its_first_epoch_resumes_and_takes_its_lock_over(tmp_path, capsys):
    """Killed long before --checkpoint-every: the checkpoint of epoch 1 is there to resume from."""
    run = tmp_path / "r"
    proc, out = _start(tmp_path, *STATE, "--epochs", "100000", "--checkpoint-every", "1000", "--log-dir",
                       str(tmp_path), "--run-name", "r")
    try:
        _wait_for(proc, out, "epoch     2/")
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    epoch = read_checkpoint(str(run / "checkpoint.pt"))["epoch"]
    assert epoch >= 1
    capsys.readouterr()
    assert train.main(["--resume", str(run), "--epochs", str(epoch + 1)]) == 0
    assert f"took over the stale lock of pid {proc.pid}" in capsys.readouterr().out
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == epoch + 1
    assert not (run / ".lock").exists()


def test_stop_message_says_when_the_epoch_in_progress_ends():
    assert "SIGTERM: stopping after the epoch in progress (in about 12.5 s), with a checkpoint" in \
        train.stop_message(signal.SIGTERM, 112.5, 100.0)
    assert "(in about 0.0 s)" in train.stop_message(signal.SIGTERM, 99.0, 100.0)  # overdue: any moment
    assert "SIGINT: stopping after the epoch in progress, with" in train.stop_message(signal.SIGINT, None, 100.0)


# ------------------------------------------------------------------------------------ full disks


class _FillingDisk:
    """A file on a disk with ``room`` bytes left: the write that passes it writes what fits and fails
    with ENOSPC, as on a real full disk (torch.save then raises a RuntimeError over that OSError)."""

    def __init__(self, f, room: int):
        self._f, self._room = f, room

    def write(self, data) -> int:
        size = len(data) if isinstance(data, str) else memoryview(data).nbytes
        if self._f.tell() + size > self._room:
            self._f.write(data[: max(self._room - self._f.tell(), 0)])
            self._f.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def _full_disk(monkeypatch, module, suffix: str, room: int = 1000) -> None:
    """Makes ``module``'s writes of files ending in ``suffix`` run out of room."""
    def filling_open(path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        return _FillingDisk(f, room) if "w" in mode and str(path).endswith(suffix) else f

    monkeypatch.setattr(module, "open", filling_open, raising=False)


def test_a_full_disk_at_a_checkpoint_exits_2_and_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    assert train.main([*STATE, "--epochs", "2", "--checkpoint-every", "1", "--log-dir", str(tmp_path),
                       "--run-name", "r"]) == 0
    run = tmp_path / "r"
    before = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt.tmp").write_bytes(b"half a checkpoint of a killed write")
    _full_disk(monkeypatch, runner_module, "checkpoint.pt.tmp")
    capsys.readouterr()
    assert train.main(["--resume", str(run), "--epochs", "4", "--checkpoint-every", "1"]) == 2
    captured = capsys.readouterr()
    assert f"removed {run / 'checkpoint.pt.tmp'}, left by an interrupted write" in captured.out
    err = captured.err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"cannot write checkpoint {run / 'checkpoint.pt'} (No space left on device)" in err
    assert f"stopped at epoch 3, the previous checkpoint (epoch 2) is intact at {run / 'checkpoint.pt'}" in err
    assert not list(run.glob("*.tmp")) and not (run / ".lock").exists()
    assert (run / "checkpoint.pt").read_bytes() == before

    monkeypatch.undo()  # room again: the run goes on from the intact checkpoint
    assert train.main(["--resume", str(run), "--epochs", "4"]) == 0
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == 4


def test_a_full_disk_at_resume_leaves_the_run_as_it_was(tmp_path, capsys, monkeypatch):
    assert train.main([*STATE, "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "r"]) == 0
    run = tmp_path / "r"
    before = _files(run)
    _full_disk(monkeypatch, train, "config.json.tmp", room=10)
    capsys.readouterr()
    assert train.main(["--resume", str(run), "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: cannot write {run / 'config.json'} (No space left on device); the checkpoint (epoch 1) "
                   f"is intact at {run / 'checkpoint.pt'}")
    assert _files(run) == before  # no config.json.tmp, no lock, no new event file


def test_a_full_disk_at_a_new_run_leaves_no_folder(tmp_path, capsys, monkeypatch):
    _full_disk(monkeypatch, train, "config.json.tmp", room=10)
    assert train.main([*STATE, "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "r"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot write" in err and "nothing was trained or kept" in err and len(err.splitlines()) == 1
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------- first and timed checkpoints


def test_divergence_after_epoch_1_keeps_the_first_checkpoint_and_resumes(tmp_path, capsys, monkeypatch):
    update = Runner.update

    def update_then_nan(self):
        metrics = update(self)
        if self.epoch == 2:
            metrics["losses/critic"] = torch.tensor(float("nan"))
        return metrics

    monkeypatch.setattr(Runner, "update", update_then_nan)
    assert train.main([*STATE, "--epochs", "10", "--checkpoint-every", "5", "--log-dir", str(tmp_path),
                       "--run-name", "r"]) == 3
    assert "the last good checkpoint (epoch 1) is kept" in capsys.readouterr().err
    monkeypatch.undo()
    assert train.main(["--resume", str(tmp_path / "r"), "--epochs", "2"]) == 0


def _saved_epochs(tmp_path, monkeypatch, minutes: str) -> list:
    """The epochs a 6-epoch run of 40 s epochs (a fake clock) checkpoints at, with --checkpoint-every 1000."""
    clock = [1000.0]
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    update, save = Runner.update, Runner.save
    saved = []

    def timed_update(self):
        clock[0] += 40.0
        return update(self)

    def recorded_save(self, path):
        saved.append(self.epoch)
        save(self, path)

    monkeypatch.setattr(Runner, "update", timed_update)
    monkeypatch.setattr(Runner, "save", recorded_save)
    cfg = train.parse_config([*STATE, "--epochs", "6", "--checkpoint-every", "1000", "--checkpoint-minutes", minutes])
    Runner(cfg, run_dir=str(tmp_path)).train()
    return saved


@pytest.mark.parametrize("minutes, epochs", [("1", [1, 3, 5, 6]), ("0", [1, 6]), ("2.5", [1, 5, 6])])
def test_checkpoint_minutes_saves_by_the_clock_between_epochs(tmp_path, monkeypatch, minutes, epochs):
    # Epoch 1 is saved at 40 s; with 1 minute, 80 s have passed at epoch 3 (120 s) and at epoch 5 (200 s).
    assert _saved_epochs(tmp_path, monkeypatch, minutes) == epochs


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_checkpoint_minutes_is_validated(tmp_path, capsys, value):
    assert train.main([*STATE, "--checkpoint-minutes", value, "--log-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "checkpoint-minutes must be finite and >= 0 (0: off)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_checkpoint_minutes_may_change_on_resume(tmp_path):
    assert train.main([*STATE, "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "r"]) == 0
    config = tmp_path / "r" / "config.json"
    assert json.loads(config.read_text())["checkpoint_minutes"] == 30.0
    assert train.main(["--resume", str(tmp_path / "r"), "--epochs", "2", "--checkpoint-minutes", "5"]) == 0
    assert json.loads(config.read_text())["checkpoint_minutes"] == 5.0


def test_max_minutes_stops_with_a_checkpoint_and_exit_0_and_a_resume_past_it_trains_no_epoch(
        tmp_path, monkeypatch, capsys):
    # 40 s epochs (a fake clock): a 2-minute budget is reached after epoch 3 (120 s).
    clock = [1000.0]
    monkeypatch.setattr(runner_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    update = Runner.update

    def timed_update(self):
        clock[0] += 40.0
        return update(self)

    monkeypatch.setattr(Runner, "update", timed_update)
    run = tmp_path / "r"
    assert train.main([*STATE, "--epochs", "10", "--max-minutes", "2", "--log-dir", str(tmp_path),
                       "--run-name", "r"]) == 0
    assert "stopped after epoch 3: the run has trained its --max-minutes 2" in capsys.readouterr().out
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == 3
    assert train.main(["--resume", str(run)]) == 0  # the budget is spent: no epoch
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == 3
    # A larger budget on resume: 160 s after epoch 4, 200 s >= 180 s after epoch 5.
    assert train.main(["--resume", str(run), "--max-minutes", "3"]) == 0
    assert read_checkpoint(str(run / "checkpoint.pt"))["epoch"] == 5


@pytest.mark.parametrize("value", ["-1", "nan", "inf"])
def test_max_minutes_is_validated(tmp_path, capsys, value):
    assert train.main([*STATE, "--max-minutes", value, "--log-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert "max-minutes must be finite and >= 0 (0: no budget)" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()
