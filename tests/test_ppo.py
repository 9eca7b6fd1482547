"""The PPO baseline: GAE and losses against NumPy and hand-worked numbers, the KL-adaptive rate,
exact resume, the CLI's algorithm checks, and real learning on the small reacher task."""

import dataclasses
import os

import numpy as np
import pytest
import torch

from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.ppo import (LR_MAX, LR_MIN, adapt_learning_rate_, gae, gaussian_entropy, gaussian_kl,
                           gaussian_log_prob, surrogate_loss, value_loss)
from sdpg_warp.runner import Runner


def _gae_reference(rewards, dones, values, next_values, gamma, lam):
    """The textbook backward recursion: delta = r + gamma*v' - V, A = delta + gamma*lam*(1-d)*A_next."""
    advantages = np.zeros_like(rewards)
    following = np.zeros(rewards.shape[0])
    for t in reversed(range(rewards.shape[1])):
        delta = rewards[:, t] + gamma * next_values[:, t] - values[:, t]
        following = delta + gamma * lam * (1.0 - dones[:, t]) * following
        advantages[:, t] = following
    return advantages, advantages + values


def test_gae_hand_worked():
    # gamma = lam = 0.5: A2 = 3 + 0.5*2 - 1.5 = 2.5; A1 = 2 + 0.75 - 1 + 0.25*2.5 = 2.375;
    # A0 = 1 + 0.5 - 0.5 + 0.25*2.375 = 1.59375.
    rewards = torch.tensor([[1.0, 2.0, 3.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    next_values = torch.tensor([[1.0, 1.5, 2.0]])
    dones = torch.tensor([[0.0, 0.0, 1.0]])
    advantages, returns = gae(rewards, dones, values, next_values, 0.5, 0.5)
    torch.testing.assert_close(advantages, torch.tensor([[1.59375, 2.375, 2.5]]))
    torch.testing.assert_close(returns, torch.tensor([[2.09375, 3.375, 4.0]]))


def test_gae_matches_the_recursion_with_ends_and_terminations():
    rng = np.random.default_rng(3)
    E, H, gamma, lam = 6, 11, 0.99, 0.95
    values = rng.normal(size=(E, H + 1)).astype(np.float32)
    rewards = rng.normal(size=(E, H)).astype(np.float32)
    dones = (rng.random((E, H)) < 0.2).astype(np.float32)
    dones[:, -1] = 1.0
    terminated = (rng.random((E, H)) < 0.5) & (dones == 1.0)
    # Along a trajectory the next value is the next step's value; at an end, the final state's own.
    next_values = np.where(dones == 1.0, rng.normal(size=(E, H)), values[:, 1:]).astype(np.float32)
    next_values[terminated] = 0.0
    expected = _gae_reference(rewards, dones, values[:, :H], next_values, gamma, lam)
    got = gae(*(torch.from_numpy(x) for x in (rewards, dones, values[:, :H].copy(), next_values)), gamma, lam)
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-5)


def test_surrogate_and_value_losses_hand_worked():
    # ratio 1.5 with A = +1 clips to 1.2; ratio 0.5 with A = -1 clips to 0.8 (-0.8 < -0.5 is the min).
    log_prob = torch.log(torch.tensor([1.5, 0.5]))
    loss = surrogate_loss(log_prob, torch.zeros(2), torch.tensor([1.0, -1.0]), clip=0.2)
    torch.testing.assert_close(loss, torch.tensor((-1.2 + 0.8) / 2))
    # V = 2 from V_old = 1, R = 3: plain (2-3)^2 = 1; clipped V_old + 0.2 = 1.2 -> (1.2-3)^2 = 3.24.
    v, old, ret = torch.tensor([2.0]), torch.tensor([1.0]), torch.tensor([3.0])
    torch.testing.assert_close(value_loss(v, old, ret, 0.2, clipped=False), torch.tensor(1.0))
    torch.testing.assert_close(value_loss(v, old, ret, 0.2, clipped=True), torch.tensor(3.24))


def test_gaussian_terms_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean_a, mean_b, u = (torch.randn(5, 3, generator=g) for _ in range(3))
    logstd_a, logstd_b = (0.3 * torch.randn(5, 3, generator=g) for _ in range(2))
    a = torch.distributions.Normal(mean_a, logstd_a.exp())
    b = torch.distributions.Normal(mean_b, logstd_b.exp())
    torch.testing.assert_close(gaussian_log_prob(u, mean_a, logstd_a), a.log_prob(u).sum(-1))
    torch.testing.assert_close(gaussian_entropy(logstd_a), a.entropy().sum(-1))
    torch.testing.assert_close(gaussian_kl(mean_a, logstd_a, mean_b, logstd_b),
                               torch.distributions.kl_divergence(a, b).sum(-1))


@pytest.mark.parametrize("kl, expected", [(0.05, 1e-3 / 1.5), (0.001, 1e-3 * 1.5), (0.01, 1e-3), (0.0, 1e-3)])
def test_kl_adaptive_rate(kl, expected):
    lr = torch.tensor(1e-3)
    adapt_learning_rate_(lr, torch.tensor(kl), desired_kl=0.01)
    torch.testing.assert_close(lr, torch.tensor(expected))


def test_kl_adaptive_rate_stays_within_its_bounds():
    low, high = torch.tensor(LR_MIN), torch.tensor(LR_MAX)
    adapt_learning_rate_(low, torch.tensor(1.0), 0.01)
    adapt_learning_rate_(high, torch.tensor(0.0), 0.01)
    assert float(low) == pytest.approx(LR_MIN) and float(high) == pytest.approx(LR_MAX)


def _tiny(device, **overrides):
    settings = dict(device=device, deterministic=device != "cpu", num_envs=4, horizon=4, epochs=2,
                    image_size=16, ppo_minibatches=2, ppo_epochs=2)
    return dataclasses.replace(task_defaults("pointmass", "state", "ppo"), **{**settings, **overrides})


def test_update_moves_the_optimizers_rate_on_the_device(device):
    runner = Runner(_tiny(device, ppo_lr=1e-2, ppo_desired_kl=1e-9))  # every KL is "too large"
    runner.rollout()
    metrics = runner.update()
    algo = runner.algo
    assert algo.optimizer.param_groups[0]["lr"] is algo.lr, "the optimizer reads the adapted rate"
    steps = runner.cfg.ppo_epochs * runner.cfg.ppo_minibatches
    # Every step divides the rate, but the first may see a KL of exactly 0 (the rollout's policy).
    assert any(float(algo.lr) == pytest.approx(1e-2 / 1.5**k, rel=1e-5) for k in (steps - 1, steps))
    assert float(metrics["charts/learning_rate"]) == float(algo.lr)


@pytest.mark.parametrize("bootstrap", [True, False])
def test_time_outs_bootstrap_only_when_asked(device, bootstrap):
    # World 0 timed out at t = 1 (done, not terminated), world 1 terminated, world 2 runs on, world 3
    # times out at the horizon's last step. Off (rl_games without value_bootstrap), every episode
    # end is terminal; the horizon's end alone still bootstraps.
    runner = Runner(_tiny(device, ppo_bootstrap_timeouts=bootstrap))
    algo, states = runner.algo, runner.sim.states
    for t, terminated, done in ((1, [False, True, False, False], [True, True, False, False]),
                                (3, [False] * 4, [False, False, False, True])):
        algo.process_env_step(t, torch.ones(4, device=device), states, torch.tensor(terminated, device=device))
        algo.process_dones(t, torch.tensor(done, device=device))
    values = algo.storage.next_values
    expected_zero = {(1, 1)} | ({(0, 1), (3, 3)} if not bootstrap else set())
    for w, t in ((0, 1), (1, 1), (2, 1), (3, 3), (2, 3)):
        assert (values[w, t] == 0.0).item() == ((w, t) in expected_zero), (w, t)
    assert (algo.storage.dones[:, 3] == 1.0).all()


def test_rollout_storage_of_independent_worlds(device):
    runner = Runner(_tiny(device, obs="rgb"))
    assert runner.sim.num_worlds == 4 and runner.sim.group_size == 1
    assert runner.renderer.num_nominal == 4, "PPO renders every world"
    runner.rollout()
    s = runner.algo.storage
    torch.testing.assert_close(s.log_prob, gaussian_log_prob(s.actions, s.mean, s.logstd))
    assert (s.dones[:, -1] == 1).all() and torch.isfinite(s.values).all() and torch.isfinite(s.next_values).all()


def test_resume_is_exact(device, tmp_path):
    straight = Runner(_tiny(device, epochs=4))
    straight.train()
    first = Runner(_tiny(device, epochs=2, schedule_epochs=4), run_dir=str(tmp_path))
    first.train()
    resumed = Runner(_tiny(device, epochs=4))
    resumed.load(first.checkpoint_path)
    resumed.train()
    for name in ("actor", "critic"):
        for key, value in straight.algo.networks()[name].state_dict().items():
            assert torch.equal(value, resumed.algo.networks()[name].state_dict()[key]), f"{name}.{key}"
    assert torch.equal(straight.algo.lr, resumed.algo.lr)
    assert resumed.algo.optimizer.param_groups[0]["lr"] is resumed.algo.lr


@pytest.mark.parametrize("args, message", [
    (["--algo", "ppo", "--num-aux", "3"], "--num-aux: not a setting of --algo ppo"),
    (["--algo", "ppo", "--critic-lr", "1e-3"], "--critic-lr: not a setting of --algo ppo"),
    (["--ppo-clip", "0.1"], "--ppo-clip: not a setting of --algo sdpg"),
    (["--num-envs", "8"], "--num-envs: not a setting of --algo sdpg"),
    (["--algo", "ppo", "--num-envs", "0"], "num-envs must be >= 1"),
    (["--algo", "ppo", "--ppo-clip", "0"], "ppo-clip must be finite and > 0"),
    (["--algo", "ppo", "--num-envs", "2", "--horizon", "2", "--ppo-minibatches", "5"], "exceeds the rollout"),
    (["--algo", "nope"], "unknown algo"),
])
def test_bad_algorithm_flags_exit_2_with_one_line(tmp_path, capsys, args, message):
    assert train.main(["--log-dir", str(tmp_path / "runs"), "--task", "reacher", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_cli_run_names_the_algorithm_and_play_loads_it(tmp_path, device):
    from sdpg_warp.checkpoint import load_policy

    args = ["--device", device, "--log-dir", str(tmp_path), "--algo", "ppo", "--task", "pointmass", "--obs", "state",
            "--num-envs", "4", "--horizon", "4", "--ppo-minibatches", "2", "--epochs", "1"]
    assert train.main(args) == 0
    (run,) = os.listdir(tmp_path)
    assert run.startswith("pointmass__state__ppo__")
    cfg, actor = load_policy(str(tmp_path / run))
    assert cfg.algo == "ppo" and actor.obs_kind == "state"


def _mean_step_reward(history, first: bool, count: int) -> float:
    values = [h["charts/step_reward"] for h in history]
    return float(np.mean(values[:count] if first else values[-count:]))


def test_ppo_learns_reacher_from_state(device):
    """The small task's reward per step must rise clearly within 150 epochs (about 15 s on one core)."""
    cfg = dataclasses.replace(task_defaults("reacher", "state", "ppo"), device=device, epochs=150)
    history = Runner(cfg).train()
    early, late = _mean_step_reward(history, True, 10), _mean_step_reward(history, False, 30)
    assert late > early + 0.3, f"reward per step {early:.3f} -> {late:.3f}"


def test_chunked_minibatches_give_the_whole_minibatchs_gradient_and_step(device):
    # 4 worlds x 4 steps = 16 samples, minibatches of 8: chunks of 3 (3 + 3 + 2) against one pass.
    whole = Runner(_tiny(device, obs="rgb", ppo_chunk=8))
    chunked = Runner(_tiny(device, obs="rgb", ppo_chunk=3))
    assert chunked.algo.chunk == 3 and whole.algo.chunk == 8
    for runner in (whole, chunked):
        runner.rollout()
    assert torch.equal(whole.algo.storage.obs, chunked.algo.storage.obs)
    s = whole.algo.storage
    batch = {"obs": s.obs.flatten(0, 1), "states": s.states.flatten(0, 1), "actions": s.actions.flatten(0, 1),
             "log_prob": s.log_prob.flatten(), "mean": s.mean.flatten(0, 1), "logstd": s.logstd.flatten(0, 1),
             "advantages": torch.linspace(-1.0, 1.0, 16, device=device), "old_values": s.values.flatten(),
             "targets": s.values.flatten() + 0.5}
    rows = torch.arange(8, device=device).flip(0)
    parts = [runner.algo._minibatch_gradients(batch, rows) for runner in (whole, chunked)]
    for name in parts[0]:
        torch.testing.assert_close(parts[1][name], parts[0][name], rtol=1e-5, atol=1e-6, msg=name)
    grads = [{name: p.grad for name, p in runner.algo.actor.named_parameters()} for runner in (whole, chunked)]
    assert all(g is not None and g.abs().sum() > 0 for g in grads[0].values())
    for name, grad in grads[0].items():
        torch.testing.assert_close(grads[1][name], grad, rtol=1e-4, atol=1e-6, msg=name)
    # And a whole update (2 passes of 2 minibatches) ends at the same networks.
    for runner in (whole, chunked):
        runner.update()
    for name in ("actor", "critic"):
        for key, value in whole.algo.networks()[name].state_dict().items():
            torch.testing.assert_close(chunked.algo.networks()[name].state_dict()[key], value, rtol=1e-4, atol=1e-5,
                                       msg=f"{name}.{key}")


def test_chunk_defaults_per_device():
    cfg = task_defaults("humanoid", "rgb", "ppo")
    assert cfg.ppo_chunk_on("cpu") == 256 and cfg.ppo_chunk_on("cuda:0") == 1024
    with pytest.raises(ValueError, match="ppo-chunk must be >= 1"):
        dataclasses.replace(cfg, ppo_chunk=0).validate()
