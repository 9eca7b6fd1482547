"""Pieces shared by the SHAC-style locomotion tasks: torso frame and reward terms (the guards that every
task kernel runs live in :mod:`sdpg_warp.tasks.common`).

Each equation is a ``@wp.func`` for the task kernels, with a NumPy twin (``np_*``) for the task
references the tests compare against. MuJoCo conventions: a free joint's qpos is
[position (3), quaternion w x y z (4)] and its qvel is [linear velocity of the body origin in the
world frame (3), angular velocity in the body frame (3)]. The target direction is +x, the world
is z-up.
"""

import os
from typing import Any

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.tasks.base import ASSET_DIR
from sdpg_warp.tasks.common import guards, rewards, rotations

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

HEIGHT_PENALTY = 200.0
"""Below its target the shaped height reward is -HEIGHT_PENALTY * d^2 (SHAC)."""
HEIGHT_CLIP_LOW = -1.0
"""Lower clip of the height difference d in the shaped height reward (SHAC)."""


@wp.func
def up_projection(quat: wp.quat) -> float:
    """up = (R(q) e_z) . e_z: cosine of the torso's tilt from vertical (1 upright, -1 upside down)."""
    return wp.quat_rotate(quat, wp.vec3(0.0, 0.0, 1.0))[2]


@wp.func
def heading_projection(quat: wp.quat) -> float:
    """heading = (R(q) e_x) . e_x: the torso's forward axis projected on the target direction +x."""
    return wp.quat_rotate(quat, wp.vec3(1.0, 0.0, 0.0))[0]


@wp.func
def progress(worldid: int, qvel_in: wp.array2d(dtype=float)) -> float:
    """progress = v_x = qvel[0]: the rootx rate (planar robots) or the free joint's world x velocity."""
    return qvel_in[worldid, 0]


@wp.func
def shaped_height(height: float, target: float, clip_high: float, scale: float) -> float:
    """SHAC height reward: d = clip(height - target, -1, clip_high); -200 d^2 if d < 0, else scale * d."""
    d = wp.clamp(height - target, HEIGHT_CLIP_LOW, clip_high)
    if d < 0.0:
        return -HEIGHT_PENALTY * d * d
    return scale * d


@wp.func
def planar_observation(
    worldid: int,
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
):
    """obs = [qpos[1:], qvel] of a planar robot (hopper, walker): everything but the forward
    position rootx, which no reward or termination depends on."""
    nq = qpos_in.shape[1]
    for i in range(nq - 1):
        state_out[worldid, i] = qpos_in[worldid, 1 + i]
    for i in range(qvel_in.shape[1]):
        state_out[worldid, nq - 1 + i] = qvel_in[worldid, i]


def floating_base_evaluate(joint_order: Any, joint_vel_scale: float, up_weight: float, height_reward: Any,
                           terminated: Any, action_penalty: float) -> wp.Kernel:
    """The task kernel of a free-joint robot running along +x (ant, humanoid).

    obs = :func:`floating_base_observation`; terms = (progress, up_weight * up, heading,
    height_reward(z)) and, when ``action_penalty`` is not 0, action_penalty * sum(a^2);
    terminated = terminated(z). ``height_reward`` and ``terminated`` are ``@wp.func``s of the torso
    height; ``joint_order`` as in :func:`floating_base_observation`.
    """
    with_action = action_penalty != 0.0

    @wp.kernel(enable_backward=False, module="unique")
    def _floating_base_evaluate(
        # In:
        qpos_in: wp.array2d(dtype=float),
        qvel_in: wp.array2d(dtype=float),
        action_in: wp.array2d(dtype=float),
        # Out:
        state_out: wp.array2d(dtype=float),
        terms_out: wp.array2d(dtype=float),
        reward_out: wp.array(dtype=float),
        terminated_out: wp.array(dtype=int),
    ):
        worldid = wp.tid()
        if not guards.state_is_finite(worldid, qpos_in, qvel_in):
            guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
            return
        floating_base_observation(worldid, joint_vel_scale, joint_order, qpos_in, qvel_in, action_in, state_out)
        quat = rotations.qpos_quat(worldid, 3, qpos_in)
        height = qpos_in[worldid, 2]
        terms_out[worldid, 0] = progress(worldid, qvel_in)
        terms_out[worldid, 1] = up_weight * up_projection(quat)
        terms_out[worldid, 2] = heading_projection(quat)
        terms_out[worldid, 3] = height_reward(height)
        if wp.static(with_action):
            terms_out[worldid, 4] = rewards.action_cost(worldid, action_penalty, action_in)
        rewards.write_reward(worldid, terms_out, reward_out)
        terminated_out[worldid] = wp.where(terminated(height), 1, 0)

    return _floating_base_evaluate


def hinge_offsets(xml_file: str, joint_names: tuple[str, ...]) -> tuple[int, ...]:
    """Offset k of each named hinge of a free-joint robot (its angle is qpos[7 + k], its rate qvel[6 + k])."""
    mjm = mujoco.MjModel.from_xml_path(os.path.join(ASSET_DIR, xml_file))
    offsets = []
    for name in joint_names:
        joint = mjm.joint(name)
        if joint.type[0] != mujoco.mjtJoint.mjJNT_HINGE or joint.qposadr[0] - 7 != joint.dofadr[0] - 6:
            raise ValueError(f"{xml_file}: {name} is not a hinge after the free joint")
        offsets.append(int(joint.qposadr[0]) - 7)
    return tuple(offsets)


@wp.func
def floating_base_observation(
    worldid: int,
    joint_vel_scale: float,
    joint_order: Any,
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
):
    """Privileged obs (3n + 13) of a robot on a free joint with n actuated hinges (SHAC ant / humanoid).

    obs = [z (1), q_wxyz (4), v (3), R(q) w (3), joint q (n), joint_vel_scale * joint qd (n),
           up (1), heading (1), a (n)]
    z: torso height; q: torso quaternion as in qpos; v: world velocity of the torso origin
    (qvel[0:3]); R(q) w: the torso angular velocity turned from the body frame (qvel[3:6]) into
    the world frame, as SHAC observes it; up, heading: the projections above; a: the applied action.
    Joints are in motor order: entry i is the hinge of motor i, at offset joint_order[i] (an int
    vector of length n, from :func:`hinge_offsets`), i.e. qpos[7 + joint_order[i]].
    """
    n = action_in.shape[1]
    quat = rotations.qpos_quat(worldid, 3, qpos_in)
    omega = wp.quat_rotate(quat, wp.vec3(qvel_in[worldid, 3], qvel_in[worldid, 4], qvel_in[worldid, 5]))
    state_out[worldid, 0] = qpos_in[worldid, 2]
    for i in range(4):
        state_out[worldid, 1 + i] = qpos_in[worldid, 3 + i]
    for i in range(3):
        state_out[worldid, 5 + i] = qvel_in[worldid, i]
        state_out[worldid, 8 + i] = omega[i]
    for i in range(n):
        k = joint_order[i]
        state_out[worldid, 11 + i] = qpos_in[worldid, 7 + k]
        state_out[worldid, 11 + n + i] = joint_vel_scale * qvel_in[worldid, 6 + k]
        state_out[worldid, 13 + 2 * n + i] = action_in[worldid, i]
    state_out[worldid, 11 + 2 * n] = up_projection(quat)
    state_out[worldid, 12 + 2 * n] = heading_projection(quat)


def np_shaped_height(height: float, target: float, clip_high: float, scale: float) -> float:
    """NumPy twin of :func:`shaped_height`."""
    d = np.clip(height - target, HEIGHT_CLIP_LOW, clip_high)
    return -HEIGHT_PENALTY * d * d if d < 0.0 else scale * d


def np_floating_base_observation(
    qpos: np.ndarray, qvel: np.ndarray, action: np.ndarray, joint_vel_scale: float, joint_order: tuple[int, ...]
) -> np.ndarray:
    """NumPy twin of :func:`floating_base_observation`."""
    rot = rotations.np_quat_to_mat(qpos[3:7])
    order = np.asarray(joint_order)
    return np.concatenate(
        [
            qpos[2:3],
            qpos[3:7],
            qvel[0:3],
            rot @ qvel[3:6],
            qpos[7 + order],
            joint_vel_scale * qvel[6 + order],
            [rot[2, 2], rot[0, 0]],
            action,
        ]
    )
