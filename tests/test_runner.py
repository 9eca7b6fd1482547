"""Runner internals: captured vs eager rollout, NVTX range structure, the estimate's inputs."""

import dataclasses

import torch

from conftest import bitwise_task
from sdpg_warp import profiling
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner


def _tiny(device, **overrides):
    # Bitwise comparisons on CUDA need mujoco_warp's and Torch's deterministic modes.
    settings = dict(device=device, deterministic=device != "cpu", num_nominal=2, num_aux=3, horizon=4, epochs=2, image_size=16,
                    critic_minibatch=16, obs="rgb")
    return dataclasses.replace(task_defaults("hopper"), **{**settings, **overrides})


def test_captured_rollout_equals_eager(device):
    # Bitwise through rendering and the networks: a task whose physics is reproducible on CUDA too.
    captured = Runner(_tiny(device, graph=True, task=bitwise_task(device)))
    eager = Runner(_tiny(device, graph=False, task=bitwise_task(device)))
    for _ in range(2):
        for runner in (captured, eager):
            runner.sim.fresh[0] = True  # the first render of the epoch refills nominal 0's stack
            runner.rollout()
            runner.update()
            runner.epoch += 1
        for field in ("obs", "states", "actions", "eps", "mean", "rewards", "dones", "next_values"):
            assert torch.equal(getattr(captured.algo.storage, field), getattr(eager.algo.storage, field)), field
        assert torch.equal(captured.algo.mean_target, eager.algo.mean_target)
        assert torch.equal(captured.algo.logstd_target, eager.algo.logstd_target)


def test_rollout_storage_follows_the_sdpg_data_path(device):
    runner = Runner(_tiny(device))
    runner.rollout()
    s, M = runner.algo.storage, runner.cfg.num_aux
    assert (s.eps[:: M + 1] == 0).all(), "nominal worlds are never perturbed"
    assert torch.equal(s.actions[:: M + 1], s.mean), "a nominal world acts with the actor's mean"
    assert (s.dones[:, -1] == 1).all(), "the horizon ends every trajectory"
    assert torch.isfinite(s.rewards).all() and torch.isfinite(s.next_values).all()
    # Each epoch starts with every auxiliary world on its nominal's state.
    first = s.states[:, 0].view(runner.cfg.num_nominal, M + 1, -1)
    assert (first == first[:, :1]).all()


def test_nvtx_ranges_are_balanced_and_nested(device):
    runner = Runner(_tiny(device, epochs=1, log_every=1))
    events = []
    profiling.set_range_hook(lambda event, name: events.append((event, name)))
    try:
        runner.train()
    finally:
        profiling.set_range_hook(None)
    stack, parents = [], {}
    for event, name in events:
        if event == "push":
            parents.setdefault(name, set()).add(stack[-1] if stack else None)
            stack.append(name)
        else:
            assert stack.pop() == name, "ranges must close in order"
    assert not stack
    assert parents["epoch"] == {None}
    assert parents["rollout"] == {"epoch"}
    assert parents["step"] == {"rollout"}
    assert {"render", "actor", "physics"} <= {name for name, p in parents.items() if "step" in p}
    assert parents["sim.step"] == {"physics"}
    for op in ("sample_actions", "td_lambda_returns", "sdpg_targets"):
        assert op in parents, op
    assert {"estimate", "actor_update", "critic_update"} <= {n for n, p in parents.items() if "epoch" in p}


def test_auxiliaries_of_an_ended_nominal_are_done_at_that_step(device):
    # Nominal 0 terminates at t = 1; its auxiliaries move onto its new episode, so their returns
    # must end there too (no return runs across two episodes).
    runner = Runner(_tiny(device, obs="state"))
    sim, M, calls = runner.sim, runner.cfg.num_aux, []
    step = sim.step

    def step_with_termination(*args, **kwargs):
        out = step(*args, **kwargs)
        calls.append(None)
        if len(calls) == 2:
            sim.terminated[0] = True
        return out

    sim.step = step_with_termination
    runner.rollout()
    dones = runner.algo.storage.dones
    assert torch.all(dones[: M + 1, 1] == 1.0), "the whole group of nominal 0 ends at t = 1"
    own = (dones[M + 1:, 1] == 1.0)  # the other group ends only where its own worlds did
    assert not own.all()


def test_normalizers_are_frozen_through_the_epoch(device):
    # Rollout, targets and both updates see one normalization; the epoch's data arrive after.
    runner = Runner(_tiny(device, obs="state"))
    algo, seen = runner.algo, {}
    counts = lambda: (algo.actor.obs_rms.count.item(), algo.critic.obs_rms.count.item())  # noqa: E731
    update_actor, update_critic = algo.update_actor, algo.update_critic
    algo.update_actor = lambda *a: (seen.setdefault("actor", counts()), update_actor(*a))[1]
    algo.update_critic = lambda *a: (seen.setdefault("critic", counts()), update_critic(*a))[1]
    runner.rollout()
    before = counts()
    runner.update()
    assert seen["actor"] == before and seen["critic"] == before
    N, M, H = runner.cfg.num_nominal, runner.cfg.num_aux, runner.cfg.horizon
    assert counts() == (before[0] + N * H, before[1] + N * (M + 1) * H)


def test_contact_overflow_is_reported_at_logging_time(device, capsys):
    runner = Runner(_tiny(device, obs="state", epochs=1))
    runner.sim.overflow[1] = 1 << 3  # mujoco_warp's NARROWPHASE bit: contacts dropped in world 1
    runner.train()
    out = capsys.readouterr().out
    assert "warning: task hopper, since the last log: NARROWPHASE overflow in the contact pool all 8 worlds" in out
    assert "raise max_contacts=" in out
    assert int(runner.sim.overflow.abs().sum()) == 0, "flags are cleared once reported"
    assert int(runner.sim.overflow_seen.abs().sum()) == 0
