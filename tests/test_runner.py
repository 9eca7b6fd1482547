"""Runner internals: captured vs eager rollout, NVTX range structure, the estimate's inputs."""

import dataclasses

import torch

from sdpg_warp import profiling
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner


def _tiny(device, **overrides):
    settings = dict(device=device, num_nominal=2, num_aux=3, horizon=4, epochs=2, image_size=16,
                    critic_minibatch=16, obs="rgb")
    return dataclasses.replace(task_defaults("hopper"), **{**settings, **overrides})


def test_captured_rollout_equals_eager(device):
    captured = Runner(_tiny(device, graph=True))
    eager = Runner(_tiny(device, graph=False))
    for _ in range(2):
        for runner in (captured, eager):
            runner.sim.fresh[0] = True  # the first render of the epoch refills nominal 0's stack
            runner.rollout()
            runner.update()
            runner.epoch += 1
        for field in ("obs", "states", "actions", "eps", "mean", "rewards", "dones", "next_values"):
            assert torch.equal(getattr(captured.storage, field), getattr(eager.storage, field)), field
        assert torch.equal(captured._mean_target, eager._mean_target)
        assert torch.equal(captured._logstd_target, eager._logstd_target)


def test_rollout_storage_follows_the_sdpg_data_path(device):
    runner = Runner(_tiny(device))
    runner.rollout()
    s, M = runner.storage, runner.cfg.num_aux
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
