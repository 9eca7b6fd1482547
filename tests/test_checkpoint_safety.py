"""Reading a checkpoint never runs code from it: a pickle that calls a function on load is refused,
by the reader and by every command that reads one (train --resume, play, export, --teacher)."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from sdpg_warp.checkpoint import CHECKPOINT_VERSION, CheckpointError, read_checkpoint
from sdpg_warp.config import task_defaults


class _RunsCode:
    """Unpickling this calls ``os.system``: what a hostile checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _checkpoint(**extra) -> dict:
    """A well-formed checkpoint of the keys the reader checks (contents beside the point here)."""
    return {"version": CHECKPOINT_VERSION, "config": task_defaults("reacher", "state", "sdpg").__dict__.copy(),
            "epoch": 1, "algo": {"actor": {"w": torch.zeros(2)}}, "sim": {"qpos": np.zeros((4, 2), np.float32),
            "fresh": np.ones(4, bool), "episode_step": np.arange(4, dtype=np.int32),
            "act": np.zeros((4, 0), np.float32)}, "frame_stack": None,
            "episodes": {"last_return": None}, "torch_rng": torch.get_rng_state(), **extra}


def _hostile_run(tmp_path):
    """A run folder (config.json as training writes it) whose checkpoint runs ``touch marker`` when unpickled."""
    run, marker = tmp_path / "downloaded_run", tmp_path / "marker"
    run.mkdir()
    (run / "config.json").write_text(task_defaults("reacher", "state", "sdpg").to_json())
    torch.save(_checkpoint(sim=_RunsCode(marker)), run / "checkpoint.pt")
    return run, marker


def test_the_reader_refuses_a_pickle_that_runs_code_and_runs_nothing(tmp_path):
    run, marker = _hostile_run(tmp_path)
    with pytest.raises(CheckpointError, match=r"names Python objects \(posix\.system\).*could run code"):
        read_checkpoint(str(run / "checkpoint.pt"))
    assert not marker.exists()


def test_the_reader_reads_what_sdpg_warp_writes(tmp_path):
    torch.save(_checkpoint(), tmp_path / "c.pt")
    state = read_checkpoint(str(tmp_path / "c.pt"))
    assert state["sim"]["qpos"].dtype == np.float32 and state["sim"]["fresh"].dtype == bool
    assert state["sim"]["act"].shape == (4, 0)  # an empty array pickles its data as a call of bytes()
    np.testing.assert_array_equal(state["sim"]["episode_step"], np.arange(4))
    assert torch.equal(state["torch_rng"], torch.get_rng_state())


def test_checkpoints_pickled_under_numpy_1_still_read(tmp_path):
    """NumPy 1 names its array rebuild function numpy.core.multiarray._reconstruct, NumPy 2
    numpy._core...; a checkpoint from a NumPy 1 machine must read under NumPy 2."""
    torch.save(_checkpoint(), tmp_path / "new.pt")
    with zipfile.ZipFile(tmp_path / "new.pt") as src, zipfile.ZipFile(tmp_path / "old.pt", "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                renamed = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
                assert renamed != data or b"numpy.core.multiarray" in data
                data = renamed
            dst.writestr(info.filename, data)
    np.testing.assert_array_equal(read_checkpoint(str(tmp_path / "old.pt"))["sim"]["fresh"], np.ones(4, bool))


def test_object_arrays_and_truncated_files_are_refused(tmp_path):
    torch.save(_checkpoint(sim={"qpos": np.array([1, None], dtype=object)}), tmp_path / "objects.pt")
    with pytest.raises(CheckpointError, match="holds data sdpg_warp never writes.*ObjectDType"):
        read_checkpoint(str(tmp_path / "objects.pt"))
    torch.save(_checkpoint(), tmp_path / "whole.pt")
    (tmp_path / "cut.pt").write_bytes((tmp_path / "whole.pt").read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        read_checkpoint(str(tmp_path / "cut.pt"))


@pytest.mark.parametrize("command", ["resume", "play", "export", "teacher"])
def test_every_command_that_reads_a_checkpoint_refuses_a_hostile_one(tmp_path, command):
    run, marker = _hostile_run(tmp_path)
    logs = tmp_path / "runs"  # the default --log-dir, under the working folder; the resumed run's too
    argv = {
        "resume": ["sdpg_warp.train", "--resume", str(run), "--epochs", "5"],
        "play": ["sdpg_warp.play", str(run)],
        "export": ["sdpg_warp.export", str(run), "--out", str(tmp_path / "policy.onnx")],
        "teacher": ["sdpg_warp.train", "--task", "reacher", "--obs", "rgb", "--algo", "distill",
                    "--teacher", str(run)],
    }[command]
    done = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "could run code" in lines[0], done.stderr
    assert not marker.exists()
    assert not logs.exists() and not (tmp_path / "policy.onnx").exists()
