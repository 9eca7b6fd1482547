"""Ctrl-C and SIGTERM during training: the epoch in progress finishes, a checkpoint is saved, the
resume command is printed, and the exit status is 128 + the signal number (130, 143)."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from sdpg_warp import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ctrl_c_finishes_the_epoch_saves_and_prints_the_resume_command(tmp_path, device, capsys):
    signum, status = signal.SIGINT, 130
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "sdpg_warp.train", "--task", "pointmass", "--obs", "state", "--device", device,
           "--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--critic-minibatch", "16",
           "--epochs", "100000", "--checkpoint-every", "1000", "--log-dir", str(tmp_path), "--run-name", "r"]
    out_path = tmp_path / "stdout.txt"
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while "epoch     3/" not in out_path.read_text():
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no third epoch within 120 s"
            time.sleep(0.1)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    stdout = out_path.read_text()
    assert proc.returncode == status, err
    assert "Traceback" not in err
    name = signal.Signals(signum).name
    assert f"{name}: stopping after the epoch in progress" in stdout
    last_epoch = max(int(line.split()[1].split("/")[0]) for line in stdout.splitlines() if line.startswith("epoch "))
    assert f"stopped by {name} after epoch {last_epoch}; checkpoint saved" in stdout
    run = tmp_path / "r"
    assert f"resume: python -m sdpg_warp.train --resume {run}" in stdout
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == last_epoch

    # The printed command continues the run where it stopped.
    capsys.readouterr()
    assert train.main(["--resume", str(run), "--epochs", str(last_epoch + 1)]) == 0
    assert f"resumed {run} at epoch {last_epoch}" in capsys.readouterr().out
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == last_epoch + 1


def test_sigterm_stops_after_the_epoch_with_status_143(tmp_path, device, capsys, monkeypatch):
    """In this process (a subprocess costs its imports again): SIGTERM arrives during epoch 3."""
    from sdpg_warp.runner import Runner

    update = Runner.update

    def update_and_signal(self):
        if self.epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return update(self)

    monkeypatch.setattr(Runner, "update", update_and_signal)
    previous = signal.getsignal(signal.SIGTERM)
    rc = train.main(["--task", "pointmass", "--obs", "state", "--device", device, "--num-nominal", "2",
                     "--num-aux", "3", "--horizon", "4", "--critic-minibatch", "16", "--epochs", "50",
                     "--checkpoint-every", "1000", "--log-dir", str(tmp_path), "--run-name", "r"])
    assert rc == 143
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers are restored
    out = capsys.readouterr().out
    assert "stopped by SIGTERM after epoch 3; checkpoint saved" in out
    assert f"resume: python -m sdpg_warp.train --resume {tmp_path / 'r'}" in out
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["epoch"] == 3


def test_second_ctrl_c_aborts_without_saving(tmp_path, device, capsys, monkeypatch):
    from sdpg_warp.runner import Runner

    update = Runner.update

    def update_and_interrupt_twice(self):
        if self.epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)  # asks for a stop after this epoch
            os.kill(os.getpid(), signal.SIGINT)  # aborts here
        return update(self)

    monkeypatch.setattr(Runner, "update", update_and_interrupt_twice)
    previous = signal.getsignal(signal.SIGINT)
    rc = train.main(["--task", "pointmass", "--obs", "state", "--device", device, "--num-nominal", "2",
                     "--num-aux", "3", "--horizon", "4", "--critic-minibatch", "16", "--epochs", "50",
                     "--checkpoint-every", "1", "--log-dir", str(tmp_path), "--run-name", "r"])
    assert rc == 130
    assert signal.getsignal(signal.SIGINT) is previous
    assert capsys.readouterr().err.strip() == "aborted: nothing saved since the last checkpoint"
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)["epoch"] == 2
