"""Hot-path invariants of an epoch (rollout and update), after a warm-up epoch.

What makes the GPU path fast can be checked on the CPU: no Warp memory allocation, no host read of
a device value (``.item()``, ``float()``, ``.tolist()``, ``.numpy()`` of a tensor or a Warp array,
Warp synchronizations), and a fixed small number of eager Warp launches per environment step, the
rest being replays of captured graphs. Logging, which reads the metrics once per epoch, is outside
the epoch measured here.

Adam's step counters are host scalars by design (Torch keeps them on the CPU unless the optimizer is
fused or capturable; sdpg_warp uses fused Adam on CUDA): their reads are not device reads and are
excluded by identity.
"""

import contextlib
import dataclasses

import pytest
import torch
import warp as wp
from torch.utils._python_dispatch import TorchDispatchMode

from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner

EAGER_LAUNCHES_PER_STEP = 1
"""Per environment step: the perturbation sampler (the physics step, the episode resets and the
render are graph replays)."""
EAGER_LAUNCHES_PER_EPOCH = 3
"""Per epoch: the auxiliary-from-nominal branch, the TD(lambda) returns, the estimator."""


class _HostReads(TorchDispatchMode):
    """Counts Torch ops that read a tensor's value to the host."""

    def __init__(self, ignored_ids):
        super().__init__()
        self.ignored = ignored_ids
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in (torch.ops.aten._local_scalar_dense.default, torch.ops.aten.item.default):
            if id(args[0]) not in self.ignored:
                self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _counting(monkeypatch, ignored_ids):
    counts = {"alloc": 0, "launch": 0, "graph": 0, "host": []}
    from warp._src import context as wp_context

    for cls in (wp_context.CpuDefaultAllocator, wp_context.CudaDefaultAllocator, wp_context.CudaMempoolAllocator):
        real = cls.allocate

        def allocate(self, size, _real=real):
            counts["alloc"] += 1
            return _real(self, size)
        monkeypatch.setattr(cls, "allocate", allocate)

    def wrap(owner, name, key):
        real = getattr(owner, name)

        def wrapped(*args, **kwargs):
            if key == "host":
                counts["host"].append(name)
            else:
                counts[key] += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(owner, name, wrapped)

    wrap(wp, "launch", "launch")
    wrap(wp_context.Launch, "launch", "launch")  # recorded launches (ops.sample_actions' replays)
    wrap(wp, "capture_launch", "graph")
    for name in ("synchronize", "synchronize_device", "synchronize_stream"):
        wrap(wp, name, "host")
    for name in ("numpy", "list"):
        wrap(wp.array, name, "host")
    for name in ("numpy", "tolist", "cpu"):
        wrap(torch.Tensor, name, "host")
    mode = _HostReads(ignored_ids)
    with mode:
        yield counts
    counts["host"] += mode.reads


RANDOMIZED = ("friction=0.5,1.25", "added_mass=-0.1,0.3", "com_offset=-0.01,0.01", "kp_scale=0.8,1.2",
              "damping_scale=0.5,2", "body=torso", "push_interval_s=0.02", "push_velocity=1")
"""Domain randomization on (ant: a free root to push, a push every 2 steps): draws and pushes are in
the captured graphs, so the invariants are the same."""
PIXELS = ("added_mass=-0.1,0.3", "body=torso", "rgba_scale=0.5,1.5", "light_pos=-0.1,0.1",
          "light_diffuse_scale=0.5,1.5", "camera_pos=-0.01,0.01", "camera_rot=-0.05,0.05", "camera_fovy=-2,2")
"""Visual randomization on (hopper's camera follows the centre of mass, so the renderer also gathers the
nominal masses): the draws are in the captured render graph."""


@pytest.mark.parametrize("task,obs,randomize_set", [("hopper", "state", ()), ("hopper", "rgb", ()),
                                                    ("ant", "state", RANDOMIZED), ("hopper", "rgb", PIXELS),
                                                    ("hopper", "depth", ("depth_noise=0.01,0.05", "camera_fovy=-2,2"))])
def test_epoch_has_no_allocations_host_reads_or_stray_launches(task, obs, randomize_set, device, monkeypatch):
    cfg = dataclasses.replace(task_defaults(task), device=device, obs=obs, num_nominal=2, num_aux=3, horizon=4,
                              image_size=16, critic_minibatch=16, graph=True, sync_timing=False, epochs=3,
                              randomize=bool(randomize_set), randomize_set=randomize_set)
    runner = Runner(cfg)
    runner.rollout()  # warm-up: kernels compiled, optimizer state and allocator caches filled
    runner.update()
    runner.epoch += 1
    steps = [state["step"] for opt in (runner.algo.actor_optimizer, runner.algo.critic_optimizer,
                                       runner.algo.alpha_optimizer) if opt is not None
             for state in opt.state.values()]
    with _counting(monkeypatch, {id(step) for step in steps}) as counts:
        runner.rollout()
        runner.update()
    assert counts["alloc"] == 0, "no Warp allocation in an epoch"
    assert counts["host"] == [], "no host read of a device value in an epoch"
    H = cfg.horizon
    assert counts["launch"] == EAGER_LAUNCHES_PER_STEP * H + EAGER_LAUNCHES_PER_EPOCH
    graphs_per_step = 2 if obs == "state" else 3  # step, episode resets (+ render)
    assert counts["graph"] == graphs_per_step * H


@pytest.mark.parametrize("obs", ["state", "rgb"])
def test_ppo_epoch_has_no_allocations_or_host_reads(obs, device, monkeypatch):
    """PPO's epoch: the same invariants; its only eager launch is the returns kernel of its GAE (the
    KL-adaptive learning rate stays on the device)."""
    cfg = dataclasses.replace(task_defaults("hopper", obs, "ppo"), device=device, num_envs=4, horizon=4,
                              image_size=16, ppo_minibatches=2, ppo_epochs=2, graph=True, sync_timing=False)
    runner = Runner(cfg)
    runner.rollout()
    runner.update()
    runner.epoch += 1
    steps = [state["step"] for state in runner.algo.optimizer.state.values()]
    with _counting(monkeypatch, {id(step) for step in steps}) as counts:
        runner.rollout()
        runner.update()
    assert counts["alloc"] == 0, "no Warp allocation in an epoch"
    assert counts["host"] == [], "no host read of a device value in an epoch"
    assert counts["launch"] == 1
    assert counts["graph"] == (2 if obs == "state" else 3) * cfg.horizon
