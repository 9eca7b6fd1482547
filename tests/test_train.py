"""The training loop end to end: CLI, run folder, checkpoints, exact resume, real learning."""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import torch

from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner

TINY = ["--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--image-size", "16",
        "--critic-minibatch", "16", "--checkpoint-every", "1"]


def _scalars(run_dir: str, tag: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(run_dir)
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


def _run(tmp_path, *args) -> int:
    return train.main(["--device", os.environ.get("SDPG_TEST_DEVICE", "cpu"), "--log-dir", str(tmp_path), *args])


@pytest.fixture(autouse=True)
def _test_device(device, monkeypatch):
    monkeypatch.setenv("SDPG_TEST_DEVICE", device)


def test_hopper_run_writes_events_checkpoint_and_config_and_resumes_exactly(tmp_path):
    common = ["--task", "hopper", "--obs", "rgb", *TINY]
    assert _run(tmp_path, *common, "--epochs", "4", "--run-name", "straight") == 0
    assert _run(tmp_path, *common, "--epochs", "2", "--run-name", "split") == 0
    split = tmp_path / "split"
    assert (split / "checkpoint.pt").is_file()
    config = json.loads((split / "config.json").read_text())
    assert config["task"] == "hopper" and config["num_aux"] == 3 and config["epochs"] == 2
    assert glob.glob(str(split / "events.out.tfevents.*"))
    assert torch.load(split / "checkpoint.pt", weights_only=False)["epoch"] == 2

    assert _run(tmp_path, "--resume", str(split), "--epochs", "4") == 0
    assert json.loads((split / "config.json").read_text())["epochs"] == 4
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    resumed = torch.load(split / "checkpoint.pt", weights_only=False)
    assert resumed["epoch"] == straight["epoch"] == 4
    for name in ("actor", "critic", "target_critic"):
        for key, value in straight["algo"][name].items():
            assert torch.equal(value, resumed["algo"][name][key]), f"{name}.{key}"
    for key, value in straight["sim"].items():
        np.testing.assert_array_equal(value, resumed["sim"][key], err_msg=key)
    for tag in ("losses/actor", "losses/critic", "charts/step_reward"):
        a, b = _scalars(str(tmp_path / "straight"), tag), _scalars(str(split), tag)
        assert a[3] == b[3] and a[4] == b[4], tag


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task"),
        (["--task", "reacher", "--num-aux", "0"], "num-aux must be >= 1"),
        (["--task", "reacher", "--horizon", "0"], "horizon must be >= 1"),
        (["--task", "reacher", "--resume", "/nonexistent/run"], "no checkpoint"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, message):
    assert _run(tmp_path, *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_flag_value_exits_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--task", "reacher", "--num-nominal", "many")
    assert exit_info.value.code == 2


def test_existing_run_is_never_overwritten_and_resume_checks_compatibility(tmp_path, capsys):
    args = ["--task", "reacher", "--obs", "state", *TINY, "--epochs", "1", "--run-name", "r"]
    assert _run(tmp_path, *args) == 0
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    assert _run(tmp_path, *args) == 2
    assert "already exists" in capsys.readouterr().err
    assert _run(tmp_path, "--resume", str(tmp_path / "r"), "--task", "hopper") == 2
    assert "conflicts" in capsys.readouterr().err
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def _mean_return(history, first: bool, count: int) -> float:
    values = [h["charts/episode_return"] for h in history if "charts/episode_return" in h]
    return float(np.mean(values[:count] if first else values[-count:]))


@pytest.mark.parametrize("obs", ["state", "rgb"])
def test_reacher_learns(device, obs):
    """The small task's episode return must rise clearly within the default budget."""
    cfg = dataclasses.replace(task_defaults("reacher"), obs=obs, device=device)
    if obs == "state":
        cfg = dataclasses.replace(cfg, epochs=150)
    history = Runner(cfg).train()
    early, late = _mean_return(history, True, 3), _mean_return(history, False, 5)
    assert late > early + 20.0, f"episode return {early:.1f} -> {late:.1f}"
