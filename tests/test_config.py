"""Per-task defaults of the config registry."""

import pytest

from sdpg_warp.config import task_defaults
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
