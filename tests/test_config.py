"""The config: its sections, and the per-task defaults of the task registry."""

import dataclasses
import json
import pathlib
import re

import pytest

from sdpg_warp.algorithms import ALGORITHMS
from sdpg_warp.config import SECTIONS, TrainConfig, task_defaults
from sdpg_warp.tasks import task_names
from sdpg_warp.tasks.defaults import TASK_DEFAULTS
from sdpg_warp.train import UsageError, parse_config


@pytest.mark.parametrize("task,state,pixels", [("hopper", 10000, 20000), ("walker", 20000, 20000),
                                               ("ant", 10000, 20000), ("humanoid", 100000, 200000)])
def test_run_length_follows_the_authors_configs(task, state, pixels):
    layers = TASK_DEFAULTS[task].algo_obs
    assert (layers[("sdpg", "state")]["epochs"], layers[("sdpg", "pixels")]["epochs"]) == (state, pixels)
    assert task_defaults(task, "state").epochs == state
    assert task_defaults(task, "rgb").epochs == pixels
    assert task_defaults(task).epochs == pixels  # pixels are the default observation
    assert parse_config(["--task", task, "--obs", "state"]).epochs == state
    assert parse_config(["--task", task, "--obs=depth"]).epochs == pixels
    assert parse_config(["--task", task, "--obs", "state", "--epochs", "7"]).epochs == 7


# The ego-centric tasks against the authors' configs (issue #25; docs/ego_tasks.md).


def test_go2_terrain_keeps_a_fixed_std():
    cfg = task_defaults("go2_terrain", "rgb")
    assert cfg.fixed_std and cfg.init_logstd == 0.0 and cfg.alpha == 0.0
    assert not task_defaults("go2_terrain", "state", "ppo").fixed_std  # rl_games learns its sigma


@pytest.mark.parametrize("task", ["allegro_hand", "shadow_hand"])
def test_in_hand_tasks_have_no_entropy_term(task):
    cfg = task_defaults(task, "rgb")
    assert cfg.alpha == 0.0 and not cfg.auto_alpha


def test_franka_sees_one_rgb_frame():
    assert task_defaults("franka_pick_cube", "rgb").frames == 1


@pytest.mark.parametrize("task,state,pixels", [
    ("walker_hurdle", dict(actor_lr=2e-3), dict(actor_lr=1e-3)),
    ("g1_hurdle", dict(actor_lr=2e-3), dict(actor_lr=1e-3)),
    ("franka_pick_cube", dict(horizon=32, actor_hidden=(512, 256, 128), critic_hidden=(512, 256, 128)),
     dict(horizon=64, actor_hidden=(1024, 512, 256, 128), critic_hidden=(1024, 512, 256, 128))),
    ("aloha_insertion", dict(num_nominal=64, horizon=32), dict(num_nominal=48, horizon=64)),
])
def test_state_variants_take_the_authors_state_configs(task, state, pixels):
    for obs, expected in (("state", state), ("rgb", pixels), ("depth", pixels)):
        cfg = task_defaults(task, obs)
        assert {name: getattr(cfg, name) for name in expected} == expected, obs
    flags = parse_config(["--task", task, "--obs", "state"])
    assert {name: getattr(flags, name) for name in state} == state


@pytest.mark.parametrize("task,expected", [
    ("g1_hurdle", dict(num_envs=4096, horizon=32, ppo_reward_scale=1.0, actor_hidden=(256, 128, 128))),
    ("go2_terrain", dict(ppo_lr=1e-3, ppo_desired_kl=0.01, ppo_entropy_coef=0.01, ppo_bootstrap_timeouts=True)),
    ("allegro_hand", dict(ppo_lr=5e-4, ppo_desired_kl=0.016, ppo_minibatches=2)),
    ("shadow_hand", dict(ppo_lr=1e-4, ppo_epochs=8)),
    ("franka_pick_cube", dict(ppo_lr=1e-4, ppo_epochs=8, ppo_bootstrap_timeouts=False)),
    ("aloha_insertion", dict(ppo_lr=1e-4, ppo_epochs=8, horizon=40, ppo_minibatches=8)),
])
def test_ppo_defaults_of_the_ego_tasks_are_the_authors(task, expected):
    cfg = task_defaults(task, "state", "ppo")
    assert {name: getattr(cfg, name) for name in expected} == expected
    cfg.validate()


def test_distill_defaults_of_the_ego_tasks_are_the_authors():
    cfg = task_defaults("g1_hurdle", "rgb", "distill")
    assert (cfg.num_envs, cfg.horizon, cfg.actor_hidden, cfg.proprio_hidden) == (32, 32, (256, 64, 32), (256,))


@pytest.mark.parametrize("flag", ["--episode-length", "--frame-skip"])
def test_episode_length_and_frame_skip_must_be_positive(flag):
    with pytest.raises(UsageError, match=f"^{flag[2:]} must be >= 1, got 0$"):
        parse_config(["--task", "reacher", flag, "0"])


# Sections and the per-task defaults table (sdpg_warp/config.py, sdpg_warp/tasks/defaults.py).

DATA = pathlib.Path(__file__).parent / "data"


def _resolved_before_sections() -> dict:
    """Every task x obs x algorithm's defaults as the config resolved them before it had sections and
    ``sdpg_warp/tasks/defaults.py`` (the parallel per-task tables): fields that differ from the base."""
    return json.loads((DATA / "task_defaults_2026-12-06.json").read_text())


CHANGED_SINCE = {("franka_pick_cube", "sdpg"): {"init_logstd": -1.6}}
"""Defaults changed on purpose after the table was written, by (task, algorithm), each with its
measurement where it is set (``sdpg_warp/tasks/defaults.py``)."""


def test_every_task_obs_and_algorithm_resolves_as_before():
    table = _resolved_before_sections()
    assert len(table["resolved"]) == len(task_names()) * 3 * len(ALGORITHMS)
    for key, changed in table["resolved"].items():
        task, obs, algo = key.split("/")
        resolved = json.loads(task_defaults(task, obs, algo).to_json())
        expected = {**table["base"], **changed, **CHANGED_SINCE.get((task, algo), {})}
        assert {name: resolved[name] for name in expected} == expected, key


def test_every_field_is_declared_in_one_section():
    declared = [field.name for section in SECTIONS.values() for field in dataclasses.fields(section)]
    assert len(declared) == len(set(declared))
    assert declared == [field.name for field in dataclasses.fields(TrainConfig)]  # --help's order
    for entry in ALGORITHMS.values():
        assert set(entry.sections) <= set(SECTIONS.values())
        assert all(hasattr(TrainConfig, name) for _, name in entry.worlds)


def test_a_config_splits_into_sections_and_joins_back():
    cfg = dataclasses.replace(task_defaults("go2_terrain", "depth", "ppo"), ppo_lr=1e-2, seed=7)
    sections = cfg.sections()
    assert list(sections) == list(SECTIONS)
    assert sections["ppo"].ppo_lr == 1e-2 and sections["run"].seed == 7 and sections["env"].depth_far == 2.0
    assert TrainConfig.from_sections(sections.values()) == cfg
    assert TrainConfig(**dataclasses.asdict(cfg)) == cfg  # flat keyword arguments, as before


def test_a_flat_config_json_of_before_the_sections_loads():
    text = (DATA / "flat_config_2026-12-06.json").read_text()
    cfg = TrainConfig.from_json(text)
    old, loaded = json.loads(text), json.loads(cfg.to_json())
    assert {name: loaded[name] for name in old} == old  # fields added since take their defaults
    assert (cfg.task, cfg.num_nominal, cfg.num_aux, cfg.horizon, cfg.critic_minibatch) == ("pointmass", 2, 3, 4, 1024)
    assert cfg.world_layout() == (2, 3)


def test_help_shows_one_group_per_section(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    out = capsys.readouterr().out
    groups = [m.group(1) for m in re.finditer(r"^\W*((?:[a-z]+ )?options)\W*$", out, re.MULTILINE)]  # boxed or plain
    assert groups == ["options"] + [f"{name} options" for name in SECTIONS]
    assert "--critic-minibatch" in out and "--ppo-lr" in out and "--distill-lr" in out and "--num-envs" in out


def test_a_flag_of_another_algorithms_section_is_refused():
    with pytest.raises(UsageError, match=r"^--num-aux, --ppo-lr: not a setting of --algo distill "):
        parse_config(["--task", "reacher", "--algo", "distill", "--ppo-lr", "1e-3", "--num-aux", "3"])
    with pytest.raises(UsageError, match=r"^--num-envs: not a setting of --algo sdpg "):
        parse_config(["--task", "reacher", "--num-envs", "8"])
    assert parse_config(["--task", "reacher", "--algo", "ppo", "--num-envs", "8"]).world_layout() == (8, 0)
