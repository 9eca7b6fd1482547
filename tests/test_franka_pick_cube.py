"""franka_pick_cube: the task kernel against its NumPy reference (C MuJoCo's kinematics) on
constructed and random states, the reached-flag memory, the cube and target draws and their group
identity, the servos, the wrist camera against mj_ray, and a short training run from pixels and
proprioception.

One simulator (N=2, M=3) is built per module; tests that move the cube or the arm set them first.
The Panda is read from MENAGERIE_ROOT (tests/conftest.py; skipped without it).
"""

import os
import pathlib
import types

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import train
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import franka_pick_cube as fpc
from sdpg_warp.tasks import make_task
from helpers import check_measure_reference, check_reference, measure_rows, reference_rays, task_inputs

TASK = "franka_pick_cube"
NUM_NOMINAL, NUM_AUX = 2, 3
TERM = {name: k for k, name in enumerate(fpc.WEIGHTS)}
"""Index of each reward term."""

pytestmark = pytest.mark.skipif(not (pathlib.Path(os.environ["MENAGERIE_ROOT"]) / fpc.ROBOT).is_dir(),
                                reason=f"Menagerie robot {fpc.ROBOT} not under MENAGERIE_ROOT")


@pytest.fixture(scope="module")
def sim(device):
    """The module's simulator, freshly reset."""
    sim = BatchedSim(TASK, NUM_NOMINAL, NUM_AUX, device=device, seed=0)
    sim.reset()
    return sim


def _mocap(sim) -> np.ndarray:
    return sim.d.mocap_pos.numpy().copy()


def _gripper_point(mjm, qpos, data=None) -> np.ndarray:
    """The gripper point of the arm pose ``qpos`` from C MuJoCo's kinematics (in ``data`` if given)."""
    data = mujoco.MjData(mjm) if data is None else data
    data.qpos[:] = qpos
    mujoco.mj_kinematics(mjm, data)
    hand = data.xmat[mjm.body("hand").id].reshape(3, 3)
    fingers = [data.xpos[mjm.body(name).id] for name in fpc.FINGERS]
    return 0.5 * (fingers[0] + fingers[1]) + hand @ np.array(fpc.GRIPPER_OFFSET)


def _reach(mjm, point, iterations=60) -> np.ndarray:
    """qpos whose gripper point is at ``point``, fingers pointing down (damped least squares from
    the default pose; finite-difference Jacobian)."""
    qpos = fpc.start_qpos(mjm)
    data = mujoco.MjData(mjm)
    hand = mjm.body("hand").id

    def error(q):
        grip = _gripper_point(mjm, q, data)
        down = data.xmat[hand].reshape(3, 3)[:, 2]
        return np.concatenate([point - grip, np.cross(down, [0.0, 0.0, -1.0])])

    for _ in range(iterations):
        e = error(qpos)
        jac = np.zeros((6, fpc.NUM_ARM))
        for j in range(fpc.NUM_ARM):
            step = qpos.copy()
            step[j] += 1e-6
            jac[:, j] = (e - error(step)) / 1e-6
        qpos[:fpc.NUM_ARM] += np.linalg.solve(jac.T @ jac + 1e-4 * np.eye(fpc.NUM_ARM), jac.T @ e)
    assert np.linalg.norm(error(qpos)[:3]) < 1e-4
    return qpos


def _check_reference(task, qpos, qvel, action, mocap, device):
    """Kernel outputs = NumPy reference on the float32 inputs the kernel saw; returns the kernel's."""
    inputs = task_inputs(task, fpc._reference_model(), qpos, qvel, action, mocap_pos=mocap)
    obs, terms, _, terminated = check_reference(task, inputs, device)
    return obs, terms, terminated


# ------------------------------------------------------------------------------ model and step


def test_model_builds_and_steps_without_nan(sim):
    mjm = sim.mjm
    assert sim.num_actions == fpc.NUM_ACTIONS and sim.state_dim == 57 and sim.task.proprio_dim == 38
    lo, hi = mjm.actuator_ctrlrange[:fpc.NUM_ARM].T
    np.testing.assert_allclose(0.5 * (lo + hi), fpc.DEFAULT_POSE, atol=1e-6)
    np.testing.assert_allclose(0.5 * (hi - lo), fpc.ARM_ACTION_SCALE, atol=1e-6)
    assert mjm.body_mocapid[mjm.body("target").id] == fpc.TARGET_BODY
    assert not any(mjm.geom_bodyid[g] in (mjm.body("target").id, mjm.body("memory").id) for g in range(mjm.ngeom))
    rng = np.random.default_rng(0)
    for _ in range(20):
        actions = torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32)
        reward, _, _ = sim.step(actions)
        assert torch.isfinite(reward).all() and torch.isfinite(sim.states).all()
        assert torch.isfinite(sim.qpos).all() and torch.isfinite(sim.qvel).all()
        sim.reset_done_episodes()
    assert sim.pop_overflow() == 0


def test_servos_hold_the_default_pose_and_the_cube_rests(sim):
    sim.reset()
    zero = torch.zeros(sim.num_worlds, sim.num_actions)
    for _ in range(40):
        sim.step(zero)
        assert not (sim.terminated | sim.truncated).any()
    qpos = sim.qpos.cpu().numpy()
    np.testing.assert_allclose(qpos[:, :fpc.NUM_ARM], np.tile(fpc.DEFAULT_POSE, (sim.num_worlds, 1)), atol=0.01)
    np.testing.assert_allclose(qpos[:, fpc.NUM_ARM:fpc.NUM_ARM + 2], 0.5 * fpc.FINGER_OPEN, atol=1e-3)  # action 0
    np.testing.assert_allclose(qpos[:, fpc.CUBE_QPOS + 2], fpc.CUBE_HALF, atol=1e-3)
    terms = sim.reward_terms.cpu().numpy()
    assert np.all(terms[:, TERM["lift"]] == 0.0) and np.all(terms[:, TERM["no_floor_collision"]] == 0.25)


# ------------------------------------------------------------------------------- task kernel


def test_reward_and_termination_match_reference_on_constructed_states(sim, device):
    """Cube on the table vs lifted in the closed gripper; at the target vs not; reached earlier;
    the cube fallen off the table or out of the workspace; the hand in the table; a non-finite state."""
    task, mjm = sim.task, sim.mjm
    rng = np.random.default_rng(3)
    grip = _gripper_point(mjm, fpc.start_qpos(mjm))
    states = {}

    def state(name, qpos=None, cube=(0.6, 0.05, fpc.CUBE_HALF), target=(0.6, 0.0, 0.32), reached=0.0, fingers=None):
        q = (fpc.start_qpos(mjm) if qpos is None else qpos).copy()
        if fingers is not None:
            q[fpc.NUM_ARM:fpc.NUM_ARM + 2] = fingers
        q[fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = cube
        mocap = np.zeros((mjm.nmocap, 3))
        mocap[fpc.TARGET_BODY] = target
        mocap[fpc.MEMORY_BODY, 0] = reached
        states[name] = (q, mocap)

    state("on_table")
    state("on_table_moved", cube=(0.55, -0.08, fpc.CUBE_HALF))
    state("lifted_grasped", cube=grip, target=(0.5, -0.1, 0.25), fingers=0.02)
    state("at_target", cube=grip, target=grip, fingers=0.02)
    state("reached_open", reached=1.0)
    state("fallen", cube=(0.6, 0.05, -0.1))
    state("outside", cube=(1.2, 0.0, fpc.CUBE_HALF))
    state("hand_in_table", qpos=_reach(mjm, np.array([0.65, 0.0, -0.005])), cube=(0.45, -0.1, fpc.CUBE_HALF))
    state("hand_above_table", qpos=_reach(mjm, np.array([0.65, 0.0, 0.06])), cube=(0.45, -0.1, fpc.CUBE_HALF))
    state("nan")
    names = list(states)
    qpos = np.stack([states[n][0] for n in names])
    mocap = np.stack([states[n][1] for n in names])
    qpos[names.index("nan"), 3] = np.nan
    qvel = rng.normal(0.0, 0.5, (len(names), mjm.nv))
    action = rng.uniform(-1.0, 1.0, (len(names), mjm.nu))
    on_table, moved = names.index("on_table"), names.index("on_table_moved")
    qvel[moved], action[moved] = qvel[on_table], action[on_table]
    obs, terms, terminated = _check_reference(task, qpos, qvel, action, mocap, device)
    t = {name: terms[i] for i, name in enumerate(names)}
    done = {name: terminated[i] for i, name in enumerate(names)}

    assert t["on_table"][TERM["lift"]] == 0 and t["on_table"][TERM["grasp"]] == 0
    assert t["on_table"][TERM["box_target"]] == 0, "not reached: the cube-to-target term is gated off"
    assert t["lifted_grasped"][TERM["lift"]] == 3.0 and t["lifted_grasped"][TERM["grasp"]] == 1.0
    assert t["lifted_grasped"][TERM["gripper_box"]] == pytest.approx(4.0, abs=1e-3)
    assert 0 < t["lifted_grasped"][TERM["box_target_fine"]] < 0.5 * t["at_target"][TERM["box_target_fine"]]
    for name, weight in (("box_target", 8.0), ("box_target_lifted", 16.0), ("box_target_fine", 5.0)):
        assert t["at_target"][TERM[name]] == pytest.approx(weight, abs=1e-4), name
    assert t["reached_open"][TERM["box_target"]] > 0 and t["reached_open"][TERM["grasp"]] == 0, "fingers open"
    assert not done["on_table"] and not done["lifted_grasped"] and not done["at_target"]
    assert done["fallen"] and done["outside"] and done["nan"]
    assert done["hand_in_table"] and t["hand_in_table"][TERM["no_floor_collision"]] == 0
    assert not done["hand_above_table"] and t["hand_above_table"][TERM["no_floor_collision"]] == 0.25
    np.testing.assert_array_equal(obs[names.index("nan")], 0.0)
    # The actor's part holds no cube state: moving the cube changes only the critic's part.
    np.testing.assert_array_equal(obs[on_table, :fpc.PROPRIO_DIM], obs[moved, :fpc.PROPRIO_DIM])
    assert not np.allclose(obs[on_table, fpc.PROPRIO_DIM:], obs[moved, fpc.PROPRIO_DIM:])


def test_metrics_flag_lifted_and_placed_cubes_for_the_rest_of_the_episode(sim, device):
    """Hand-built states: the cube on the table; held 5 cm up (lifted: above z0 + 4 cm); at the
    target (placed), 1.9 cm and 2.1 cm from it (placed within 2 cm only); back on the table after
    both flags were set (they stay), and the same on an episode's first step (they start at 0); a
    non-finite state keeps them."""
    task, mjm = sim.task, sim.mjm
    target = np.array([0.6, 0.0, 0.32])
    cubes = [(0.6, 0.05, fpc.CUBE_HALF), (0.6, 0.05, fpc.CUBE_HALF + 0.05), target, target + [0.019, 0.0, 0.0],
             target + [0.0, 0.0, 0.021], (0.6, 0.05, fpc.CUBE_HALF), (0.6, 0.05, fpc.CUBE_HALF),
             (0.6, 0.05, fpc.CUBE_HALF)]
    num = len(cubes)
    qpos = np.tile(fpc.start_qpos(mjm), (num, 1))
    qpos[:, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = cubes
    qpos[7, 0] = np.nan
    qvel = np.zeros((num, mjm.nv))
    mocap = np.zeros((num, mjm.nmocap, 3))
    mocap[:, fpc.TARGET_BODY] = target
    episode_step = np.array([0, 0, 0, 0, 0, 9, 0, 9])
    previous = np.full((num, 2), np.inf)
    previous[5], previous[6], previous[7] = (1.0, 1.0), (1.0, 1.0), (1.0, 0.0)
    measured = measure_rows(task, device, episode_step, previous, qpos=qpos, qvel=qvel, mocap_pos=mocap)
    np.testing.assert_array_equal(measured, [[0, 0], [1, 0], [1, 1], [1, 1], [1, 0], [1, 1], [0, 0], [1, 0]])
    check_measure_reference(task, measured, episode_step, previous, *zip(qpos, qvel, mocap))


def test_random_states_match_reference(sim, device):
    """Arm poses around the default, any finger opening, cubes anywhere (some outside the workspace
    or below the table), tumbled, reached flags both ways."""
    task, mjm = sim.task, sim.mjm
    rng = np.random.default_rng(0)
    num = 24
    qpos = np.tile(fpc.start_qpos(mjm), (num, 1))
    qpos[:, :fpc.NUM_ARM] += rng.uniform(-0.8, 0.8, (num, fpc.NUM_ARM))
    qpos[:, fpc.NUM_ARM:fpc.NUM_ARM + 2] = rng.uniform(0.0, fpc.FINGER_OPEN, (num, 2))
    qpos[:, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = rng.uniform([-1.1, -1.1, -0.1], [1.1, 1.1, 0.6], (num, 3))
    quat = rng.normal(size=(num, 4))
    qpos[:, fpc.CUBE_QPOS + 3:fpc.CUBE_QPOS + 7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    qvel = rng.normal(0.0, 2.0, (num, mjm.nv))
    action = rng.uniform(-1.0, 1.0, (num, mjm.nu))
    mocap = np.zeros((num, mjm.nmocap, 3))
    mocap[:, fpc.TARGET_BODY] = rng.uniform([0.4, -0.2, 0.1], [0.8, 0.2, 0.5], (num, 3))
    mocap[:, fpc.MEMORY_BODY, 0] = rng.integers(0, 2, num)
    _, terms, terminated = _check_reference(task, qpos, qvel, action, mocap, device)
    assert 0 < terminated.sum() < num
    assert (terms[:, TERM["box_target"]] > 0).any() and (terms[:, TERM["lift"]] > 0).any()


def test_reached_flag_is_remembered_once_per_step(sim):
    """after_step sets the flag where the gripper point is within 2 cm of the cube and keeps it where
    it was set; evaluating an observation again does not touch it."""
    sim.reset()
    mjm = sim.mjm
    grip = _gripper_point(mjm, fpc.start_qpos(mjm))
    qpos = sim.qpos.cpu().numpy()
    mocap = _mocap(sim)
    qpos[:, :fpc.CUBE_QPOS] = fpc.start_qpos(mjm)[:fpc.CUBE_QPOS]
    qpos[0, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = grip + [0.0, 0.0, 0.015]  # within reach
    qpos[1, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = grip + [0.0, 0.0, 0.025]  # just outside
    mocap[2, fpc.MEMORY_BODY, 0] = 1.0  # reached before, now far
    sim.qpos.copy_(torch.tensor(qpos))
    sim.d.mocap_pos.assign(wp.array(mocap.astype(np.float32), dtype=wp.vec3, device=sim.device))
    sim._refresh_obs(sim._all)  # re-evaluating observations leaves the memory alone
    np.testing.assert_array_equal(_mocap(sim), mocap.astype(np.float32))
    sim.task.after_step(sim.d, sim.task_inputs)
    after = _mocap(sim)
    for w in range(sim.num_worlds):
        expected = sim.task.reference_after_step(qpos[w].astype(np.float32).astype(np.float64), mocap[w])
        np.testing.assert_allclose(after[w], expected, atol=1e-6, err_msg=f"world {w}")
    assert after[0, fpc.MEMORY_BODY, 0] == 1 and after[1, fpc.MEMORY_BODY, 0] == 0 and after[2, fpc.MEMORY_BODY, 0] == 1


# ------------------------------------------------------------------------------ reset draws


def test_cube_and_target_draws_follow_the_distribution(device):
    """Every masked world: the arm at the default pose, fingers open; cube x, y uniform over the start
    square and resting upright; target over its box; the flag cleared; reproducible for a (seed, reset count), different for another."""
    task = make_task(TASK)
    worlds = 512
    nq = fpc.CUBE_QPOS + 7

    def draw(count):
        d = types.SimpleNamespace(qpos=wp.array(np.full((worlds, nq), 9.0, np.float32), dtype=float, device=device),
                                  mocap_pos=wp.array(np.full((worlds, 2, 3), 9.0, np.float32), dtype=wp.vec3,
                                                     device=device))
        mask = np.ones(worlds, dtype=bool)
        mask[7] = False
        task.reset_scene(d, 3, wp.array(mask, dtype=bool, device=device),
                         wp.array(np.full(worlds, count, np.int32), dtype=int, device=device))
        return d.qpos.numpy(), d.mocap_pos.numpy(), mask

    qpos, mocap, mask = draw(1)
    assert np.all(qpos[7] == 9.0) and np.all(mocap[7] == 9.0)
    start = np.concatenate([fpc.DEFAULT_POSE, [fpc.FINGER_OPEN] * 2]).astype(np.float32)
    np.testing.assert_array_equal(qpos[mask, :fpc.CUBE_QPOS], np.tile(start, (mask.sum(), 1)))
    cube, quat, target = qpos[mask, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3], qpos[mask, fpc.CUBE_QPOS + 3:], mocap[mask, 0]
    centre = np.array(fpc.CUBE_START)
    low = centre + [-fpc.CUBE_RANGE, -fpc.CUBE_RANGE, 0.0]
    high = centre + [fpc.CUBE_RANGE, fpc.CUBE_RANGE, 0.0]
    assert np.all(cube >= low - 1e-6) and np.all(cube <= high + 1e-6)
    np.testing.assert_allclose(cube[:, 2], fpc.CUBE_HALF, atol=1e-7)
    np.testing.assert_array_equal(quat, np.tile([1.0, 0.0, 0.0, 0.0], (mask.sum(), 1)))
    t_low = centre + [-fpc.TARGET_RANGE, -fpc.TARGET_RANGE, fpc.TARGET_HEIGHT[0]]
    t_high = centre + [fpc.TARGET_RANGE, fpc.TARGET_RANGE, fpc.TARGET_HEIGHT[1]]
    assert np.all(target >= t_low - 1e-6) and np.all(target <= t_high + 1e-6)
    for values, lo, hi in ((cube[:, :2], low[:2], high[:2]), (target, t_low, t_high)):
        spread = (values - lo) / (hi - lo)  # uniform on [0, 1]: mean 1/2, variance 1/12, whole range used
        assert np.all(np.abs(spread.mean(0) - 0.5) < 5 * np.sqrt(1 / 12 / len(spread)))
        assert np.all(np.abs(spread.var(0) - 1 / 12) < 0.02) and np.all(spread.min(0) < 0.02)
    np.testing.assert_array_equal(mocap[mask, fpc.MEMORY_BODY], 0.0)
    again, again_mocap, _ = draw(1)
    np.testing.assert_array_equal(again, qpos)
    np.testing.assert_array_equal(again_mocap, mocap)
    other, _, _ = draw(2)
    assert not np.allclose(other[mask, fpc.CUBE_QPOS], qpos[mask, fpc.CUBE_QPOS])


def test_groups_share_their_nominals_cube_and_target(sim):
    sim.reset()
    qpos, mocap = sim.qpos.cpu().numpy(), _mocap(sim)
    cube = qpos[:, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3]
    assert len(np.unique(cube[:, 0])) == sim.num_worlds, "every world draws its own cube"
    sim.reset_aux_from_nominal()
    qpos, mocap = sim.qpos.cpu().numpy(), _mocap(sim)
    groups = qpos.reshape(NUM_NOMINAL, NUM_AUX + 1, -1)
    targets = mocap.reshape(NUM_NOMINAL, NUM_AUX + 1, -1, 3)
    for n in range(NUM_NOMINAL):
        for k in range(1, NUM_AUX + 1):
            np.testing.assert_array_equal(groups[n, k], groups[n, 0])
            np.testing.assert_array_equal(targets[n, k], targets[n, 0])
    assert not np.array_equal(groups[0, 0, fpc.CUBE_QPOS:], groups[1, 0, fpc.CUBE_QPOS:])
    assert not np.array_equal(targets[0, 0, fpc.TARGET_BODY], targets[1, 0, fpc.TARGET_BODY])


def test_scripted_pick_and_place_earns_every_stage(sim):
    """Joint targets from IK waypoints through the task's actions: above the cube, down, close,
    up and over to the target. Grasp and lift terms pay once it is held, and the cube ends within
    2 cm of the target with every tracking term near its weight."""
    sim.reset()
    mjm = sim.mjm
    cube, target = np.array([0.66, -0.08, fpc.CUBE_HALF]), np.array([0.54, 0.07, 0.22])  # far corners
    sim.qpos[0, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = torch.tensor(cube)
    mocap = _mocap(sim)
    mocap[0, fpc.TARGET_BODY] = target
    sim.d.mocap_pos.assign(wp.array(mocap, dtype=wp.vec3, device=sim.device))
    sim.reset_aux_from_nominal()
    lift = cube + [0.0, 0.0, 0.15]
    plan = [(cube + [0.0, 0.0, 0.12], 1.0, 50), (cube, 1.0, 50), (cube, -1.0, 30)]
    plan += [(cube + (lift - cube) * s, -1.0, 8) for s in np.linspace(0.2, 1.0, 5)]
    plan += [(lift + (target - lift) * s, -1.0, 8) for s in np.linspace(0.1, 1.0, 10)]
    plan += [(target, -1.0, 30)]
    held = []
    for point, grip, steps in plan:
        arm = (_reach(mjm, point)[:fpc.NUM_ARM] - fpc.DEFAULT_POSE) / fpc.ARM_ACTION_SCALE
        action = torch.tensor(np.concatenate([arm, [grip]]), dtype=torch.float32).expand(sim.num_worlds, -1)
        for _ in range(steps):
            sim.step(action)
            assert not sim.terminated[0] and not sim.truncated[0]
        held.append(sim.reward_terms[0].cpu().numpy().copy())
    final = held[-1]
    assert held[2][TERM["grasp"]] == 1.0 and held[2][TERM["lift"]] == 0.0, "closed on the cube, still on the table"
    assert all(terms[TERM["lift"]] == 3.0 for terms in held[7:]), "lifted at the top and from there on"
    reached = sim.qpos[0, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3].cpu().numpy()
    assert np.linalg.norm(reached - target) < 0.02
    assert final[TERM["box_target_lifted"]] > 15.0 and final[TERM["box_target_fine"]] > 4.0
    assert final[TERM["box_target"]] > 6.0 and final[TERM["grasp"]] == 1.0


# ------------------------------------------------------------------------------ wrist camera


def test_wrist_camera_sees_the_cube_depth_matches_mj_ray(sim):
    """The cube of nominal 0 on the table where the camera's centre ray meets it: depth equals C
    MuJoCo's mj_ray, the rays hit the cube and the table, and the RGB image shows the cube's red
    where they hit it."""
    sim.reset()
    mjm = sim.mjm
    size = 32
    depth = NominalRenderer(sim, size, size, 1, "depth", camera="ego")
    data = mujoco.MjData(mjm)
    data.qpos[:] = fpc.start_qpos(mjm)
    mujoco.mj_forward(mjm, data)
    origin, forward = data.cam_xpos[depth.camera_ids[0]], -data.cam_xmat[depth.camera_ids[0]].reshape(3, 3)[:, 2]
    centre = origin + forward * (fpc.CUBE_HALF - origin[2]) / forward[2]
    qpos = sim.qpos.cpu().numpy()
    qpos[0, fpc.CUBE_QPOS:fpc.CUBE_QPOS + 3] = [centre[0], centre[1], fpc.CUBE_HALF]
    sim.qpos.copy_(torch.tensor(qpos))
    image = depth.render()[0, -1].cpu().numpy().copy()
    expected, geom = reference_rays(mjm, qpos[0], depth.camera_ids[0], size, _mocap(sim)[0])
    expected = np.minimum(expected, depth.zfar)
    bad = np.abs(image - expected) > 1e-3 + 1e-3 * expected
    assert bad.mean() <= 0.02, f"{bad.sum()} pixels differ"
    cube = geom == mjm.geom("cube").id
    assert cube.sum() >= 4 and cube[size // 2, size // 2], "the cube should be in the wrist camera's view"
    assert (geom == mjm.geom("table").id).mean() > 0.1, "the camera should see the table around the cube"
    rgb = NominalRenderer(sim, size, size, 1, "rgb", camera="ego").render()[0].cpu().numpy().astype(int)
    red, green = rgb[0], rgb[1]
    assert np.mean((red > green + 40)[cube]) > 0.8 and np.mean((red > green + 40)[~cube]) < 0.05


# ------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_training_from_pixels_and_proprioception_runs(tmp_path, device, modality):
    args = ["--task", TASK, "--obs", modality, "--num-nominal", "2", "--num-aux", "3",
            "--horizon", "4", "--image-size", "16", "--critic-minibatch", "32", "--epochs", "3",
            "--device", device, "--log-dir", str(tmp_path), "--run-name", "r"]
    assert train.main(args) == 0
    assert (tmp_path / "r" / "checkpoint.pt").exists()
