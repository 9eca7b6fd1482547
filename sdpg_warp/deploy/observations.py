"""The actor's state observation, assembled from a C MuJoCo ``MjData`` as a robot's sensors give it:
joint encoders (``qpos``/``qvel`` of each joint), the base's pose and velocity (a state estimator:
the free joint's ``qpos``/``qvel``, the torso's orientation matrix ``xmat``), and the last action
sent. Written apart from the training simulator's Warp kernels on purpose: ``tests/test_deploy.py``
checks that both give the same observation of the same state.

Each function takes (task, model, data, last action) with the data's kinematics current
(``mujoco.mj_kinematics`` or ``mj_forward`` after the last step) and returns float32 [state_dim].
"""

import importlib
from typing import Callable

import mujoco
import numpy as np


def _planar(task, mjm: mujoco.MjModel, d: mujoco.MjData, action: np.ndarray) -> np.ndarray:
    """Planar walkers (hopper, walker): [root height, root pitch, joint angles, every joint rate]:
    all joints but the forward slide, then all rates."""
    return np.concatenate([d.qpos[1:], d.qvel])


def _motor_joints(mjm: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """(qpos address, dof address) of the hinge each motor drives, in action order."""
    joints = mjm.actuator_trnid[:, 0]
    return mjm.jnt_qposadr[joints], mjm.jnt_dofadr[joints]


def _floating_base(task, mjm, d, action):
    """Free-joint robots (ant, humanoid): [torso height, torso quaternion (w x y z), torso origin
    velocity (world), torso angular velocity (world), motor joint angles, motor joint rates times
    the task's ``JOINT_VEL_SCALE``, up = z axis . z, heading = x axis . x, last action]."""
    scale = importlib.import_module(type(task).__module__).JOINT_VEL_SCALE
    rot = d.xmat[mjm.jnt_bodyid[0]].reshape(3, 3)
    qadr, dadr = _motor_joints(mjm)
    return np.concatenate([
        d.qpos[2:3], d.qpos[3:7], d.qvel[0:3], rot @ d.qvel[3:6], d.qpos[qadr], scale * d.qvel[dadr],
        [rot[2, 2], rot[0, 0]], action,
    ])


def _reacher(task, mjm, d, action):
    """[cos angle, sin angle, rate] of the arm's one joint."""
    return np.array([np.cos(d.qpos[0]), np.sin(d.qpos[0]), d.qvel[0]])


def _pointmass(task, mjm, d, action):
    """[x, y, x rate, y rate]."""
    return np.concatenate([d.qpos[:2], d.qvel[:2]])


OBSERVERS: dict[str, Callable] = {
    "hopper": _planar,
    "walker": _planar,
    "ant": _floating_base,
    "humanoid": _floating_base,
    "reacher": _reacher,
    "pointmass": _pointmass,
}
"""Task name -> its state observation function: the tasks deploy covers."""


def state_observation(task, mjm: mujoco.MjModel, d: mujoco.MjData, action: np.ndarray) -> np.ndarray:
    """float32 [state_dim]: the task's state observation of ``d`` (kinematics current) after ``action``."""
    return OBSERVERS[task.name](task, mjm, d, action).astype(np.float32)


def _go2_proprio(task, mjm, d, action):
    """Go2 (45): [0.25 x gyro (base frame), gravity in the base frame, the operator's command
    (2 v_x, 2 v_y, 0.25 yaw rate), joint angles - default pose, 0.05 x joint rates, last action].
    The command (v_x, v_y, heading) sits in the scene's ``command`` mocap body; the yaw-rate command
    is clip(0.5 wrap(heading - yaw), -1, 1) with the base's yaw."""
    go2 = importlib.import_module(type(task).__module__)
    rot = d.xmat[mjm.body("base").id].reshape(3, 3)
    vx, vy, heading = d.mocap_pos[mjm.body("command").mocapid[0]]
    yaw = np.arctan2(rot[1, 0], rot[0, 0])
    error = np.arctan2(np.sin(heading - yaw), np.cos(heading - yaw))
    yaw_rate = np.clip(go2.YAW_GAIN * error, -go2.MAX_YAW_RATE, go2.MAX_YAW_RATE)
    qadr, dadr = _motor_joints(mjm)
    gyro = d.qvel[3:6]  # a free joint's angular velocity is in the body frame, as an IMU's
    return np.concatenate([
        go2.ANG_VEL_SCALE * gyro, rot.T @ np.array([0.0, 0.0, -1.0]),
        [go2.LIN_VEL_SCALE * vx, go2.LIN_VEL_SCALE * vy, go2.ANG_VEL_SCALE * yaw_rate],
        d.qpos[qadr] - np.array(go2.DEFAULT_POSE), go2.DOF_VEL_SCALE * d.qvel[dadr], action,
    ])


def _g1_proprio(task, mjm, d, action):
    """G1 (56): [base height, gravity in the base frame, base velocity (linear in the world frame,
    angular in the base frame: the free joint's), motor joint angles, motor joint rates]."""
    rot = d.xmat[mjm.jnt_bodyid[0]].reshape(3, 3)
    qadr, dadr = _motor_joints(mjm)
    return np.concatenate([d.qpos[2:3], rot.T @ np.array([0.0, 0.0, -1.0]), d.qvel[0:6], d.qpos[qadr], d.qvel[dadr]])


def _franka_proprio(task, mjm, d, action):
    """Franka (38): [arm joint angles (7), finger positions (2), their rates (9), gripper point (3),
    the hand's rotation matrix rows 2-3 (6), joint targets of the last action - joint positions (8:
    arm, then the gripper's target - finger 1), the target point (3, the ``target`` mocap body)]."""
    franka = importlib.import_module(type(task).__module__)
    arm = franka.NUM_ARM
    hand_rot = d.xmat[mjm.body("hand").id].reshape(3, 3)
    fingers = [d.xpos[mjm.body(name).id] for name in franka.FINGERS]
    gripper = 0.5 * (fingers[0] + fingers[1]) + hand_rot @ np.array(franka.GRIPPER_OFFSET)
    targets = np.concatenate([np.array(franka.DEFAULT_POSE) + franka.ARM_ACTION_SCALE * action[:arm],
                              [0.5 * franka.FINGER_OPEN * (action[arm] + 1.0)]])
    return np.concatenate([d.qpos[:arm + 2], d.qvel[:arm + 2], gripper, hand_rot[1:].reshape(-1),
                           targets - d.qpos[:arm + 1], d.mocap_pos[mjm.body("target").mocapid[0]]])


def _in_hand_proprio(task, mjm, d, action):
    """In-hand hands (3J + 7 + 3T): [joint angles scaled to [-1, 1] over each actuator's control
    range, 0.2 x joint rates, the in-hand point, the goal orientation (the ``goal`` mocap body's
    quaternion), fingertip positions, ``action``: the previous action as the task's memory showed
    it to the actor in training, the last action sent (``InHandRules.observed_action``)]."""
    hand_module = importlib.import_module(type(task).__module__)
    qadr, dadr = _motor_joints(mjm)
    lo, hi = mjm.actuator_ctrlrange.T
    goal = d.mocap_quat[mjm.body("goal").mocapid[0]]
    tips = [d.xpos[mjm.body(name).id] for name in task.hand.fingertips]
    return np.concatenate([(2.0 * d.qpos[qadr] - lo - hi) / (hi - lo), hand_module.VEL_SCALE * d.qvel[dadr],
                           task.hand.in_hand, goal / np.linalg.norm(goal), np.concatenate(tips), action])


def _aloha_proprio(task, mjm, d, action):
    """ALOHA (52): [the 16 robot joint angles (left arm and fingers, right arm and fingers), their
    rates, the position targets of ``action`` minus the joints they drive (12 arm joints and each
    gripper's first finger), the left and right gripper sites]."""
    from sdpg_warp.deploy.mujoco_robot import control_ranges

    aloha = importlib.import_module(type(task).__module__)
    n, arm = aloha.NUM_ROBOT_Q, aloha.NUM_ARM
    ranges = control_ranges(mjm)
    targets = ranges[:, 0] + 0.5 * (np.clip(action, -1.0, 1.0) + 1.0) * (ranges[:, 1] - ranges[:, 0])
    driven = [side * (arm + 2) + i for side in range(2) for i in range(arm + 1)]
    sites = [d.site_xpos[mjm.site(name).id] for name in ("left/gripper", "right/gripper")]
    return np.concatenate([d.qpos[:n], d.qvel[:n], targets - d.qpos[driven], *sites])


PROPRIO: dict[str, Callable] = {
    "go2_terrain": _go2_proprio,
    "walker_hurdle": _planar,
    "g1_hurdle": _g1_proprio,
    "franka_pick_cube": _franka_proprio,
    "allegro_hand": _in_hand_proprio,
    "shadow_hand": _in_hand_proprio,
    "aloha_insertion": _aloha_proprio,
}
"""Ego-centric task name -> its proprioception function (what the actor sees beside its cameras)."""


def proprioception(task, mjm: mujoco.MjModel, d: mujoco.MjData, action: np.ndarray) -> np.ndarray:
    """float32 [proprio_dim]: an ego-centric task's proprioception of ``d`` after ``action``."""
    return PROPRIO[task.name](task, mjm, d, action).astype(np.float32)


def covers(task_name: str, obs: str) -> bool:
    """Whether deploy assembles this task's observation of kind ``obs`` ("state", "rgb", "depth"):
    every kind for the classic tasks, camera kinds for the ego-centric tasks it has
    proprioception for (their privileged state is no robot's sensor reading)."""
    return task_name in OBSERVERS or (task_name in PROPRIO and obs != "state")
