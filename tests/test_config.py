"""Per-task defaults of the config registry."""

import pytest

from sdpg_warp.config import TASK_EPOCHS, task_defaults
from sdpg_warp.train import parse_config


@pytest.mark.parametrize("task,state,pixels", [("hopper", 10000, 20000), ("walker", 20000, 20000),
                                               ("ant", 10000, 20000), ("humanoid", 100000, 200000)])
def test_run_length_follows_the_authors_configs(task, state, pixels):
    assert TASK_EPOCHS[task] == (state, pixels)
    assert task_defaults(task, "state").epochs == state
    assert task_defaults(task, "rgb").epochs == pixels
    assert task_defaults(task).epochs == pixels  # pixels are the default observation
    assert parse_config(["--task", task, "--obs", "state"]).epochs == state
    assert parse_config(["--task", task, "--obs=depth"]).epochs == pixels
    assert parse_config(["--task", task, "--obs", "state", "--epochs", "7"]).epochs == 7
