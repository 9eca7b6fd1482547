"""What the simulator tells about its physics: overflow bits kept for the epoch (resets do not wipe
them), the solver's iterations, mujoco_warp's options (no in-graph printing, the capture mode), and
the console lines the Runner prints from them."""

import dataclasses

import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from conftest import assert_same_physics
from sdpg_warp import device as device_module
from sdpg_warp import sim as sim_module
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner
from sdpg_warp.sim import BatchedSim, overflow_warnings
from sdpg_warp.tasks.hopper import Hopper

NEFC = int(mjw.OverflowType.NEFC)


@dataclasses.dataclass(frozen=True)
class TightHopper(Hopper):
    """The hopper with room for 2 constraint rows per world: pushed 0.3 m into the floor (about
    12 rows of contacts) it overflows ``max_constraints`` at once."""

    max_constraints = 2


def _zeros(sim):
    return torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device)


def test_overflow_of_a_world_that_blew_up_survives_its_reset(device):
    sim = BatchedSim(TightHopper(), 2, 1, device=device, graph=True)
    sim.reset()
    sim.qpos[:, 1] -= 0.3  # rootz: into the floor
    sim.qvel[1, 0] = 1.0e6  # world 1 explodes in this step: the step itself resets it
    _, terminated, _ = sim.step(_zeros(sim))
    assert terminated[1]
    assert sim.overflow[1] == 0, "mujoco_warp cleared world 1's bits when the step reset it"
    assert sim.overflow_seen[1] & NEFC, "the epoch's copy kept them"
    sim.reset(torch.tensor([True, False, False, False], device=sim.qpos.device))
    stats = sim.pop_physics_stats()
    assert stats["overflow"]["NEFC"] == 4, "every world dropped rows, the two reset ones included"
    again = sim.pop_physics_stats()
    assert again["overflow"] == {} and again["solver_niter_max"] == 0, "popping clears"
    assert int(sim.overflow.abs().sum()) == 0 and int(sim.overflow_seen.abs().sum()) == 0


def test_solver_iterations_are_counted_per_physics_step(device):
    sim = BatchedSim("hopper", 2, 1, device=device)
    sim.reset()
    niter = []
    for _ in range(3):
        sim.step(_zeros(sim))
        niter.append(wp.to_torch(sim.d.solver_niter).clone())  # the last physics step's only
    stats = sim.pop_physics_stats()
    last = torch.stack(niter)
    assert stats["solver_niter_max"] >= int(last.max()) >= 1
    assert 0.0 < stats["solver_niter_mean"] <= stats["solver_niter_max"]
    assert stats["overflow"] == {}


def test_an_iteration_cap_that_is_reached_is_reported(device):
    @dataclasses.dataclass(frozen=True)
    class OneIteration(Hopper):
        solver_iterations = 1

    sim = BatchedSim(OneIteration(), 2, 1, device=device, graph=True)
    assert sim.m.opt.iterations == 1 and sim.m.opt.ls_iterations == Hopper.ls_iterations
    sim.reset()
    for _ in range(3):
        sim.step(_zeros(sim))
    stats = sim.pop_physics_stats()
    assert stats["solver_niter_max"] == 1 and stats["overflow"].get("ITERATIONS", 0) > 0
    (line,) = overflow_warnings(stats["overflow"], sim.task, sim.num_worlds)
    assert line.startswith("note: task hopper") and "raise solver_iterations=1" in line


def test_mujoco_warp_prints_nothing_from_the_graph_and_is_deterministic_on_request(device):
    sim = BatchedSim("pointmass", 1, 1, device=device)
    assert sim.m.opt.warn_overflow == 0
    assert sim.m.opt.deterministic == 0
    strict = BatchedSim("pointmass", 1, 1, device=device, deterministic=True)
    assert strict.m.opt.deterministic == int(mjw.DeterminismType.ALL), "atomics included, not only bit 0"


def test_without_conditional_graph_nodes_the_captured_solver_loop_is_unrolled_alike(device, monkeypatch):
    # A CUDA driver older than 12.4, as far as the simulator can tell: the step still captures,
    # with the solver's loop unrolled to its cap, and gives the same numbers.
    early_exit = BatchedSim("hopper", 2, 1, device=device, seed=3, graph=True)
    monkeypatch.setattr(sim_module, "conditional_graphs", lambda device: False)
    unrolled = BatchedSim("hopper", 2, 1, device=device, seed=3, graph=True)
    assert early_exit.m.opt.graph_conditional and not unrolled.m.opt.graph_conditional
    assert "the solver stops when every world converged" in early_exit.capture_mode
    assert f"always runs {Hopper.solver_iterations} iterations" in unrolled.capture_mode
    rng = np.random.default_rng(0)
    for sim in (early_exit, unrolled):
        sim.reset()
    for _ in range(4):
        actions = torch.as_tensor(rng.uniform(-1, 1, (4, early_exit.num_actions)), dtype=torch.float32,
                                  device=early_exit.qpos.device)
        early_exit.step(actions)
        unrolled.step(actions)
        assert_same_physics(unrolled.qpos, early_exit.qpos, device, "hopper")
        assert_same_physics(unrolled.qvel, early_exit.qvel, device, "hopper")


def test_conditional_graphs_follow_warps_cuda_support(monkeypatch):
    assert device_module.conditional_graphs("cpu")
    for supported in (True, False):
        monkeypatch.setattr(wp, "is_conditional_graph_supported", lambda: supported)
        assert device_module.conditional_graphs("cuda:0") is supported
        assert device_module.conditional_graphs("cpu")


def test_pool_bits_name_the_pool_and_world_bits_count_worlds():
    lines = overflow_warnings({"NARROWPHASE": 8, "NEFC": 3, "HFIELD": 1}, Hopper(), 8)
    assert len(lines) == 3
    nefc, narrow, hfield = lines  # in bit order
    assert nefc.startswith("warning: task hopper") and "NEFC overflow in 3 of 8 worlds" in nefc
    assert f"raise max_constraints={Hopper.max_constraints}" in nefc
    assert "the contact pool all 8 worlds share" in narrow and f"raise max_contacts={Hopper.max_contacts}" in narrow
    assert "HFIELD overflow in 1 of 8 worlds" in hfield and "heightfield" in hfield
    assert overflow_warnings({}, Hopper(), 8) == []


def test_runner_logs_overflow_bits_and_solver_iterations(device, capsys):
    cfg = dataclasses.replace(task_defaults("hopper"), device=device, obs="state", num_nominal=2, num_aux=1,
                              horizon=2, epochs=1, critic_minibatch=4)
    runner = Runner(cfg)
    runner.sim.overflow[1] = NEFC  # world 1 dropped constraint rows (mujoco_warp's bits stay until a reset)
    runner.train()
    out = capsys.readouterr().out
    assert "warning: task hopper, since the last log: NEFC overflow in 1 of 4 worlds" in out
    last = runner.history[-1]
    assert last["perf/solver_niter_max"] >= 1 and last["perf/solver_niter_mean"] > 0


def test_accumulate_kernel_against_numpy(device):
    from sdpg_warp.kernels import step as step_kernels

    rng = np.random.default_rng(0)
    W = 37
    overflow = rng.integers(0, 1 << 12, W).astype(np.int32)
    niter = rng.integers(0, 50, W).astype(np.int32)
    seen, niter_max, niter_sum = (rng.integers(0, 1 << 12, W).astype(np.int32), rng.integers(0, 50, W).astype(np.int32),
                                  rng.integers(0, 1000, W).astype(np.int32))
    arrays = [wp.array(a, dtype=int, device=device) for a in (overflow, niter, seen, niter_max, niter_sum)]
    outs = [wp.full(W, -1, dtype=int, device=device) for _ in range(3)]  # every element must be written
    wp.launch(step_kernels._accumulate_physics_stats, dim=W, inputs=arrays, outputs=outs, device=device)
    np.testing.assert_array_equal(outs[0].numpy(), seen | overflow)
    np.testing.assert_array_equal(outs[1].numpy(), np.maximum(niter_max, niter))
    np.testing.assert_array_equal(outs[2].numpy(), niter_sum + niter)
