"""Ctrl-C and SIGTERM on a real training process: the epoch in progress finishes, a checkpoint is
saved, the resume command is printed, and the exit status is 128 + the signal number."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from sdpg_warp import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finishes_the_epoch_saves_and_prints_the_resume_command(tmp_path, device, capsys, signum, status):
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
