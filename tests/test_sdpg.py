"""Tests of sdpg_warp.sdpg: losses with worked numbers, Polyak update, schedules, the SDPG updates and
an exact resume from a checkpoint."""

import dataclasses
import io
import math

import pytest
import torch
from torch import nn

from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor, Critic
from sdpg_warp.sdpg import (SDPG, actor_loss, actor_lr_at, critic_loss, critic_lr_at, critic_minibatch_size, entropy_reward,
                            soft_update, temperature_loss)

OBS_DIM = 4
NUM_ACTIONS = 2


def _cfg(**overrides) -> TrainConfig:
    base = dict(task="pointmass", obs="state", epochs=20, actor_lr=1e-2, actor_warmup_epochs=0,
                actor_hidden=(16,), encoder_dim=8, critic_hidden=(16,), critic_lr=1e-2,
                critic_minibatch=32, critic_minibatches=1, critic_iterations=2, alpha=0.0, auto_alpha=False,
                tau=0.5)
    base.update(overrides)
    return TrainConfig(**base)


def _algo(cfg: TrainConfig, device: str, obs_shape=(OBS_DIM,), seed: int = 0) -> SDPG:
    torch.manual_seed(seed)
    actor = Actor.from_config(cfg, obs_shape, NUM_ACTIONS)
    critic = Critic.from_config(cfg, OBS_DIM)
    return SDPG(actor, critic, cfg, device)


# ------------------------------------------------------------------------------------------ losses


def test_actor_loss_worked_example():
    mean = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    mean_target = torch.tensor([[1.0, 1.0], [2.0, 2.0]])
    logstd = torch.tensor([0.0, -1.0], requires_grad=True)
    logstd_target = torch.tensor([[1.0, -1.0], [0.0, 1.0]])
    loss, parts = actor_loss(mean, logstd, mean_target, logstd_target, alpha=0.1)
    # mean mse: differences -1, 0, 0, -2 -> (1 + 0 + 0 + 4) / 4 = 1.25
    # logstd mse (logstd broadcast over the batch): -1, 0, 0, -2 -> 1.25
    # entropy: -0.1 * mean(0, -1) = -0.1 * -0.5 = +0.05;  total 2.55
    assert parts["mean"].item() == pytest.approx(1.25)
    assert parts["logstd"].item() == pytest.approx(1.25)
    assert parts["entropy"].item() == pytest.approx(0.05)
    assert loss.item() == pytest.approx(2.55)
    loss.backward()
    # d/dlogstd_j = (2/4) * sum_b (logstd_j - target_bj) - 0.1/2:
    #   j=0: 0.5 * (-1 + 0) - 0.05 = -0.55;  j=1: 0.5 * (0 - 2) - 0.05 = -1.05
    torch.testing.assert_close(logstd.grad, torch.tensor([-0.55, -1.05]))


def test_actor_loss_does_not_train_alpha():
    alpha = torch.tensor(0.1, requires_grad=True)
    logstd = torch.zeros(2, requires_grad=True)
    loss, _ = actor_loss(torch.zeros(1, 2), logstd, torch.zeros(1, 2), torch.zeros(1, 2), alpha)
    loss.backward()
    assert alpha.grad is None


def test_temperature_loss_worked_example_and_sign():
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    logstd = torch.log(torch.tensor([0.1, 0.3])).requires_grad_()
    # alpha * mean(std - target) = 0.5 * (0.2 - 0.15) = 0.025; d/dlog_alpha = the same 0.025
    loss = temperature_loss(log_alpha, logstd, target_std=0.15)
    assert loss.item() == pytest.approx(0.025)
    loss.backward()
    assert log_alpha.grad.item() == pytest.approx(0.025)  # std above target: descent lowers alpha
    assert logstd.grad is None  # the std is detached: the temperature loss does not move the policy
    log_alpha.grad = None
    low = torch.log(torch.tensor([0.05, 0.15]))
    # 0.5 * (0.1 - 0.15) = -0.025: std below target, negative gradient, descent raises alpha
    temperature_loss(log_alpha, low, target_std=0.15).backward()
    assert log_alpha.grad.item() == pytest.approx(-0.025)


def test_critic_loss_worked_example():
    # ((1-1)^2 + (2-0)^2 + (3-5)^2) / 3 = 8/3
    loss = critic_loss(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 0.0, 5.0]))
    assert loss.item() == pytest.approx(8.0 / 3.0)
    # A non-finite target counts neither in the sum nor in the mean: ((1-1)^2 + (3-5)^2) / 2 = 2,
    # and its value gets no gradient (d/dv = 2 (v - J) / 2 for the others: 0 and -2).
    values = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = critic_loss(values, torch.tensor([1.0, float("nan"), 5.0]))
    loss.backward()
    assert loss.item() == pytest.approx(2.0)
    assert values.grad.tolist() == pytest.approx([0.0, 0.0, -2.0])


def test_entropy_reward_worked_example():
    logstd = torch.log(torch.tensor([0.5, 0.5 * math.e]))
    # 0.1 * mean(log 0.5 - log 0.5, log 0.5 + 1 - log 0.5) = 0.1 * mean(0, 1) = 0.05
    assert entropy_reward(logstd, 0.1, target_std=0.5).item() == pytest.approx(0.05)
    per_step = entropy_reward(logstd.expand(3, 4, 2), 0.1, target_std=0.5)
    assert per_step.shape == (3, 4)
    torch.testing.assert_close(per_step, torch.full((3, 4), 0.05))


# ------------------------------------------------------------------------------------- soft update


class _Tiny(nn.Module):
    def __init__(self, weight: float, bias: float, stat: float):
        super().__init__()
        self.linear = nn.Linear(1, 1)
        with torch.no_grad():
            self.linear.weight.fill_(weight)
            self.linear.bias.fill_(bias)
        self.register_buffer("stat", torch.tensor(stat))


def test_soft_update_by_hand():
    target, source = _Tiny(1.0, 0.0, stat=7.0), _Tiny(3.0, 2.0, stat=9.0)
    soft_update(target, source, tau=0.25)
    # tau weighs the old target: w = 0.25*1 + 0.75*3 = 2.5, b = 0.25*0 + 0.75*2 = 1.5
    assert target.linear.weight.item() == pytest.approx(2.5)
    assert target.linear.bias.item() == pytest.approx(1.5)
    assert target.stat.item() == 9.0  # buffers are copied
    assert source.linear.weight.item() == 3.0  # the source is untouched
    soft_update(target, source, tau=0.0)  # tau = 0 copies
    assert target.linear.weight.item() == 3.0


# --------------------------------------------------------------------------------------- schedules


def test_actor_lr_schedule_by_hand():
    cfg = _cfg(actor_lr=1e-3, actor_lr_min=1e-4, actor_warmup_epochs=10, epochs=110)
    assert actor_lr_at(0, cfg) == 0.0
    assert actor_lr_at(5, cfg) == pytest.approx(5e-4)  # 1e-3 * 5/10
    assert actor_lr_at(10, cfg) == pytest.approx(1e-3)  # cosine starts at the peak
    # epoch 35: progress 25/100, (1 + cos(pi/4))/2 = 0.8535534 -> 1e-4 + 9e-4 * 0.8535534
    assert actor_lr_at(35, cfg) == pytest.approx(8.6819805e-4)
    assert actor_lr_at(60, cfg) == pytest.approx(5.5e-4)  # progress 0.5: halfway, 1e-4 + 4.5e-4
    assert actor_lr_at(110, cfg) == pytest.approx(1e-4)
    assert actor_lr_at(500, cfg) == pytest.approx(1e-4)
    assert actor_lr_at(0, _cfg(actor_lr=1e-3, actor_warmup_epochs=0, epochs=10)) == pytest.approx(1e-3)


def test_critic_lr_schedule_by_hand():
    linear = _cfg(critic_lr=2e-3, critic_lr_schedule="linear", epochs=100)
    assert critic_lr_at(0, linear) == pytest.approx(2e-3)
    assert critic_lr_at(25, linear) == pytest.approx(1.55e-3)  # 2e-3 * (1 - 0.9 * 25/100)
    assert critic_lr_at(100, linear) == pytest.approx(2e-4)  # ends at 0.1x, not 0
    assert critic_lr_at(150, linear) == pytest.approx(2e-4)
    constant = dataclasses.replace(linear, critic_lr_schedule="constant")
    assert critic_lr_at(50, constant) == pytest.approx(2e-3)


def test_set_epoch_sets_optimizer_lrs(device):
    cfg = _cfg(actor_lr=1e-3, actor_lr_min=1e-4, actor_warmup_epochs=10, epochs=110,
               critic_lr=2e-3, critic_lr_schedule="linear")
    algo = _algo(cfg, device)
    assert algo.actor_optimizer.param_groups[0]["lr"] == 0.0  # epoch 0 at construction
    algo.set_epoch(60)
    assert algo.actor_optimizer.param_groups[0]["lr"] == pytest.approx(5.5e-4)
    # linear to 0.1x: 2e-3 * (1 - 0.9 * 60/110) = 2e-3 * 56/110
    assert algo.critic_optimizer.param_groups[0]["lr"] == pytest.approx(2e-3 * 56.0 / 110.0)


# ------------------------------------------------------------------------------------------ updates


def _batch(batch: int, device: str, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, OBS_DIM, generator=gen)
    mean_target = torch.rand(batch, NUM_ACTIONS, generator=gen) * 2.0 - 1.0
    return obs.to(device), mean_target.to(device)


def test_alpha_fixed_and_disabled(device):
    assert _algo(_cfg(alpha=0.02, auto_alpha=False), device).alpha.item() == pytest.approx(0.02)
    disabled = _algo(_cfg(alpha=0.0, auto_alpha=True), device)
    assert disabled.log_alpha is None and disabled.alpha.item() == 0.0


def test_actor_update_moves_toward_target(device):
    algo = _algo(_cfg(), device)
    obs, mean_target = _batch(8, device)
    logstd_target = torch.full((8, NUM_ACTIONS), -1.0, device=device)
    algo.actor.update_normalizer(obs)
    before = ((algo.actor(obs)[0] - mean_target) ** 2).mean().item()
    for _ in range(3):
        metrics = algo.update_actor(obs, mean_target, logstd_target)
    after = ((algo.actor(obs)[0] - mean_target) ** 2).mean().item()
    assert after < before
    assert torch.all(algo.actor.logstd < 0.0)  # init 0, pulled toward -1
    assert metrics["charts/actor_lr"] == pytest.approx(1e-2)
    assert set(metrics) >= {"losses/actor", "losses/actor_mean", "losses/actor_logstd",
                            "charts/actor_grad_norm", "charts/policy_std", "charts/alpha"}


@pytest.mark.parametrize("init_std,rises", [(0.05, True), (1.0, False)])
def test_temperature_tracks_target_std(init_std, rises, device):
    cfg = _cfg(alpha=0.01, auto_alpha=True, target_std=0.15, init_logstd=math.log(init_std))
    algo = _algo(cfg, device)
    obs, mean_target = _batch(8, device)
    logstd_target = torch.full((8, NUM_ACTIONS), math.log(init_std), device=device)
    algo.update_actor(obs, mean_target, logstd_target)
    assert (algo.alpha.item() > 0.01) == rises
    assert algo.alpha.item() != pytest.approx(0.01, abs=1e-7)


def test_logstd_stays_trainable_at_its_bound(device):
    # Humanoid-style bound logstd_max = 0 with init 0: the entropy bonus pushes the log-std up, the
    # projection keeps it at the bound, so a later target below the bound still pulls it down.
    cfg = _cfg(alpha=1.0, auto_alpha=False, init_logstd=0.0, logstd_min=-2.2, logstd_max=0.0)
    algo = _algo(cfg, device)
    obs, mean_target = _batch(8, device)
    algo.update_actor(obs, mean_target, torch.zeros(8, NUM_ACTIONS, device=device))
    assert torch.all(algo.actor.logstd == 0.0)
    algo.update_actor(obs, mean_target, torch.full((8, NUM_ACTIONS), -2.0, device=device))
    assert torch.all(algo.actor.logstd < 0.0)


def test_saturated_mean_is_pulled_back(device):
    # A mean that an update carried beyond mean_bound (raw head output -100, clamped to -2) must
    # still learn from targets inside the bounds; a zero-gradient clamp left every pixel-based
    # reacher mean stuck at -2 for the rest of the run.
    algo = _algo(_cfg(), device)
    obs, _ = _batch(8, device)
    algo.actor.update_normalizer(obs)
    with torch.no_grad():
        algo.actor.head[-1].bias.fill_(-100.0)
    before = algo.actor.head[-1].bias.detach().clone()
    algo.update_actor(obs, torch.full((8, NUM_ACTIONS), -1.0, device=device),
                      torch.zeros(8, NUM_ACTIONS, device=device))
    assert torch.all(algo.actor.head[-1].bias > before)


@pytest.mark.parametrize("chunk", [3, 1000])
def test_a_skipped_row_has_no_weight_in_the_actor_step(chunk, device):
    # A row without an estimate (non-finite nominal return; its targets are garbage here) changes
    # nothing: the step equals the step on the other rows alone, at any chunking.
    obs, mean_target = _batch(9, device)
    logstd_target = torch.full((9, NUM_ACTIONS), -0.5, device=device)
    skipped_targets = mean_target.clone(), logstd_target.clone()
    skipped_targets[0][4], skipped_targets[1][4] = 7.0, -3.0
    kept = torch.ones(9, dtype=torch.bool, device=device)
    kept[4] = False
    rest = torch.arange(9, device=device) != 4
    results = []
    for args in ((obs, *skipped_targets, kept), (obs[rest], mean_target[rest], logstd_target[rest])):
        algo = _algo(_cfg(actor_chunk=chunk), device)
        algo.actor.update_normalizer(obs)
        metrics = algo.update_actor(*args)
        results.append((metrics, [p.detach().clone() for p in algo.actor.parameters()]))
    (masked, params_masked), (plain, params_plain) = results
    for name in ("losses/actor_mean", "losses/actor_logstd", "charts/actor_grad_norm"):
        torch.testing.assert_close(masked[name], plain[name], rtol=1e-5, atol=1e-6)
    for a, b in zip(params_masked, params_plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5)


def test_fixed_std_is_no_parameter_and_stays(device):
    # go2_terrain's fixed_std: the log-std is a buffer at init_logstd that no step moves (it was a
    # parameter regressed onto the targets: 0 -> -0.027 in 50 steps).
    algo = _algo(_cfg(fixed_std=True, init_logstd=0.0), device)
    assert all(p is not algo.actor.logstd for p in algo.actor.parameters())
    assert "logstd" in algo.actor.state_dict()
    obs, mean_target = _batch(8, device)
    for _ in range(5):
        algo.update_actor(obs, mean_target, torch.full((8, NUM_ACTIONS), -1.0, device=device))
    assert torch.equal(algo.actor.logstd, torch.zeros(NUM_ACTIONS, device=device))
    moved = _algo(_cfg(init_logstd=0.0), device)
    for _ in range(5):
        moved.update_actor(obs, mean_target, torch.full((8, NUM_ACTIONS), -1.0, device=device))
    assert torch.all(moved.actor.logstd < 0.0)


def _regression(num_states: int, device: str):
    gen = torch.Generator().manual_seed(2)
    states = torch.randn(num_states, OBS_DIM, generator=gen) * 3.0 + 1.0
    targets = states @ torch.tensor([1.0, -2.0, 0.5, 0.0]) + 1.0
    return states.to(device), targets.to(device)


def test_critic_update_reduces_loss(device):
    algo = _algo(_cfg(critic_minibatch=32, critic_iterations=2, tau=0.0), device)
    states, targets = _regression(100, device)
    algo.critic.update_normalizer(states)
    before = critic_loss(algo.critic(states), targets).item()
    for _ in range(5):
        metrics = algo.update_critic(states, targets)
    after = critic_loss(algo.critic(states), targets).item()
    assert after < 0.5 * before
    # 100 states in minibatches of 32: 4 steps per pass, 2 passes, 5 calls -> 40 Adam steps.
    first = next(algo.critic.parameters())
    assert algo.critic_optimizer.state[first]["step"].item() == 40
    # tau = 0: the target net is a copy of the critic after each update.
    torch.testing.assert_close(algo.target_values(states), algo.critic(states).detach())
    assert set(metrics) == {"losses/critic", "charts/critic_grad_norm", "charts/critic_lr"}


def test_critic_takes_eight_steps_per_pass_by_default(device):
    """A small epoch under the 4096 cap still gives the critic ``critic_minibatches`` steps per pass."""
    defaults = TrainConfig()
    algo = _algo(_cfg(critic_minibatch=defaults.critic_minibatch, critic_minibatches=defaults.critic_minibatches,
                      critic_iterations=2), device)
    states, targets = _regression(100, device)
    algo.update_critic(states, targets)
    first = next(algo.critic.parameters())
    assert algo.critic_optimizer.state[first]["step"].item() == 2 * 8


def test_target_net_lags(device):
    algo = _algo(_cfg(tau=0.5), device)
    states, targets = _regression(64, device)
    old = [p.detach().clone() for p in algo.target_critic.parameters()]
    algo.update_critic(states, targets)
    for p_target, p_old, p in zip(algo.target_critic.parameters(), old, algo.critic.parameters()):
        torch.testing.assert_close(p_target, 0.5 * p_old + 0.5 * p.detach())
        assert not p_target.requires_grad


# ------------------------------------------------------------------------------------------ resume


def _epoch(algo: SDPG, epoch: int, obs_shape: tuple, device: str) -> None:
    """One epoch of updates on data that depends only on the epoch number."""
    gen = torch.Generator().manual_seed(100 + epoch)
    if len(obs_shape) == 3:
        obs = torch.randint(0, 256, (6, *obs_shape), generator=gen, dtype=torch.uint8)
    else:
        obs = torch.randn(6, *obs_shape, generator=gen)
    mean_target = torch.rand(6, NUM_ACTIONS, generator=gen) * 2.0 - 1.0
    logstd_target = torch.rand(6, NUM_ACTIONS, generator=gen) - 1.0
    states = torch.randn(40, OBS_DIM, generator=gen)
    targets = torch.randn(40, generator=gen)
    obs, states = obs.to(device), states.to(device)
    algo.set_epoch(epoch)
    algo.actor.update_normalizer(obs)
    algo.update_actor(obs, mean_target.to(device), logstd_target.to(device))
    algo.critic.update_normalizer(states)
    algo.update_critic(states, targets.to(device))


def _flatten(tree, prefix=""):
    """Nested dicts/lists of a state_dict -> {path: leaf}."""
    if isinstance(tree, dict):
        return {k: v for key, sub in tree.items() for k, v in _flatten(sub, f"{prefix}/{key}").items()}
    if isinstance(tree, (list, tuple)):
        return {k: v for i, sub in enumerate(tree) for k, v in _flatten(sub, f"{prefix}/{i}").items()}
    return {prefix: tree}


@pytest.mark.parametrize("kind,obs_shape", [("state", (OBS_DIM,)), ("rgb", (3, 16, 16))])
def test_resume_reproduces_uninterrupted_run(kind, obs_shape, device):
    cfg = _cfg(obs=kind, epochs=6, actor_warmup_epochs=2, critic_lr_schedule="linear", alpha=0.05,
               auto_alpha=True, critic_minibatch=16, seed=3)
    straight = _algo(cfg, device, obs_shape)
    for epoch in range(2):
        _epoch(straight, epoch, obs_shape, device)
    checkpoint = io.BytesIO()
    torch.save(straight.state_dict(), checkpoint)
    for epoch in range(2, 4):
        _epoch(straight, epoch, obs_shape, device)

    checkpoint.seek(0)
    resumed = _algo(cfg, device, obs_shape, seed=99)  # different initial weights, overwritten by the load
    resumed.load_state_dict(torch.load(checkpoint, map_location=device))
    for epoch in range(2, 4):
        _epoch(resumed, epoch, obs_shape, device)

    expected, got = _flatten(straight.state_dict()), _flatten(resumed.state_dict())
    assert expected.keys() == got.keys()
    for key in expected:
        if isinstance(expected[key], torch.Tensor):
            assert torch.equal(expected[key].cpu(), got[key].cpu()), key
        else:
            assert expected[key] == got[key], key


@pytest.mark.parametrize("obs_kind, obs_shape", [("state", (OBS_DIM,)), ("rgb", (9, 16, 16))])
def test_chunked_actor_update_equals_whole_batch(obs_kind, obs_shape, device):
    """Gradient accumulation over chunks of 3 rows gives the whole batch's step (to float rounding)."""
    gen = torch.Generator().manual_seed(3)
    if obs_kind == "state":
        obs = torch.randn(10, *obs_shape, generator=gen)
    else:
        obs = torch.randint(0, 256, (10, *obs_shape), generator=gen, dtype=torch.uint8)
    mean_target = torch.rand(10, NUM_ACTIONS, generator=gen) * 2.0 - 1.0
    logstd_target = torch.randn(10, NUM_ACTIONS, generator=gen) * 0.1
    results = []
    for chunk in (3, 1000):
        algo = _algo(_cfg(obs=obs_kind, actor_chunk=chunk, alpha=0.01), device, obs_shape)
        metrics = algo.update_actor(obs.to(device), mean_target.to(device), logstd_target.to(device))
        results.append((metrics, [p.detach().clone() for p in algo.actor.parameters()]))
    (chunked, params_chunked), (whole, params_whole) = results
    for name in ("losses/actor", "losses/actor_mean", "losses/actor_logstd", "charts/actor_grad_norm"):
        torch.testing.assert_close(chunked[name], whole[name], rtol=1e-5, atol=1e-6)
    for a, b in zip(params_chunked, params_whole):
        # Adam divides by sqrt(v): a near-zero gradient's rounding can move a weight by ~1e-5 lr-units.
        torch.testing.assert_close(a, b, rtol=1e-4, atol=2e-5)


def test_a_blown_up_auxiliary_is_counted_and_the_update_stays_finite(device):
    # One auxiliary world's NaN reward at t = 2 makes its returns at t = 0..2 non-finite (the
    # return runs backward): three samples left out, counted on the device, read at logging.
    from sdpg_warp.config import task_defaults
    from sdpg_warp.runner import Runner

    cfg = dataclasses.replace(task_defaults("pointmass", "state"), device=device, num_nominal=2, num_aux=3, horizon=4,
                              critic_minibatch=16, epochs=2)
    runner = Runner(cfg)
    runner.rollout()
    runner.algo.storage.rewards[1, 2] = float("nan")
    metrics = runner.update()
    assert int(metrics["sdpg/non_finite_samples"]) == 3
    assert all(torch.isfinite(p).all() for p in runner.algo.actor.parameters())
    assert torch.isfinite(runner.algo.mean_target).all() and torch.isfinite(metrics["losses/actor"])
    # The critic regresses onto the finite returns only: neither its loss nor its weights turn NaN.
    assert torch.isfinite(metrics["losses/critic"])
    assert all(torch.isfinite(p).all() for p in runner.algo.critic.parameters())


@pytest.mark.parametrize("states, largest, fewest, expected", [
    (131072, 4096, 8, 4096),   # the paper's sizes: the authors' 4096 (32 minibatches)
    (8192, 4096, 8, 1024),     # N=16, M=15, H=32: eight steps per pass
    (8193, 4096, 8, 1025),     # rounds up: still eight steps
    (5, 4096, 8, 1),           # never below one sample
    (64, 16, 1, 16),           # one minibatch asked for: the cap still holds
])
def test_critic_minibatch_size(states, largest, fewest, expected):
    assert critic_minibatch_size(states, largest, fewest) == expected
    assert -(-states // expected) >= min(fewest, states) or expected == largest
