"""Task kernels against their NumPy references and C MuJoCo; task models load in MuJoCo Warp."""

import importlib
import math

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import warp as wp

from helpers import TOL, check_reference, evaluate, task_inputs
from sdpg_warp.tasks import make_task

TASKS = ("pointmass", "hopper", "walker", "ant", "humanoid")
LOCOMOTION = ("hopper", "walker", "ant", "humanoid")
NUM_STATES = 16
QPOS_SPREAD = 1.0
"""Half-width of the uniform qpos offsets from qpos0: wide enough to cross every height bound."""


def _free_joint_quat_adrs(mjm: mujoco.MjModel) -> list[int]:
    """qpos addresses of the quaternions of the model's free joints."""
    return [mjm.jnt_qposadr[j] + 3 for j in range(mjm.njnt) if mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE]


def _random_states(mjm: mujoco.MjModel, rng: np.random.Generator, num: int):
    """Random (qpos, qvel, action) around qpos0, free-joint quaternions normalized."""
    qpos = mjm.qpos0 + rng.uniform(-QPOS_SPREAD, QPOS_SPREAD, (num, mjm.nq))
    for adr in _free_joint_quat_adrs(mjm):
        qpos[:, adr : adr + 4] /= np.linalg.norm(qpos[:, adr : adr + 4], axis=1, keepdims=True)
    qvel = rng.normal(0.0, 2.0, (num, mjm.nv))
    action = rng.uniform(-1.0, 1.0, (num, mjm.nu))
    return qpos, qvel, action


def _inputs(task, mjm, qpos, qvel, action):
    """The task inputs of the rows (float32, as the kernel sees them)."""
    return task_inputs(task, mjm, qpos, qvel, action)


def _reference(task, mjm, qpos, qvel, action):
    """The NumPy reference on one world's (qpos, qvel, action)."""
    return task.reference(task_inputs(task, mjm, qpos[None], qvel[None], action[None]).world(0))


def _reset_state(task, mjm: mujoco.MjModel, rng: np.random.Generator):
    """The reset distribution the task declares: qpos0 + U(-noise, noise), quaternions renormalized."""
    qpos = mjm.qpos0 + rng.uniform(-task.reset_noise_qpos, task.reset_noise_qpos, mjm.nq)
    for adr in _free_joint_quat_adrs(mjm):
        qpos[adr : adr + 4] /= np.linalg.norm(qpos[adr : adr + 4])
    qvel = rng.uniform(-task.reset_noise_qvel, task.reset_noise_qvel, mjm.nv)
    return qpos, qvel


def _torso_velocity(mjm, data, body):
    """(angular, linear) velocity of a body frame's origin (XBODY: not the COM), world axes, from C MuJoCo."""
    vel = np.zeros(6)
    mujoco.mj_objectVelocity(mjm, data, mujoco.mjtObj.mjOBJ_XBODY, body, vel, 0)
    return vel[:3], vel[3:]


def _check_pointmass_physics(mjm, data, obs, terms):
    mass = mjm.body("mass").id
    np.testing.assert_allclose(obs[:2], data.xpos[mass, :2], **TOL)


def _check_planar_physics(mjm, data, obs, terms):
    """Planar robots: obs = [rootz, rooty, ...], the torso height above its start and the torso pitch."""
    torso = mjm.body("torso").id
    np.testing.assert_allclose(obs[0], data.xpos[torso, 2] - mjm.body_pos[torso, 2], **TOL)
    xmat = data.xmat[torso].reshape(3, 3)
    pitch = math.atan2(xmat[0, 2], xmat[0, 0])
    assert abs(math.remainder(obs[1] - pitch, 2 * math.pi)) < 1e-5
    _, linear = _torso_velocity(mjm, data, torso)
    assert terms[0] == pytest.approx(linear[0], rel=1e-5, abs=1e-5)


def _check_floating_physics(mjm, data, obs, terms):
    """Free-joint robots: height, world-frame velocities, up and heading against MuJoCo's torso frame."""
    torso = mjm.body("torso").id
    n = mjm.nu
    np.testing.assert_allclose(obs[0], data.xpos[torso, 2], **TOL)
    angular, linear = _torso_velocity(mjm, data, torso)
    np.testing.assert_allclose(obs[5:8], linear, **TOL)
    np.testing.assert_allclose(obs[8:11], angular, **TOL)
    xmat = data.xmat[torso].reshape(3, 3)
    np.testing.assert_allclose(obs[11 + 2 * n], xmat[2, 2], **TOL)
    np.testing.assert_allclose(obs[12 + 2 * n], xmat[0, 0], **TOL)
    assert terms[0] == pytest.approx(linear[0], rel=1e-5, abs=1e-5)


PHYSICS_CHECKS = {
    "pointmass": _check_pointmass_physics,
    "hopper": _check_planar_physics,
    "walker": _check_planar_physics,
    "ant": _check_floating_physics,
    "humanoid": _check_floating_physics,
}


@pytest.mark.parametrize("name", TASKS)
def test_evaluate_matches_reference_and_mujoco(name, device):
    """Kernel obs / terms / reward / termination = NumPy reference; physical entries = C MuJoCo."""
    task = make_task(name)
    mjm = task.mj_model()
    qpos, qvel, action = _random_states(mjm, np.random.default_rng(0), NUM_STATES)
    inputs = _inputs(task, mjm, qpos, qvel, action)
    _, _, _, terminated = check_reference(task, inputs, device)

    data = mujoco.MjData(mjm)
    for w in range(NUM_STATES):
        ref_obs, ref_terms, _ = task.reference(inputs.world(w))
        data.qpos[:] = qpos[w]
        data.qvel[:] = qvel[w]
        mujoco.mj_forward(mjm, data)
        PHYSICS_CHECKS[name](mjm, data, ref_obs, ref_terms)
    if name in LOCOMOTION:
        # The sample crosses the termination bounds both ways, so both branches are compared.
        assert 0 < terminated.sum() < NUM_STATES


@pytest.mark.parametrize("name", LOCOMOTION)
def test_blown_up_state_is_terminated_with_zeros(name, device):
    """A NaN state ends the episode and writes zeros, so no NaN reaches returns or critic."""
    task = make_task(name)
    mjm = task.mj_model()
    qpos, qvel, action = _random_states(mjm, np.random.default_rng(1), 2)
    qvel[1, 0] = np.nan
    inputs = _inputs(task, mjm, qpos, qvel, action)
    obs, terms, reward, terminated = evaluate(task, inputs, device)
    assert np.all(np.isfinite(obs[0])) and np.all(np.isfinite(terms[0]))
    np.testing.assert_array_equal(obs[1], 0.0)
    np.testing.assert_array_equal(terms[1], 0.0)
    assert reward[1] == 0.0 and terminated[1] == 1
    ref_obs, ref_terms, ref_terminated = task.reference(inputs.world(1))
    assert ref_terminated and not np.any(ref_obs) and not np.any(ref_terms)


def test_hopper_pitch_reward_wraps(device):
    """The pitch reward sees the pitch wrapped to [-pi, pi]: a full turn changes nothing."""
    task = make_task("hopper")
    mjm = task.mj_model()
    qpos, qvel, action = _random_states(mjm, np.random.default_rng(2), 2)
    qpos[1] = qpos[0]
    qpos[1, 2] += 2 * np.pi
    _, terms, _, _ = evaluate(task, _inputs(task, mjm, qpos, qvel, action), device)
    pitch = task.reward_terms.index("pitch")
    assert terms[1, pitch] == pytest.approx(terms[0, pitch], abs=1e-4)


@pytest.mark.parametrize(
    "name, state_dim", [("pointmass", 4), ("hopper", 11), ("walker", 17), ("ant", 37), ("humanoid", 76)]
)
def test_model_matches_task(name, state_dim):
    """Obs size as in the paper, one action per actuator in [-1, 1], and a camera named track."""
    task = make_task(name)
    mjm = task.mj_model()
    assert task.state_dim == state_dim
    obs, terms, _ = _reference(task, mjm, mjm.qpos0.copy(), np.zeros(mjm.nv), np.zeros(mjm.nu))
    assert obs.shape == (state_dim,) and terms.shape == (len(task.reward_terms),)
    np.testing.assert_array_equal(mjm.actuator_ctrlrange, np.tile([-1.0, 1.0], (mjm.nu, 1)))
    assert mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_CAMERA, "track") >= 0


@pytest.mark.parametrize("name", LOCOMOTION)
def test_episode_termination_is_sensible(name):
    """From reset the robot stays alive a while with zero action; a random policy makes hopper fall."""
    task = make_task(name)
    mjm = task.mj_model()
    data = mujoco.MjData(mjm)
    rng = np.random.default_rng(3)
    data.qpos[:], data.qvel[:] = _reset_state(task, mjm, rng)
    assert not _reference(task, mjm, data.qpos.copy(), data.qvel.copy(), np.zeros(mjm.nu))[2]
    for _ in range(20):
        mujoco.mj_step(mjm, data, nstep=task.frame_skip)
        assert not _reference(task, mjm, data.qpos.copy(), data.qvel.copy(), np.zeros(mjm.nu))[2]
    if name == "hopper":
        # Measured: a uniform random policy ends hopper episodes after ~50 steps (25 to 200).
        data.qpos[:], data.qvel[:] = _reset_state(task, mjm, rng)
        for step in range(300):
            action = rng.uniform(-1.0, 1.0, mjm.nu)
            data.ctrl[:] = action
            mujoco.mj_step(mjm, data, nstep=task.frame_skip)
            if _reference(task, mjm, data.qpos.copy(), data.qvel.copy(), action)[2]:
                break
        assert step < 299


def _clear_start(mjm: mujoco.MjModel) -> np.ndarray:
    """qpos0 with limited joints mid-range and the root 0.1 m higher.

    At qpos0 some limits and the walker's feet sit exactly on their boundary, where float32 and
    float64 can disagree on whether the constraint is active; a clear start compares the dynamics.
    """
    qpos = mjm.qpos0.copy()
    for j in range(mjm.njnt):
        if mjm.jnt_limited[j]:
            qpos[mjm.jnt_qposadr[j]] = np.mean(mjm.jnt_range[j])
    root = mjm.joint("root") if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE else mjm.joint("rootz")
    qpos[root.qposadr[0] + (2 if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE else 0)] += 0.1
    return qpos


@pytest.mark.parametrize("name", LOCOMOTION)
def test_mujoco_warp_steps_like_mujoco(name, device):
    """The model loads in MuJoCo Warp with the task's budgets and a few steps match C MuJoCo."""
    task = make_task(name)
    mjm = task.mj_model()
    nworld, nstep = 2, 4
    start = _clear_start(mjm)
    ctrl = np.random.default_rng(4).uniform(-1.0, 1.0, (nworld, mjm.nu))
    with wp.ScopedDevice(device):
        model = mjw.put_model(mjm)
        data = mjw.make_data(mjm, nworld=nworld, nconmax=task.max_contacts, njmax=task.max_constraints)
        data.qpos.assign(np.tile(start, (nworld, 1)).astype(np.float32))
        data.ctrl.assign(ctrl.astype(np.float32))
        for _ in range(nstep):
            mjw.step(model, data)
        qpos = data.qpos.numpy()
    mjd = mujoco.MjData(mjm)
    for w in range(nworld):
        mujoco.mj_resetData(mjm, mjd)
        mjd.qpos[:] = start
        mjd.ctrl[:] = ctrl[w]
        mujoco.mj_step(mjm, mjd, nstep=nstep)
        np.testing.assert_allclose(qpos[w], mjd.qpos, atol=1e-4)


def test_hopper_motor_joints_have_armature_and_no_damping():
    """Motor joints: armature 0.1, damping 0, as Genesis loads the authors' MJCF (default armature 0.1)."""
    mjm = make_task("hopper").mj_model()
    dofs = [mjm.jnt_dofadr[mjm.actuator_trnid[i, 0]] for i in range(mjm.nu)]
    np.testing.assert_array_equal(mjm.dof_armature[dofs], 0.1)
    np.testing.assert_array_equal(mjm.dof_damping[dofs], 0.0)


def test_walker_joint_limits_are_soft_as_the_authors():
    """Every limited walker joint has the authors' solimplimit (0, 0.99, 0.01)."""
    mjm = make_task("walker").mj_model()
    limited = mjm.jnt_limited.astype(bool)
    assert limited.sum() == mjm.nu
    np.testing.assert_allclose(mjm.jnt_solimp[limited, :3], np.tile([0.0, 0.99, 0.01], (mjm.nu, 1)))


def _can_collide(mjm: mujoco.MjModel, g1: int, g2: int) -> bool:
    """MuJoCo's contype / conaffinity filter for a geom pair."""
    return bool(
        (mjm.geom_contype[g1] & mjm.geom_conaffinity[g2]) or (mjm.geom_contype[g2] & mjm.geom_conaffinity[g1])
    )


def test_ant_only_feet_touch_the_floor():
    """As in the authors' ant, the four feet collide with the floor and no other pair can collide."""
    mjm = make_task("ant").mj_model()
    floor = mjm.geom("floor").id
    pairs = {
        (mjm.geom(g1).name, mjm.geom(g2).name)
        for g1 in range(mjm.ngeom)
        for g2 in range(g1 + 1, mjm.ngeom)
        if _can_collide(mjm, g1, g2)
    }
    assert pairs == {("floor", f"foot_{i}") for i in range(1, 5)}
    assert mjm.geom_bodyid[floor] == 0


def test_ant_camera_follows_the_torso_like_the_authors():
    """The authors' ant camera: at torso origin + (0.5, -2, 1) in world axes, looking at it, image up +z."""
    mjm = make_task("ant").mj_model()
    data = mujoco.MjData(mjm)
    data.qpos[:3] = [3.0, -1.0, 0.6]
    data.qpos[3:7] = [math.cos(0.4), 0.1, 0.05, math.sin(0.4)]
    data.qpos[3:7] /= np.linalg.norm(data.qpos[3:7])
    mujoco.mj_forward(mjm, data)
    camera, torso = mjm.camera("track").id, mjm.body("torso").id
    offset = np.array([0.5, -2.0, 1.0])
    np.testing.assert_allclose(data.cam_xpos[camera] - data.xpos[torso], offset, atol=1e-9)
    axes = data.cam_xmat[camera].reshape(3, 3)
    np.testing.assert_allclose(-axes[:, 2], -offset / np.linalg.norm(offset), atol=1e-9)
    assert abs(axes[2, 0]) < 1e-9 and axes[2, 1] > 0.0
    assert mjm.cam_fovy[camera] == 60.0


AUTHORS_HUMANOID_JOINTS = (
    "abdomen_z",
    "abdomen_y",
    "abdomen_x",
    "right_hip_x",
    "right_hip_z",
    "right_hip_y",
    "right_knee",
    "right_ankle_y",
    "right_ankle_x",
    "left_hip_x",
    "left_hip_z",
    "left_hip_y",
    "left_knee",
    "left_ankle_y",
    "left_ankle_x",
    "right_shoulder1",
    "right_shoulder2",
    "right_elbow",
    "left_shoulder1",
    "left_shoulder2",
    "left_elbow",
)
"""Hinge declaration order of the authors' humanoid MJCF (it sets the kinematics of two-hinge bodies)."""


def test_humanoid_joints_declared_in_the_authors_order():
    mjm = make_task("humanoid").mj_model()
    assert tuple(mjm.joint(j).name for j in range(1, mjm.njnt)) == AUTHORS_HUMANOID_JOINTS


@pytest.mark.parametrize("name", ("ant", "humanoid"))
def test_floating_obs_lists_joints_in_motor_order_by_name(name, device):
    """Obs joint angle i, rate i and action i all belong to motor i, whose joint is MOTOR_JOINTS[i]."""
    task = make_task(name)
    module = importlib.import_module(f"sdpg_warp.tasks.{name}")
    mjm = task.mj_model()
    n = mjm.nu
    assert tuple(mjm.joint(mjm.actuator_trnid[i, 0]).name for i in range(n)) == module.MOTOR_JOINTS
    qpos, qvel, action = _random_states(mjm, np.random.default_rng(5), 4)
    obs, _, _, _ = evaluate(task, _inputs(task, mjm, qpos, qvel, action), device)
    for i, joint_name in enumerate(module.MOTOR_JOINTS):
        joint = mjm.joint(joint_name)
        np.testing.assert_allclose(obs[:, 11 + i], qpos[:, joint.qposadr[0]], **TOL)
        np.testing.assert_allclose(obs[:, 11 + n + i], module.JOINT_VEL_SCALE * qvel[:, joint.dofadr[0]], **TOL)
    np.testing.assert_allclose(obs[:, 13 + 2 * n :], action, **TOL)


def test_the_light_task_table_agrees_with_the_task_classes():
    """``sdpg_warp/tasks/registry.py`` answers config checks and ``--help`` without importing the task
    modules; every registered class (all modules imported) is in it, with the same static facts."""
    import pkgutil

    import sdpg_warp.tasks as tasks
    from sdpg_warp.tasks.registry import TASKS

    for module in pkgutil.iter_modules(tasks.__path__):
        importlib.import_module(f"sdpg_warp.tasks.{module.name}")
    assert sorted(tasks._REGISTRY) == sorted(TASKS) == list(tasks.task_names())
    for name, info in TASKS.items():
        cls = tasks.task_class(name)
        task = cls()
        assert (cls.__module__, cls.__name__) == (info.module, info.cls), name
        facts = (task.state_dim, task.proprio_dim, task.cameras, task.episode_length, task.frame_skip,
                 task.menagerie_robot, task.menagerie_files)
        assert facts == (info.state_dim, info.proprio_dim, info.cameras, info.episode_length, info.frame_skip,
                         info.menagerie_robot, info.menagerie_files), name
