"""The in-hand reorientation tasks (allegro_hand, shadow_hand): task kernel against its NumPy
reference on constructed states (goal reached or not, cube dropped), successes and goal redraws,
the previous action in the observation (the one just applied), the reset distribution, group
identity, the cube resting in the hand, the camera against mj_ray, and short training runs from
pixels and proprioception.

One simulator (N=2, M=3) per hand is built per module; the robots come from MENAGERIE_ROOT
(tests/conftest.py).
"""

import dataclasses
import math

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import train
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import in_hand, make_task
from sdpg_warp.tasks.base import TaskInputs
from sdpg_warp.tasks.menagerie import robot_file
from helpers import check_reference, reference_rays

HANDS = ("allegro_hand", "shadow_hand")
VARIANTS = ("authors", "ours")
"""The authors' task (no success bonus, one goal per episode) or ours (IsaacLab's bonus 250 and a new
goal on each success), the options of the same simulator's task."""


def _variant(sim, variant):
    if variant == "authors":
        return sim.task
    return dataclasses.replace(sim.task, success_bonus=250.0, goal_redraw=True)
NUM_NOMINAL, NUM_AUX = 2, 3
TOL = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def sims(device):
    """``sims(task)``: the module's simulator of the hand, freshly reset."""
    cache = {}

    def get(task: str) -> BatchedSim:
        if task not in cache:
            cache[task] = BatchedSim(task, NUM_NOMINAL, NUM_AUX, device=device, seed=0)
        cache[task].reset()
        return cache[task]

    return get


def _random_quats(rng, n) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=1, keepdims=True)


def _turn(axis, angle) -> np.ndarray:
    """(w, x, y, z) turn by ``angle`` about ``axis``."""
    q = np.zeros(4)
    mujoco.mju_axisAngle2Quat(q, np.asarray(axis, dtype=np.float64), angle)
    return q


def _set_state(sim, qpos, qvel, mocap_pos, mocap_quat) -> None:
    """Writes the worlds' state and recomputes their kinematics (body positions)."""
    d = sim.d
    d.qpos.assign(qpos.astype(np.float32))
    d.qvel.assign(qvel.astype(np.float32))
    d.mocap_pos.assign(wp.array(mocap_pos.astype(np.float32), dtype=wp.vec3, device=sim.device))
    d.mocap_quat.assign(wp.array(mocap_quat.astype(np.float32), dtype=wp.quat, device=sim.device))
    with wp.ScopedDevice(sim.device):
        mjw.kinematics(sim.m, d)


def _constructed_states(sim, rng):
    """Every world near the start with random joints, velocities, memory and goal; world 0 at its
    goal (a success), world 1 within 0.1 rad of it, world 2 just beyond, world 3 dropped (cube
    past the fall distance), world 4 not finite."""
    task, mjm, W = sim.task, sim.mjm, sim.num_worlds
    hand = task.hand
    nj = hand.num_joints
    lo, hi = mjm.actuator_ctrlrange.T
    joints = [mjm.jnt_qposadr[j] for j in mjm.actuator_trnid[:, 0]]
    qpos = np.tile(mjm.qpos0, (W, 1))
    qpos[:, joints] = rng.uniform(lo, hi, (W, nj))
    qpos[:, nj:nj + 3] = np.array(hand.in_hand) + rng.uniform(-0.05, 0.05, (W, 3))
    qpos[:, nj + 3:nj + 7] = _random_quats(rng, W)
    qvel = rng.normal(0.0, 1.0, (W, mjm.nv))
    mocap_pos = sim.d.mocap_pos.numpy().astype(np.float64)
    mocap_pos[:, 1:] = rng.uniform(-1.0, 1.0, mocap_pos[:, 1:].shape)
    mocap_quat = sim.d.mocap_quat.numpy().astype(np.float64)
    mocap_quat[:, in_hand.GOAL_BODY] = _random_quats(rng, W)
    goal = mocap_quat[:, in_hand.GOAL_BODY]
    qpos[0, nj + 3:nj + 7] = goal[0]
    qpos[1, nj + 3:nj + 7] = in_hand.np_quat_mul(goal[1], _turn([0.3, -0.5, 0.8], 0.09))
    qpos[2, nj + 3:nj + 7] = in_hand.np_quat_mul(goal[2], _turn([0.3, -0.5, 0.8], 0.11))
    qpos[3, nj:nj + 3] = np.array(hand.in_hand) + [0.0, 0.0, -1.01 * hand.fall_distance]
    qpos[4, nj] = np.nan
    action = rng.uniform(-1.0, 1.0, (W, nj))
    return qpos, qvel, mocap_pos, mocap_quat, action


def test_the_authors_goals_are_the_default():
    for task in HANDS:
        assert make_task(task).success_bonus == 0.0 and not make_task(task).goal_redraw


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", HANDS)
def test_evaluate_matches_reference_on_constructed_states(sims, task, variant):
    sim = sims(task)
    task_ = _variant(sim, variant)
    rng = np.random.default_rng(0)
    qpos, qvel, mocap_pos, mocap_quat, action = _constructed_states(sim, rng)
    _set_state(sim, qpos, qvel, mocap_pos, mocap_quat)
    # Kernel on the simulator's Data (mujoco_warp's kinematics); reference on C MuJoCo's of the same state.
    inputs = TaskInputs.of(sim.d, wp.array(action.astype(np.float32), device=sim.device), sim.task_inputs.contacts)
    mjd = mujoco.MjData(sim.mjm)
    worlds = []
    for w in range(sim.num_worlds):
        mjd.qpos[:] = qpos[w]
        if np.all(np.isfinite(qpos[w])):
            mujoco.mj_kinematics(sim.mjm, mjd)
        worlds.append(TaskInputs(qpos[w], qvel[w], action[w], mocap_pos[w], mocap_quat[w], mjd.xpos.copy(),
                                 mjd.site_xpos.copy(), np.zeros(0, np.int32)))
    state, terms, reward, terminated = check_reference(task_, inputs, sim.device, worlds=worlds, tol=TOL,
                                                       reward_tol=TOL)
    success = terms[:, task_.reward_terms.index("success")]
    bonus = 250.0 if variant == "ours" else 0.0
    assert success[0] == success[1] == bonus and success[2] == 0.0
    assert terminated[3] == 1 and terminated[4] == 1 and not terminated[:3].any()
    assert np.all(state[4] == 0.0) and reward[4] == 0.0


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", HANDS)
def test_metrics_count_the_goals_reached_and_measure_the_final_orientation_error(sims, task, variant):
    """On the constructed states after two successes: the cube at its goal and 0.09 rad from it
    count a third goal (error 0 and 0.09), 0.11 rad does not; a non-finite state keeps the metrics
    before it. With one goal per episode (the authors') the goal was reached: 1 in every world.
    Through a simulator step (the authors' task) the metrics are measured before the memory counts
    the step's success, so they equal the count after it, capped at 1."""
    sim = sims(task)
    task_ = _variant(sim, variant)
    rng = np.random.default_rng(0)
    qpos, qvel, mocap_pos, mocap_quat, action = _constructed_states(sim, rng)
    mocap_pos[:, 1, in_hand.MEM_SUCCESSES] = 2.0
    _set_state(sim, qpos, qvel, mocap_pos, mocap_quat)
    W = sim.num_worlds
    episode_step = np.full(W, 5)
    previous = np.full((W, 2), np.inf, np.float32)
    previous[4] = (1.0, 0.7)
    metrics = wp.array(previous, dtype=float, device=sim.device)
    task_.measure(sim.d, wp.array(episode_step.astype(np.int32), dtype=int, device=sim.device), metrics)
    measured = metrics.numpy()
    np.testing.assert_array_equal(measured[:3, 0], [3, 3, 2] if variant == "ours" else [1, 1, 1])
    np.testing.assert_allclose(measured[:3, 1], [0.0, 0.09, 0.11], atol=2e-3)
    np.testing.assert_allclose(measured[4], [1.0, 0.7])
    for w in range(W):
        expected = task_.reference_measure(qpos[w], qvel[w], mocap_pos[w], mocap_quat[w], previous[w], 5)
        np.testing.assert_allclose(measured[w], expected, **TOL, err_msg=f"world {w}")
    # From the start (the cube unrotated) with the action that holds the start pose, worlds 0-3
    # given the identity goal (the settling cube may leave it) and every world two earlier successes.
    sim.reset()
    pos, quat = sim.d.mocap_pos.numpy().copy(), sim.d.mocap_quat.numpy().copy()
    pos[:, 1, in_hand.MEM_SUCCESSES] = 2.0
    quat[:4, in_hand.GOAL_BODY] = (1.0, 0.0, 0.0, 0.0)
    sim.d.mocap_pos.assign(wp.array(pos, dtype=wp.vec3, device=sim.device))
    sim.d.mocap_quat.assign(wp.array(quat, dtype=wp.quat, device=sim.device))
    lo, hi = sim.mjm.actuator_ctrlrange.T
    hold = (np.clip(sim.task.hand.default_pose, lo, hi) - lo) / (hi - lo) * 2 - 1
    sim.step(torch.as_tensor(np.tile(hold, (W, 1)), dtype=torch.float32, device=sim.qpos.device))
    counts = sim.d.mocap_pos.numpy()[:, 1, in_hand.MEM_SUCCESSES]
    assert (counts[:4] == 3).any() and np.all(counts[:4] >= 2) and np.all(counts[4:] == 2), counts
    np.testing.assert_array_equal(sim.metrics[:, 0].cpu().numpy(), np.minimum(counts, 1))
    # The error of a world that reached its goal is measured to that goal, not to the next one.
    assert np.all(sim.metrics[:, 1].cpu().numpy()[counts == 3] < in_hand.SUCCESS_TOLERANCE)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", HANDS)
def test_a_success_is_counted_and_ours_turns_the_goal_60_to_90_degrees_about_x_or_y(sims, task, variant):
    # Ours draws a new goal on a success; the authors' keep it for the episode.
    sim = sims(task)
    task_ = _variant(sim, variant)
    rng = np.random.default_rng(1)
    qpos, qvel, mocap_pos, mocap_quat, action = _constructed_states(sim, rng)
    qpos[4, sim.task.hand.num_joints] = 0.0
    mocap_pos[:, 1, in_hand.MEM_SUCCESSES] = 2.0
    mocap_pos[:, 1, in_hand.MEM_STREAM] = rng.integers(0, in_hand.STREAM_RANGE, sim.num_worlds)
    _set_state(sim, qpos, qvel, mocap_pos, mocap_quat)
    task_.after_step(sim.d, TaskInputs.of(sim.d, wp.array(action.astype(np.float32), device=sim.device),
                                          sim.task_inputs.contacts))
    after_pos, after_quat = sim.d.mocap_pos.numpy(), sim.d.mocap_quat.numpy()
    for w in range(sim.num_worlds):
        expected, goal, success = task_.reference_after_step(qpos[w], mocap_pos[w], mocap_quat[w])
        assert success == (w in (0, 1)), w
        np.testing.assert_allclose(after_pos[w], expected, rtol=0, atol=1e-6)
        new_goal = after_quat[w, in_hand.GOAL_BODY]
        if not success or variant == "authors":
            np.testing.assert_allclose(new_goal, goal, atol=1e-6)
            continue
        assert after_pos[w, 1, in_hand.MEM_SUCCESSES] == 3.0
        turn = in_hand.np_quat_mul(new_goal, in_hand.np_quat_conj(goal))
        angle = 2.0 * math.atan2(np.linalg.norm(turn[1:]), abs(turn[0]))
        assert math.radians(60) - 1e-4 <= angle <= math.radians(90) + 1e-4
        axis = np.abs(turn[1:]) / np.linalg.norm(turn[1:])
        assert np.isclose(axis[0], 1.0, atol=1e-4) or np.isclose(axis[1], 1.0, atol=1e-4), axis
    # The draw depends on the stream and the count only: the same world state draws the same goal.
    _set_state(sim, qpos, qvel, mocap_pos, mocap_quat)
    task_.after_step(sim.d, TaskInputs.of(sim.d, wp.array(action.astype(np.float32), device=sim.device),
                                          sim.task_inputs.contacts))
    np.testing.assert_array_equal(sim.d.mocap_quat.numpy(), after_quat)


@pytest.mark.parametrize("task", HANDS)
def test_the_applied_action_becomes_the_previous_one_before_the_evaluation(sims, task):
    sim = sims(task)
    rng = np.random.default_rng(2)
    qpos, qvel, mocap_pos, mocap_quat, action = _constructed_states(sim, rng)
    _set_state(sim, qpos, qvel, mocap_pos, mocap_quat)
    sim.task.before_evaluate(sim.d, TaskInputs.of(sim.d, wp.array(action.astype(np.float32), device=sim.device),
                                                  sim.task_inputs.contacts))
    after = sim.d.mocap_pos.numpy()
    for w in range(sim.num_worlds):
        expected = sim.task.reference_before_evaluate(action[w], mocap_pos[w])
        np.testing.assert_allclose(after[w], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(sim.d.mocap_quat.numpy(), mocap_quat.astype(np.float32))


@pytest.mark.parametrize("task", HANDS)
def test_the_observation_after_a_step_holds_that_steps_action(sims, task):
    """IsaacLab's previous action: the one just applied (no lag of a step); after a reset, the
    joints as an action."""
    sim = sims(task)
    nj, lo, hi = sim.task.hand.num_joints, *sim.mjm.actuator_ctrlrange.T
    k = 2 * nj + 7 + 3 * len(sim.task.hand.fingertips)
    joints = sim.qpos[:, [sim.mjm.jnt_qposadr[j] for j in sim.mjm.actuator_trnid[:, 0]]].cpu().numpy()
    np.testing.assert_allclose(sim.states[:, k:k + nj].cpu().numpy(), (joints - lo) / (hi - lo) * 2 - 1, atol=1e-5)
    for value in (0.5, -0.25):
        action = torch.full((sim.num_worlds, sim.num_actions), value, device=sim.qpos.device)
        sim.step(action)
        np.testing.assert_array_equal(sim.states[:, k:k + nj].cpu().numpy(), value)


@pytest.mark.parametrize("task", HANDS)
def test_reset_follows_the_start_distribution_and_groups_share_it(sims, task):
    sim = sims(task)
    hand, mjm, nj = sim.task.hand, sim.mjm, sim.task.hand.num_joints
    lo, hi = mjm.actuator_ctrlrange.T
    joints = [mjm.jnt_qposadr[j] for j in mjm.actuator_trnid[:, 0]]
    default = np.clip(hand.default_pose, lo, hi)
    qpos, mocap_pos, mocap_quat = sim.d.qpos.numpy(), sim.d.mocap_pos.numpy(), sim.d.mocap_quat.numpy()
    q = qpos[:, joints]
    assert np.all(q >= lo - 1e-6) and np.all(q <= hi + 1e-6)
    assert np.all(np.abs(q - default) <= 0.1 * (hi - lo) + 1e-5)
    assert np.abs(q - default).max() > 0.02 * (hi - lo).min(), "the joints are drawn"
    assert np.all(np.abs(qpos[:, nj:nj + 3] - hand.cube_pos) <= 0.01 + 1e-6)
    np.testing.assert_array_equal(qpos[:, nj + 3:nj + 7], np.tile([1.0, 0.0, 0.0, 0.0], (sim.num_worlds, 1)))
    np.testing.assert_array_equal(sim.d.qvel.numpy(), 0.0)
    memory = mocap_pos[:, 1:].reshape(sim.num_worlds, -1)
    np.testing.assert_allclose(memory[:, in_hand.MEM_ACTION:in_hand.MEM_ACTION + nj], (q - lo) / (hi - lo) * 2 - 1,
                               atol=1e-5)
    assert np.all(memory[:, in_hand.MEM_SUCCESSES] == 0.0)
    streams = memory[:, in_hand.MEM_STREAM]
    assert np.all(streams == np.round(streams)) and len(set(streams)) == sim.num_worlds
    for goal in mocap_quat[:, in_hand.GOAL_BODY]:
        angle = 2.0 * math.atan2(np.linalg.norm(goal[1:]), abs(goal[0]))
        assert math.radians(60) - 1e-4 <= angle <= math.radians(90) + 1e-4
        assert abs(goal[3]) < 1e-6 and (abs(goal[1]) < 1e-6 or abs(goal[2]) < 1e-6), goal
    # The privileged state after a reset is the reference's of the reset state.
    mjd = mujoco.MjData(mjm)
    mjd.qpos[:] = qpos[0]
    mujoco.mj_kinematics(mjm, mjd)
    obs, _, _ = sim.task.reference(TaskInputs(qpos[0], sim.d.qvel.numpy()[0], np.zeros(nj), mocap_pos[0], mocap_quat[0],
                                              mjd.xpos.copy(), mjd.site_xpos.copy(), np.zeros(0, np.int32)))
    np.testing.assert_allclose(sim.states[0].cpu().numpy(), obs, **TOL)
    # Auxiliaries take their nominal's cube, goal and memory, and stay with it under the same actions.
    g = sim.group_size
    sim.reset_aux_from_nominal()
    actions = torch.rand(NUM_NOMINAL, sim.num_actions, device=sim.qpos.device) * 2 - 1
    for _ in range(2):
        for value in (sim.qpos, sim.qvel, sim.states, torch.as_tensor(sim.d.mocap_quat.numpy()).view(sim.num_worlds, -1),
                      torch.as_tensor(sim.d.mocap_pos.numpy()).view(sim.num_worlds, -1)):
            value = value.view(NUM_NOMINAL, g, -1)
            assert torch.equal(value, value[:, :1].expand_as(value))
        sim.step(actions.repeat_interleave(g, dim=0))


@pytest.mark.parametrize("task", HANDS)
def test_the_cube_rests_in_the_hand_that_holds_its_start_pose(sims, task):
    """From the reset draws, the action that holds the default pose keeps the cube in the hand for
    1 s in all worlds but at most one of eight (the start is not a drop; C MuJoCo drops about one
    draw in thirty too, measured on the same states)."""
    sim = sims(task)
    lo, hi = sim.mjm.actuator_ctrlrange.T
    hold = (np.clip(sim.task.hand.default_pose, lo, hi) - lo) / (hi - lo) * 2 - 1
    actions = torch.as_tensor(np.tile(hold, (sim.num_worlds, 1)), dtype=torch.float32, device=sim.qpos.device)
    steps = int(round(1.0 / (sim.mjm.opt.timestep * sim.task.frame_skip)))
    dropped = torch.zeros(sim.num_worlds, dtype=torch.bool, device=sim.qpos.device)
    for _ in range(steps):
        _, terminated, _ = sim.step(actions)
        dropped |= terminated
    assert dropped.sum() <= 1
    nj = sim.task.hand.num_joints
    cube = sim.qpos[:, nj:nj + 3].cpu().numpy()[~dropped.cpu().numpy()]
    assert np.all(np.linalg.norm(cube - sim.task.hand.in_hand, axis=1) < 0.05)


@pytest.mark.parametrize("task", HANDS)
def test_the_camera_sees_the_cube_as_mj_ray_does(sims, task):
    sim = sims(task)
    size = 32
    renderer = NominalRenderer(sim, size, size, 1, "depth", camera=sim.task.camera)
    depth = renderer.render()[0, -1].cpu().numpy().copy()
    qpos = sim.qpos[0].cpu().numpy()
    expected, geom = reference_rays(sim.mjm, qpos, renderer.camera_ids[0], size,
                                     mocap_pos=sim.d.mocap_pos.numpy()[0])
    expected = np.minimum(expected, renderer.zfar)
    bad = np.abs(depth - expected) > 1e-3 + 1e-3 * expected
    assert bad.mean() <= 0.03, f"{bad.sum()} pixels differ"
    cube_body = sim.mjm.body("cube").id
    on_cube = sim.mjm.geom_bodyid[geom] == cube_body
    assert on_cube.sum() >= 8, "the cube in the palm should fill part of the picture"
    rgb = NominalRenderer(sim, size, size, 1, "rgb", camera=sim.task.camera).render()[0].cpu().numpy()
    colours = {tuple(rgb[:, r, c] // 32) for r, c in zip(*np.nonzero(on_cube))}
    assert len(colours) >= 2, "two faces of the cube (two colours) are seen"


@pytest.mark.parametrize("task", HANDS + ("go2_terrain", "g1_hurdle", "franka_pick_cube"))
def test_task_models_keep_the_robots_joint_references(task):
    """A start pose never moves qpos0 of a hinge or slide (MuJoCo measures them from qpos0), so the
    robot's geometry at any joint angle is Menagerie's."""
    task = make_task(task)
    mjm = task.mj_model()
    robot = mujoco.MjModel.from_xml_path(robot_file(task.menagerie_robot, task.xml_file))
    for j in range(robot.njnt):
        if robot.jnt_type[j] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
            ours = mjm.joint(robot.joint(j).name)
            assert mjm.qpos0[ours.qposadr[0]] == robot.qpos0[robot.jnt_qposadr[j]], robot.joint(j).name


@pytest.mark.parametrize("task,modality", [("allegro_hand", "rgb"), ("allegro_hand", "depth"), ("shadow_hand", "rgb")])
def test_training_from_pixels_and_proprioception_runs(tmp_path, device, task, modality):
    args = ["--task", task, "--obs", modality, "--num-nominal", "2", "--num-aux", "3",
            "--horizon", "4", "--image-size", "16", "--critic-minibatch", "32", "--epochs", "3",
            "--device", device, "--log-dir", str(tmp_path), "--run-name", "r"]
    assert train.main(args) == 0
    assert (tmp_path / "r" / "checkpoint.pt").exists()
