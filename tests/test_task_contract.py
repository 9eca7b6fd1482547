"""The task contract, for every registered task: one signature for each hook, the kernel against
its NumPy reference on a simulator's stepped states (C MuJoCo's kinematics of the same states), and
task buffers that belong to their simulator."""

import inspect

import mujoco
import numpy as np
import pytest
import torch

from helpers import TOL, check_reference
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import task_class, task_names
from sdpg_warp.tasks.base import Task, TaskInputs

HOOKS = ("evaluate", "sense", "measure", "before_evaluate", "after_step", "reset_scene", "reference",
         "reference_sense", "reference_reward")
"""The methods every task shares with :class:`Task`, with its signature."""
CONTRACT_TOL = {"allegro_hand": dict(rtol=1e-4, atol=1e-4), "shadow_hand": dict(rtol=1e-4, atol=1e-4),
                "aloha_insertion": dict(rtol=1e-5, atol=2e-5)}
"""Tasks whose kernels read mujoco_warp's float32 kinematics (the hands' fingertips) or long
kinematic chains compare at the tolerances of their own tests; the rest at ``TOL``."""


@pytest.fixture(scope="module")
def sims(device):
    """``sims(task)``: a simulator of the task (N=2, M=1), built once per module."""
    cache = {}

    def get(task: str) -> BatchedSim:
        if task not in cache:
            cache[task] = BatchedSim(task, 2, 1, device=device, seed=0)
        return cache[task]

    return get


@pytest.mark.parametrize("task", task_names())
def test_every_hook_has_the_contract_signature(task):
    cls = task_class(task)
    for hook in HOOKS:
        expected = list(inspect.signature(getattr(Task, hook)).parameters)
        assert list(inspect.signature(getattr(cls, hook)).parameters) == expected, f"{task}.{hook}"


@pytest.mark.parametrize("task", task_names())
def test_kernel_matches_the_reference_on_stepped_states(sims, device, task):
    """After steps of random actions: every world's obs, terms, reward and termination equal the
    NumPy reference on the same inputs, read from C MuJoCo (body and site positions by its
    kinematics of the float32 state) and the simulator's contact flags."""
    sim = sims(task)
    sim.reset()
    rng = np.random.default_rng(0)
    for _ in range(3):
        sim.step(torch.as_tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32,
                                 device=sim.qpos.device))
    sim.task.sense(sim.d, sim.task_inputs.contacts)
    state = {name: getattr(sim.task_inputs, name).numpy().astype(np.float64)
             for name in ("qpos", "qvel", "action", "mocap_pos", "mocap_quat")}
    contacts = sim.task_inputs.contacts.numpy()
    mjd = mujoco.MjData(sim.mjm)
    worlds = []
    for w in range(sim.num_worlds):
        mjd.qpos[:], mjd.qvel[:] = state["qpos"][w], state["qvel"][w]
        mjd.mocap_pos[:], mjd.mocap_quat[:] = state["mocap_pos"][w], state["mocap_quat"][w]
        mujoco.mj_kinematics(sim.mjm, mjd)
        worlds.append(TaskInputs(state["qpos"][w], state["qvel"][w], state["action"][w], state["mocap_pos"][w],
                                 state["mocap_quat"][w], mjd.xpos.copy(), mjd.site_xpos.copy(), contacts[w]))
    tol = CONTRACT_TOL.get(task, TOL)
    obs, terms, reward, terminated = check_reference(sim.task, sim.task_inputs, device, worlds=worlds, tol=tol,
                                                     reward_tol=tol)
    assert np.isfinite(obs).all() and np.isfinite(terms).all() and np.isfinite(reward).all()
    assert contacts.shape == (sim.num_worlds, sim.task.num_contact_flags)


@pytest.mark.task("go2_terrain")
def test_two_simulators_of_one_size_keep_their_own_task_buffers(sims, device):
    """Two go2_terrain simulators of the same size: each senses its own contacts into its own
    buffer, so stepping one leaves the other's flags (read by its next after_step) as they were."""
    a = sims("go2_terrain")
    b = BatchedSim("go2_terrain", 2, 1, device=device, seed=1)
    assert a.task_inputs.contacts.ptr != b.task_inputs.contacts.ptr
    a.reset()
    b.reset()
    zero = torch.zeros(a.num_worlds, a.num_actions, device=a.qpos.device)
    for _ in range(10):
        a.step(zero)  # standing on the terrain
    standing = a.task_inputs.contacts.numpy().copy()
    assert standing.any()
    b.qpos[:, 2] += 1.0  # lifted: no contact at the next step
    b.step(zero)
    assert not b.task_inputs.contacts.numpy().any()
    np.testing.assert_array_equal(a.task_inputs.contacts.numpy(), standing)


def test_the_world_state_list_is_what_the_auxiliary_copy_takes(sims):
    """The simulator's one list of per-world state: the arrays that follow the nominal are the
    copy kernel's arguments, in order, and the checkpoint holds every array of the list."""
    from sdpg_warp.kernels.reset import _copy_nominal_state

    sim = sims("hopper")
    follows = [name for name, _, follows in sim._world_state() if follows]
    args = [arg.label for arg in _copy_nominal_state.adj.args]
    assert args == ["group_size_in", "mask_in"] + [f"{n}_in" for n in follows] + [f"{n}_out" for n in follows]
    assert set(sim.state_dict()) == {name for name, _, _ in sim._world_state()}
