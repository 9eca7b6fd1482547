"""Franka pick-cube: the Franka Emika Panda arm (from MuJoCo Menagerie) picks a cube off the table
and carries it to a target point in the air, seeing the scene through a camera on its hand.

Scene (``mujoco.MjSpec`` on Menagerie ``franka_emika_panda/panda.xml``): the arm mounted on the
table top (a checker plane at z = 0), a 4 cm cube with a free joint, the wrist camera ``ego`` on
``hand``, a fixed camera ``track`` for videos, and two geometry-free mocap bodies: ``target`` (the
world's target point) and ``memory`` (whether the gripper has reached the cube this episode).

Definitions from the authors' Franka task (SDPG ``envs/genesis_env/franka.py``,
``cfgs/task/genesis/franka.yaml``; itself MuJoCo Playground's PandaPickCube):
  - physics every 5 ms, control every 10 ms (dt 0.01, 2 substeps); 300 steps (3 s) per episode;
  - start (no reset noise): the arm at the default pose (0, 0.3, 0, -1.571, 0, 2.0, -0.785),
    fingers open (0.04 m), set by the reset (qpos0 keeps Menagerie's zero pose: MuJoCo measures
    hinge and slide angles from it);
    the cube at (0.6, 0, z0) + U([-0.1, -0.1, 0], [0.1, 0.1, 0]), upright; the target at
    (0.6, 0, z0) + U([-0.1, -0.1, 0.2], [0.1, 0.1, 0.4]) with the identity orientation; z0 is the
    cube's resting height;
  - gripper point g = midpoint of the two finger frames + R_hand (0, 0, 0.05); the episode's
    "reached" flag r turns 1 at the first step with |c - g| < 0.02 (c the cube's centre) and stays;
  - reward, the sum of (weight x term):
        4    1 - tanh(5 |c - g|)                                     (reach)
        8    r (1 - tanh(5 (0.9 |p - c| + 0.1 e_rot)))                (cube to target, gated on reaching)
        0.25 1 - f                                                   (no floor collision)
        0.3  1 - tanh(|q_arm - q_default|)                           (arm posture)
        1    r [q_f1 + q_f2 < 0.045]                                 (grasp: reached and fingers closed)
        3    l = [c_z > z0 + 0.04]                                   (lift)
        16   l (1 - tanh(|p - c| / 0.3))                             (target tracking once lifted)
        5    l (1 - tanh(|p - c| / 0.1))                             (fine tracking once lifted)
       -0.01 |a|^2                                                   (action)
    p the target point, e_rot = |R_target[:2] - R_cube[:2]| (first two rows of the rotation
    matrices, flattened), f = 1 when the lowest point of the hand's or a finger's collision
    geometry is at most 1 mm above the table;
  - termination: f = 1, or the cube outside |x|, |y|, |z| <= 1 m, or its centre below the table;
  - actor: proprioception (38) = [arm joint angles (7), finger positions (2), arm joint velocities
    (7), finger velocities (2), gripper point (3), the hand's rotation matrix rows 2-3 (6), joint
    targets - joint positions (8: arm, then gripper target - finger 1), the target point (3)] +
    the wrist camera's frame stack; critic: the proprioception + the cube's position (3),
    quaternion (4), linear velocity (3, world frame) and angular velocity (3, cube frame; MuJoCo's
    free-joint velocity), cube - gripper point (3) and target - cube (3) (57);
  - camera on the hand at (-0.2, 0, -0.05) in the hand frame, looking at (0, 0, 0.1) with the
    hand's x axis up, 60 degree field of view: over the hand, looking past the fingers at their
    workspace.

Per-world memory in mocap positions: the target point is mocap body 0 (``TARGET_BODY``), the
reached flag the x of mocap body 1 (``MEMORY_BODY``). Auxiliary worlds take both with their
nominal's state; a reset draws a new target and clears the flag; the flag advances once per
environment step (:meth:`FrankaPickCube.after_step`), never when an observation is re-evaluated
after a reset. The end effector's pose is the arm's forward kinematics computed in the task kernel
from qpos (``_hand_pose``), so the kernel is a function of (qpos, qvel, action, mocap) alone and
right after a reset too (the Data's body poses are not recomputed there).

Deliberate differences, with reasons:
  - actions are joint position targets around the default pose, default + 1.0 a rad on each arm
    joint (PD servos of Menagerie's gains), and the gripper's target opening 0.04 (a + 1) / 2 m per
    finger, continuous; the authors integrate targets (ctrl += 0.04 a per step) and make the gripper
    binary, forced open until the cube is reached. Absolute targets need no controller memory and
    follow the other Menagerie tasks; 1.0 rad covers every cube and target position with the
    fingers pointing down (at most 0.63 rad from the default pose, damped least-squares IK);
  - the gripper's servo is 10x stiffer than Menagerie's (kp 1000 N/m, kv 100 N s/m on the finger
    tendon, same force limit): Menagerie's squeezes the 4 cm cube with 2 N, and a scripted
    pick-and-place (IK waypoints) dropped it on the way to the target; with 1000 it carries it
    there (tests/test_franka_pick_cube.py);
  - a 4 cm cube (the authors' 8 cm cube is the Panda's full finger opening, 2 x 0.04 m, so it cannot
    enter the open gripper, and fingers closed on it sum to 0.08 > 0.045: their grasp term could
    never pay); friction 1 as theirs; z0 is its resting height 0.02 m (the authors' 0.035 is Playground's 6 cm tall box raised 5 mm);
  - the actor sees the target point (the authors' actor sees none of it; the target is not drawn,
    so without it the actor cannot know where to carry the cube) and the joint targets minus
    positions in place of their integrated controller state;
  - the table is the plane the arm stands on (the authors' ground plane); no self-collisions (the
    robot's geoms collide with the table and the cube only); no visual peach over the cube.
"""

import dataclasses
import functools

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.tasks import register
from sdpg_warp.tasks.base import Task, TaskInputs
from sdpg_warp.tasks.common import guards, rotations, streams
from sdpg_warp.tasks.common.actuators import target_range
from sdpg_warp.tasks.ego import EGO_CAMERA, add_ego_camera, lookat_quat
from sdpg_warp.tasks.menagerie import robot_spec

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ROBOT = "franka_emika_panda"
"""Menagerie registry name of the robot."""
ROBOT_FILE = "panda.xml"
"""Menagerie's Panda with its hand (the file the authors load through Genesis)."""
ARM_JOINTS = tuple(f"joint{i}" for i in range(1, 8))
"""The arm's hinge joints, qpos 0..6, actuators 0..6."""
FINGER_JOINTS = ("finger_joint1", "finger_joint2")
"""The fingers' slide joints, qpos 7..8; actuator 7 drives both (Menagerie's tendon)."""
CHAIN = ("link0",) + tuple(f"link{i}" for i in range(1, 8)) + ("hand",)
"""Bodies from the base to the hand; link i turns about its z axis by qpos[i - 1]."""
FINGERS = ("left_finger", "right_finger")
"""The finger bodies, children of the hand, sliding along their y axis by qpos[7 + k]."""
NUM_ARM = len(ARM_JOINTS)
NUM_ACTIONS = NUM_ARM + 1
DEFAULT_POSE = (0.0, 0.3, 0.0, -1.57079, 0.0, 2.0, -0.7853)
"""Arm joint angles (rad) of the start and of action 0 (the authors' home pose)."""
DEFAULT_POSE_VEC = wp.constant(wp.types.vector(NUM_ARM, dtype=float)(*DEFAULT_POSE))
FINGER_OPEN = 0.04
"""Finger travel (m) of the open gripper (each finger's joint range is [0, 0.04])."""
ARM_ACTION_SCALE = 1.0
"""Arm joint target offset (rad) of action +-1."""
GRIPPER_KP = 1000.0
"""Position gain (N/m) of the gripper's servo on the finger tendon (Menagerie's: 100)."""
GRIPPER_KV = 100.0
"""Its velocity gain (N s/m) (Menagerie's: 10)."""
TIMESTEP = 0.005
"""Physics step (s): 2 per 10 ms control step (the authors' dt 0.01, substeps 2)."""
CUBE_HALF = 0.02
"""Half the cube's edge (m)."""
CUBE_START = (0.6, 0.0, CUBE_HALF)
"""Centre of the cube's start area, the cube resting on the table (z0 = CUBE_HALF)."""
CUBE_START_VEC = wp.constant(wp.vec3(*CUBE_START))
CUBE_RANGE = 0.1
"""The cube's start x and y are CUBE_START's + U(-0.1, 0.1)."""
TARGET_RANGE = 0.1
"""The target's x and y are CUBE_START's + U(-0.1, 0.1)."""
TARGET_HEIGHT = (0.2, 0.4)
"""The target's z is z0 + U(0.2, 0.4)."""
TARGET_LOW = TARGET_HEIGHT[0]
TARGET_SPAN = TARGET_HEIGHT[1] - TARGET_HEIGHT[0]
GRIPPER_OFFSET = (0.0, 0.0, 0.05)
"""Gripper point from the fingers' midpoint, hand frame (m)."""
GRIPPER_OFFSET_VEC = wp.constant(wp.vec3(*GRIPPER_OFFSET))
REACH_DISTANCE = 0.02
"""The gripper point within this of the cube's centre (m) sets the reached flag."""
CLOSED_FINGERS = 0.045
"""Fingers whose positions sum below this (m) count as closed."""
LIFT_HEIGHT = 0.04
"""The cube counts as lifted above z0 + this (m)."""
PLACE_DISTANCE = REACH_DISTANCE
"""The cube's centre within this (m) of the target counts as placed: the reach tolerance."""
METRICS = ("lifted", "placed")
"""The task metrics, each 1 when it happened at any step of the episode (else 0; averaged: a rate):
the cube lifted (its centre above z0 + LIFT_HEIGHT, the lift term's threshold) and placed (its
centre within PLACE_DISTANCE of the target)."""
FLOOR_MARGIN = 0.001
"""Hand or finger geometry this close to the table (m) is a floor collision."""
WORKSPACE = 1.0
"""The episode ends when any coordinate of the cube's centre leaves [-1, 1] m."""
REACH_SHARPNESS = 5.0
"""tanh slope (1/m) of the reach and cube-to-target terms."""
ROT_SHARE = 0.1
"""Share of the orientation error in the cube-to-target term (0.9 the position's)."""
LIFTED_WIDTH = 0.3
"""Distance scale (m) of the lifted target-tracking term."""
FINE_WIDTH = 0.1
"""Distance scale (m) of the fine target-tracking term."""
WEIGHTS = dict(gripper_box=4.0, box_target=8.0, no_floor_collision=0.25, robot_target_qpos=0.3, grasp=1.0,
               lift=3.0, box_target_lifted=16.0, box_target_fine=5.0, action=-0.01)
"""The authors' reward scales, in ``reward_terms`` order."""
(W_REACH, W_BOX_TARGET, W_FLOOR, W_POSTURE, W_GRASP, W_LIFT, W_LIFTED, W_FINE, W_ACTION) = WEIGHTS.values()
PROPRIO_DIM = 2 * (NUM_ARM + 2) + 3 + 6 + NUM_ACTIONS + 3
"""[arm q, finger q, arm qdot, finger qdot, gripper point, hand rotation rows 2-3, targets - q,
target point] = 38."""
PRIVILEGED_DIM = 3 + 4 + 3 + 3 + 3 + 3
"""[cube position, quaternion, linear and angular velocity, cube - gripper, target - cube] = 19."""
CUBE_QPOS = NUM_ARM + 2
"""qpos address of the cube's free joint (position, then quaternion)."""
CUBE_QVEL = NUM_ARM + 2
"""qvel address of the cube's free joint (linear, then angular velocity)."""
TARGET_BODY = 0
"""Mocap id of the target point."""
MEMORY_BODY = 1
"""Mocap id of the memory: x is the reached flag (0 or 1)."""

CAMERA_POS = (-0.2, 0.0, -0.05)
"""Camera position in the hand frame (the authors' wrist mount)."""
CAMERA_LOOKAT = (0.0, 0.0, 0.1)
"""Point the camera looks at, hand frame (between the fingertips)."""
CAMERA_UP = (1.0, 0.0, 0.0)
"""The camera's up direction, hand frame."""
CAMERA_FOVY = 60.0
"""Vertical field of view in degrees."""
TABLE_SIZE = 1.5
"""Half-size (m) of the table plane."""


@wp.func
def _hand_pose(
    worldid: int,
    # In:
    qpos_in: wp.array2d(dtype=float),
    chain_pos_in: wp.array(dtype=wp.vec3),
    chain_quat_in: wp.array(dtype=wp.quat),
) -> wp.transform:
    """World pose of the hand: the chain's fixed offsets, link i turned about z by qpos[i - 1]."""
    pos = wp.vec3(0.0, 0.0, 0.0)
    rot = wp.quat_identity()
    for i in range(chain_pos_in.shape[0]):
        pos = pos + wp.quat_rotate(rot, chain_pos_in[i])
        rot = rot * chain_quat_in[i]
        if i >= 1 and i <= NUM_ARM:
            rot = rot * wp.quat_from_axis_angle(wp.vec3(0.0, 0.0, 1.0), qpos_in[worldid, i - 1])
    return wp.transform(pos, wp.normalize(rot))


@wp.func
def _finger_pose(
    hand: wp.transform,
    travel: float,
    finger_pos: wp.vec3,
    finger_quat: wp.quat,
) -> wp.transform:
    """World pose of a finger frame: its fixed offset on the hand, then ``travel`` along its y axis."""
    rot = wp.transform_get_rotation(hand) * finger_quat
    pos = wp.transform_point(hand, finger_pos) + wp.quat_rotate(rot, wp.vec3(0.0, travel, 0.0))
    return wp.transform(pos, rot)


@wp.func
def _gripper_point(hand: wp.transform, left: wp.transform, right: wp.transform) -> wp.vec3:
    """g = midpoint of the finger frames + R_hand GRIPPER_OFFSET."""
    middle = 0.5 * (wp.transform_get_translation(left) + wp.transform_get_translation(right))
    return middle + wp.quat_rotate(wp.transform_get_rotation(hand), GRIPPER_OFFSET_VEC)


@wp.func
def _reached(flag: float, distance: float) -> float:
    """The episode's reached flag after this step: set at |c - g| < REACH_DISTANCE, never cleared."""
    return wp.where(flag > 0.5 or distance < REACH_DISTANCE, 1.0, 0.0)


@wp.func
def _untanh(x: float) -> float:
    """1 - tanh(x): the authors' shaping of a distance."""
    return 1.0 - wp.tanh(x)


@wp.func
def _box_target(position_error: float, rotation_error: float) -> float:
    """1 - tanh(5 (0.9 |p - c| + 0.1 e_rot))."""
    return _untanh(REACH_SHARPNESS * ((1.0 - ROT_SHARE) * position_error + ROT_SHARE * rotation_error))


@wp.func
def _rotation_error(cube: wp.quat) -> float:
    """e_rot = |R_target[:2] - R_cube[:2]| with the identity target orientation (rows 0 and 1)."""
    m = wp.quat_to_matrix(cube)
    e = float(0.0)
    for i in range(2):
        for j in range(3):
            t = wp.where(i == j, 1.0, 0.0)
            e += (t - m[i, j]) * (t - m[i, j])
    return wp.sqrt(e)


@wp.func
def _lowest_point(
    hand: wp.transform,
    left: wp.transform,
    right: wp.transform,
    # In:
    points_in: wp.array(dtype=wp.vec3),
    point_frame_in: wp.array(dtype=int),
) -> float:
    """Lowest z of the hand's and fingers' collision geometry (their hull vertices and box corners)."""
    lowest = float(1.0e10)
    for k in range(points_in.shape[0]):
        frame = hand
        if point_frame_in[k] == 1:
            frame = left
        elif point_frame_in[k] == 2:
            frame = right
        lowest = wp.min(lowest, wp.transform_point(frame, points_in[k])[2])
    return lowest


@wp.func
def _cube_lost(cube: wp.vec3) -> bool:
    """The cube left the workspace or its centre is below the table."""
    out = wp.abs(cube[0]) > WORKSPACE or wp.abs(cube[1]) > WORKSPACE or wp.abs(cube[2]) > WORKSPACE
    return out or cube[2] < 0.0


@wp.kernel
def _franka_pick_cube_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    chain_pos_in: wp.array(dtype=wp.vec3),
    chain_quat_in: wp.array(dtype=wp.quat),
    finger_pos_in: wp.array(dtype=wp.vec3),
    finger_quat_in: wp.array(dtype=wp.quat),
    points_in: wp.array(dtype=wp.vec3),
    point_frame_in: wp.array(dtype=int),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [proprioception (38), cube state (19)]; terms as WEIGHTS (module docstring)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    hand = _hand_pose(worldid, qpos_in, chain_pos_in, chain_quat_in)
    left = _finger_pose(hand, qpos_in[worldid, NUM_ARM], finger_pos_in[0], finger_quat_in[0])
    right = _finger_pose(hand, qpos_in[worldid, NUM_ARM + 1], finger_pos_in[1], finger_quat_in[1])
    gripper = _gripper_point(hand, left, right)
    cube = wp.vec3(qpos_in[worldid, CUBE_QPOS], qpos_in[worldid, CUBE_QPOS + 1], qpos_in[worldid, CUBE_QPOS + 2])
    cube_quat = rotations.qpos_quat(worldid, CUBE_QPOS + 3, qpos_in)
    target = mocap_pos_in[worldid, TARGET_BODY]
    hand_rot = wp.quat_to_matrix(wp.transform_get_rotation(hand))

    posture = float(0.0)
    action = float(0.0)
    for i in range(NUM_ARM):
        q = qpos_in[worldid, i]
        a = action_in[worldid, i]
        state_out[worldid, i] = q
        state_out[worldid, NUM_ARM + 2 + i] = qvel_in[worldid, i]
        state_out[worldid, 2 * (NUM_ARM + 2) + 9 + i] = DEFAULT_POSE_VEC[i] + ARM_ACTION_SCALE * a - q
        posture += (q - DEFAULT_POSE_VEC[i]) * (q - DEFAULT_POSE_VEC[i])
        action += a * a
    for k in range(2):
        state_out[worldid, NUM_ARM + k] = qpos_in[worldid, NUM_ARM + k]
        state_out[worldid, 2 * NUM_ARM + 2 + k] = qvel_in[worldid, NUM_ARM + k]
    grip = action_in[worldid, NUM_ARM]
    action += grip * grip
    base = 2 * (NUM_ARM + 2)
    for i in range(3):
        state_out[worldid, base + i] = gripper[i]
        state_out[worldid, base + 3 + i] = hand_rot[1, i]
        state_out[worldid, base + 6 + i] = hand_rot[2, i]
        state_out[worldid, PROPRIO_DIM - 3 + i] = target[i]
    state_out[worldid, base + 9 + NUM_ARM] = 0.5 * FINGER_OPEN * (grip + 1.0) - qpos_in[worldid, NUM_ARM]
    for i in range(4):
        state_out[worldid, PROPRIO_DIM + 3 + i] = qpos_in[worldid, CUBE_QPOS + 3 + i]
    for i in range(3):
        state_out[worldid, PROPRIO_DIM + i] = cube[i]
        state_out[worldid, PROPRIO_DIM + 7 + i] = qvel_in[worldid, CUBE_QVEL + i]
        state_out[worldid, PROPRIO_DIM + 10 + i] = qvel_in[worldid, CUBE_QVEL + 3 + i]
        state_out[worldid, PROPRIO_DIM + 13 + i] = cube[i] - gripper[i]
        state_out[worldid, PROPRIO_DIM + 16 + i] = target[i] - cube[i]

    reach_distance = wp.length(cube - gripper)
    target_distance = wp.length(target - cube)
    reached = _reached(mocap_pos_in[worldid, MEMORY_BODY][0], reach_distance)
    floor = _lowest_point(hand, left, right, points_in, point_frame_in) <= FLOOR_MARGIN
    closed = qpos_in[worldid, NUM_ARM] + qpos_in[worldid, NUM_ARM + 1] < CLOSED_FINGERS
    lifted = wp.where(cube[2] > CUBE_START_VEC[2] + LIFT_HEIGHT, 1.0, 0.0)
    terms_out[worldid, 0] = W_REACH * _untanh(REACH_SHARPNESS * reach_distance)
    terms_out[worldid, 1] = W_BOX_TARGET * reached * _box_target(target_distance, _rotation_error(cube_quat))
    terms_out[worldid, 2] = W_FLOOR * wp.where(floor, 0.0, 1.0)
    terms_out[worldid, 3] = W_POSTURE * _untanh(wp.sqrt(posture))
    terms_out[worldid, 4] = W_GRASP * reached * wp.where(closed, 1.0, 0.0)
    terms_out[worldid, 5] = W_LIFT * lifted
    terms_out[worldid, 6] = W_LIFTED * lifted * _untanh(target_distance / LIFTED_WIDTH)
    terms_out[worldid, 7] = W_FINE * lifted * _untanh(target_distance / FINE_WIDTH)
    terms_out[worldid, 8] = W_ACTION * action
    total = float(0.0)
    for k in range(terms_out.shape[1]):
        total += terms_out[worldid, k]
    reward_out[worldid] = total
    terminated_out[worldid] = wp.where(floor or _cube_lost(cube), 1, 0)


@wp.kernel
def _franka_pick_cube_remember(
    # In:
    qpos_in: wp.array2d(dtype=float),
    chain_pos_in: wp.array(dtype=wp.vec3),
    chain_quat_in: wp.array(dtype=wp.quat),
    finger_pos_in: wp.array(dtype=wp.vec3),
    finger_quat_in: wp.array(dtype=wp.quat),
    memory_in: wp.array2d(dtype=wp.vec3),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """One step of a world's memory (``memory_in`` is ``mocap_pos_out`` as it was: each world reads
    and writes its own row only): the reached flag takes this step's distance."""
    worldid = wp.tid()
    hand = _hand_pose(worldid, qpos_in, chain_pos_in, chain_quat_in)
    left = _finger_pose(hand, qpos_in[worldid, NUM_ARM], finger_pos_in[0], finger_quat_in[0])
    right = _finger_pose(hand, qpos_in[worldid, NUM_ARM + 1], finger_pos_in[1], finger_quat_in[1])
    cube = wp.vec3(qpos_in[worldid, CUBE_QPOS], qpos_in[worldid, CUBE_QPOS + 1], qpos_in[worldid, CUBE_QPOS + 2])
    memory = memory_in[worldid, MEMORY_BODY]
    memory[0] = _reached(memory[0], wp.length(cube - _gripper_point(hand, left, right)))
    mocap_pos_out[worldid, MEMORY_BODY] = memory


@wp.kernel
def _franka_pick_cube_measure(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """metrics = (lifted, placed) flags of the episode so far (``METRICS``): once set, they stay
    until the episode ends; ``metrics_in`` is ``metrics_out`` as it was (each world its own row)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.hold_metrics(worldid, episode_step_in, metrics_in, metrics_out)
        return
    cube = wp.vec3(qpos_in[worldid, CUBE_QPOS], qpos_in[worldid, CUBE_QPOS + 1], qpos_in[worldid, CUBE_QPOS + 2])
    lifted = wp.where(cube[2] > CUBE_START_VEC[2] + LIFT_HEIGHT, 1.0, 0.0)
    placed = wp.where(wp.length(mocap_pos_in[worldid, TARGET_BODY] - cube) < PLACE_DISTANCE, 1.0, 0.0)
    metrics_out[worldid, 0] = wp.max(guards.previous_metric(worldid, 0, episode_step_in, metrics_in), lifted)
    metrics_out[worldid, 1] = wp.max(guards.previous_metric(worldid, 1, episode_step_in, metrics_in), placed)


@wp.kernel
def _franka_pick_cube_place(
    # In:
    seed_in: int,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qpos_out: wp.array2d(dtype=float),
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """Masked worlds: the arm at the default pose with the fingers open, the cube at a drawn start
    (upright, at rest on the table), a drawn target, the reached flag cleared. Keyed by (seed,
    world, reset_count)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    for i in range(NUM_ARM):
        qpos_out[worldid, i] = DEFAULT_POSE_VEC[i]
    for k in range(2):
        qpos_out[worldid, NUM_ARM + k] = FINGER_OPEN
    rng = streams.reset_rng(seed_in, reset_count_in[worldid], worldid)
    qpos_out[worldid, CUBE_QPOS] = CUBE_START_VEC[0] + CUBE_RANGE * (2.0 * wp.randf(rng) - 1.0)
    qpos_out[worldid, CUBE_QPOS + 1] = CUBE_START_VEC[1] + CUBE_RANGE * (2.0 * wp.randf(rng) - 1.0)
    qpos_out[worldid, CUBE_QPOS + 2] = CUBE_START_VEC[2]
    qpos_out[worldid, CUBE_QPOS + 3] = 1.0
    for i in range(3):
        qpos_out[worldid, CUBE_QPOS + 4 + i] = 0.0
    tx = CUBE_START_VEC[0] + TARGET_RANGE * (2.0 * wp.randf(rng) - 1.0)
    ty = CUBE_START_VEC[1] + TARGET_RANGE * (2.0 * wp.randf(rng) - 1.0)
    tz = CUBE_START_VEC[2] + TARGET_LOW + TARGET_SPAN * wp.randf(rng)
    mocap_pos_out[worldid, TARGET_BODY] = wp.vec3(tx, ty, tz)
    mocap_pos_out[worldid, MEMORY_BODY] = wp.vec3(0.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class _Constants:
    """The arm's kinematic constants on one device, allocated once, so a recorded graph keeps valid
    addresses."""

    chain_pos: wp.array
    """[9] vec3 offset of each CHAIN body in its parent's frame."""
    chain_quat: wp.array
    """[9] Warp quat (x, y, z, w) of each CHAIN body in its parent's frame."""
    finger_pos: wp.array
    """[2] vec3 offsets of the finger frames in the hand frame."""
    finger_quat: wp.array
    """[2] Warp quats of the finger frames in the hand frame."""
    points: wp.array
    """[P] vec3 collision points (``collision_points``) in their frame."""
    point_frame: wp.array
    """[P] int32 frame of each point: 0 hand, 1 left finger, 2 right finger."""


def _warp_quat(quat_wxyz) -> tuple:
    """MuJoCo (w, x, y, z) to Warp's (x, y, z, w) order."""
    return (quat_wxyz[1], quat_wxyz[2], quat_wxyz[3], quat_wxyz[0])


@functools.cache
def _constants(device: str) -> _Constants:
    mjm = FrankaPickCube().mj_model()
    chain = [mjm.body(name).id for name in CHAIN]
    fingers = [mjm.body(name).id for name in FINGERS]
    points, frames = collision_points(mjm)
    return _Constants(
        chain_pos=wp.array(mjm.body_pos[chain], dtype=wp.vec3, device=device),
        chain_quat=wp.array([_warp_quat(mjm.body_quat[b]) for b in chain], dtype=wp.quat, device=device),
        finger_pos=wp.array(mjm.body_pos[fingers], dtype=wp.vec3, device=device),
        finger_quat=wp.array([_warp_quat(mjm.body_quat[b]) for b in fingers], dtype=wp.quat, device=device),
        points=wp.array(points, dtype=wp.vec3, device=device),
        point_frame=wp.array(frames, dtype=int, device=device))


def collision_points(mjm: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray]:
    """([P, 3] points, [P] frame) whose lowest z is that of the hand's and fingers' collision geoms:
    the convex-hull vertices of each mesh (the lowest point of a convex body is one of them) and
    the corners of each box, in their body's frame; frame 0 the hand, 1 and 2 the fingers."""
    bodies = [mjm.body(name).id for name in ("hand",) + FINGERS]
    points, frames = [], []
    for g in range(mjm.ngeom):
        body = mjm.geom_bodyid[g]
        if body not in bodies or not (mjm.geom_contype[g] or mjm.geom_conaffinity[g]):
            continue
        if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = mjm.geom_dataid[g]
            graph = mjm.mesh_graphadr[mesh]
            if graph < 0:
                raise ValueError(f"{ROBOT_FILE}: collision mesh {mjm.mesh(mesh).name} has no convex hull")
            count = mjm.mesh_graph[graph]
            ids = mjm.mesh_graph[graph + 2 + count:graph + 2 + 2 * count]
            local = mjm.mesh_vert[mjm.mesh_vertadr[mesh] + ids].astype(np.float64)
        elif mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
            signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
            local = signs * mjm.geom_size[g]
        else:
            raise ValueError(f"{ROBOT_FILE}: collision geom {g} of body {mjm.body(body).name} is neither mesh nor box")
        rot = np.zeros(9)
        mujoco.mju_quat2Mat(rot, mjm.geom_quat[g])
        points.append(mjm.geom_pos[g] + local @ rot.reshape(3, 3).T)
        frames.append(np.full(len(local), bodies.index(body), dtype=np.int32))
    return np.concatenate(points), np.concatenate(frames)


def _table(spec: mujoco.MjSpec) -> None:
    """The table top: a checker plane at z = 0 under the arm."""
    spec.add_texture(name="table", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.55, 0.45, 0.35], rgb2=[0.45, 0.36, 0.28], width=256, height=256)
    spec.add_material(name="table", textures=["", "table"], texrepeat=[8, 8])
    spec.worldbody.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[TABLE_SIZE, TABLE_SIZE, 0.05],
                            material="table")


def _servos(spec: mujoco.MjSpec) -> None:
    """Arm actuators (Menagerie's PD position servos) take targets default +- ARM_ACTION_SCALE; the
    gripper's keeps its range (0..255 for 0..0.04 m per finger) with the gains GRIPPER_KP, GRIPPER_KV."""
    actuators = [actuator for actuator in spec.actuators]
    targets = [actuator.target for actuator in actuators]
    if targets[:NUM_ARM] != list(ARM_JOINTS) or len(actuators) != NUM_ACTIONS:
        raise ValueError(f"{ROBOT_FILE}: actuators {targets} are not the arm's {list(ARM_JOINTS)} plus the gripper")
    for actuator, default in zip(actuators, DEFAULT_POSE):
        target_range(actuator, default, ARM_ACTION_SCALE)
    gripper = actuators[NUM_ARM]
    scale = GRIPPER_KP / -gripper.biasprm[1]
    gripper.gainprm[0] *= scale
    gripper.biasprm[1] *= scale
    gripper.biasprm[2] = -GRIPPER_KV


@register
@dataclasses.dataclass(frozen=True)
class FrankaPickCube(Task):
    name = "franka_pick_cube"
    xml_file = ROBOT_FILE
    menagerie_robot = ROBOT
    menagerie_files = (ROBOT_FILE,)
    state_dim = PROPRIO_DIM + PRIVILEGED_DIM
    proprio_dim = PROPRIO_DIM
    camera = EGO_CAMERA
    reward_terms = tuple(WEIGHTS)
    metric_names = METRICS
    _kernel = _franka_pick_cube_evaluate
    # Measured in C MuJoCo (tools/contact_budget.py --task franka_pick_cube --steps 3000: uniform and
    # +-1 random actions, with and without termination, plus the cube held in the closing gripper
    # and pressed into the table): at most 53 contacts and 213 constraint rows, no blow-up (190
    # episodes; 59 and 237 in an earlier run with Menagerie's softer gripper servo). Budget: 2x the
    # larger, plus one row per limited joint.
    max_contacts = 2 * 59
    max_constraints = 2 * 237 + NUM_ARM + 2
    solver_iterations = 15  # measured max 7 (bench/solver_iterations.py)

    frame_skip: int = 2
    episode_length: int = 300
    reset_noise_qpos: float = 0.0
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """The Panda from Menagerie on the table with the cube, target and memory bodies and the
        wrist camera. qpos0 keeps Menagerie's zero arm pose: MuJoCo measures hinge and slide angles
        from qpos0, so the default pose is set by the reset (:meth:`reset_scene`), not there.
        Raises :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the robot is not available."""
        spec = robot_spec(ROBOT, ROBOT_FILE)
        spec.option.timestep = TIMESTEP
        for key in list(spec.keys):  # Menagerie's keyframe has no cube
            spec.delete(key)
        for geom in spec.geoms:  # no self-collision: the robot's geoms collide with the table and the cube only
            if geom.contype:
                geom.conaffinity = 0
        _table(spec)
        spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
        spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
        cube = spec.worldbody.add_body(name="cube", pos=list(CUBE_START))
        cube.add_freejoint(name="cube")
        cube.add_geom(name="cube", type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF] * 3, rgba=[0.85, 0.15, 0.1, 1.0],
                      friction=[1.0, 0.005, 0.0001])
        spec.worldbody.add_body(name="target", mocap=True, pos=[CUBE_START[0], CUBE_START[1], CUBE_START[2] + 0.3])
        spec.worldbody.add_body(name="memory", mocap=True)
        _servos(spec)
        add_ego_camera(spec.body("hand"), CAMERA_POS, CAMERA_LOOKAT, CAMERA_FOVY, mujoco.mjtCamLight.mjCAMLIGHT_FIXED,
                       up=CAMERA_UP)
        track_pos = [1.5, -1.1, 0.9]
        spec.worldbody.add_camera(name="track", pos=track_pos, quat=list(lookat_quat(track_pos, [0.45, 0.0, 0.2])),
                                  fovy=50.0)
        spec.stat.extent = 1.0
        mjm = spec.compile()
        for i, name in enumerate(ARM_JOINTS + FINGER_JOINTS):
            joint = mjm.joint(name)
            if joint.qposadr[0] != i or joint.dofadr[0] != i:
                raise ValueError(f"{ROBOT_FILE}: {name} is not joint {i}")
        chain = [mjm.body(name).id for name in CHAIN]
        for i, name in enumerate(ARM_JOINTS):
            joint = mjm.joint(name)
            if (joint.bodyid[0] != chain[i + 1] or joint.type[0] != mujoco.mjtJoint.mjJNT_HINGE
                    or np.any(joint.pos != 0.0) or np.any(joint.axis != [0.0, 0.0, 1.0])):
                raise ValueError(f"{ROBOT_FILE}: {name} is not a z hinge at the origin of {CHAIN[i + 1]}")
        if any(mjm.body_parentid[chain[i + 1]] != chain[i] for i in range(len(chain) - 1)) or mjm.body_parentid[chain[0]]:
            raise ValueError(f"{ROBOT_FILE}: the bodies {CHAIN} are not a chain from the world")
        for k, name in enumerate(FINGERS):
            joint = mjm.joint(FINGER_JOINTS[k])
            if (mjm.body_parentid[mjm.body(name).id] != chain[-1] or joint.type[0] != mujoco.mjtJoint.mjJNT_SLIDE
                    or np.any(joint.axis != [0.0, 1.0, 0.0])):
                raise ValueError(f"{ROBOT_FILE}: {name} does not slide along y on the hand")
        if mjm.joint("cube").qposadr[0] != CUBE_QPOS or mjm.joint("cube").dofadr[0] != CUBE_QVEL:
            raise ValueError("the cube's free joint does not follow the robot's joints")
        if mjm.body_mocapid[mjm.body("target").id] != TARGET_BODY or mjm.body_mocapid[mjm.body("memory").id] != MEMORY_BODY:
            raise ValueError("the target and memory bodies are not mocap bodies 0 and 1")
        if np.any(mjm.qpos0[:NUM_ARM + 2] != 0.0):
            raise ValueError(f"{ROBOT_FILE}: the arm's reference pose (qpos0) is not zero, as the task's kinematics take it")
        return mjm

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs; ``inputs.mocap_pos`` holds the target and the memory."""
        qpos = inputs.qpos
        c = _constants(str(qpos.device))
        wp.launch(
            self._kernel,
            dim=qpos.shape[0],
            inputs=[qpos, inputs.qvel, inputs.mocap_pos, c.chain_pos, c.chain_quat, c.finger_pos, c.finger_quat, c.points,
                    c.point_frame, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        with nvtx_range("task.franka_measure"):
            wp.launch(_franka_pick_cube_measure, dim=d.qpos.shape[0],
                      inputs=[d.qpos, d.qvel, d.mocap_pos, episode_step, metrics], outputs=[metrics],
                      device=d.qpos.device)

    def after_step(self, d, inputs) -> None:
        """Advances every world's reached flag by the step just evaluated (module docstring)."""
        with nvtx_range("task.franka_memory"):
            c = _constants(str(d.qpos.device))
            wp.launch(_franka_pick_cube_remember, dim=d.qpos.shape[0],
                      inputs=[d.qpos, c.chain_pos, c.chain_quat, c.finger_pos, c.finger_quat, d.mocap_pos],
                      outputs=[d.mocap_pos], device=d.qpos.device)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        with nvtx_range("task.place_cube"):
            wp.launch(_franka_pick_cube_place, dim=d.qpos.shape[0],
                      inputs=[seed + streams.FRANKA_SCENE, mask, reset_count],
                      outputs=[d.qpos, d.mocap_pos], device=mask.device)

    def reference(self, world):
        """NumPy reference for one world from C MuJoCo's kinematics (``mj_kinematics`` on the task's
        model; every collision vertex of the hand and fingers): (obs, terms, terminated);
        ``world.mocap_pos`` [nmocap, 3] holds the target and the memory. The reward is sum(terms)."""
        qpos, qvel, action, mocap_pos = world.qpos, world.qvel, world.action, world.mocap_pos
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        mjm = _reference_model()
        data = mujoco.MjData(mjm)
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mjm, data)
        hand = mjm.body("hand").id
        hand_rot = data.xmat[hand].reshape(3, 3)
        fingers = [data.xpos[mjm.body(name).id] for name in FINGERS]
        gripper = 0.5 * (fingers[0] + fingers[1]) + hand_rot @ np.array(GRIPPER_OFFSET)
        cube = qpos[CUBE_QPOS:CUBE_QPOS + 3]
        cube_rot = rotations.np_quat_to_mat(qpos[CUBE_QPOS + 3:CUBE_QPOS + 7])
        target = mocap_pos[TARGET_BODY]
        arm, fingers_q = qpos[:NUM_ARM], qpos[NUM_ARM:NUM_ARM + 2]
        targets = np.concatenate([np.array(DEFAULT_POSE) + ARM_ACTION_SCALE * action[:NUM_ARM],
                                  [0.5 * FINGER_OPEN * (action[NUM_ARM] + 1.0)]])
        obs = np.concatenate([
            arm, fingers_q, qvel[:NUM_ARM + 2], gripper, hand_rot[1:].reshape(-1),
            targets - qpos[:NUM_ACTIONS], target,
            cube, qpos[CUBE_QPOS + 3:CUBE_QPOS + 7], qvel[CUBE_QVEL:CUBE_QVEL + 6], cube - gripper, target - cube,
        ])
        reach = np.linalg.norm(cube - gripper)
        to_target = np.linalg.norm(target - cube)
        reached = float(mocap_pos[MEMORY_BODY, 0] > 0.5 or reach < REACH_DISTANCE)
        rotation_error = np.linalg.norm(np.eye(3)[:2] - cube_rot[:2])
        floor = _np_lowest_point(mjm, data) <= FLOOR_MARGIN
        lifted = float(cube[2] > CUBE_START[2] + LIFT_HEIGHT)
        raw = np.array([
            1.0 - np.tanh(REACH_SHARPNESS * reach),
            reached * (1.0 - np.tanh(REACH_SHARPNESS * ((1 - ROT_SHARE) * to_target + ROT_SHARE * rotation_error))),
            0.0 if floor else 1.0,
            1.0 - np.tanh(np.linalg.norm(arm - np.array(DEFAULT_POSE))),
            reached * float(fingers_q.sum() < CLOSED_FINGERS),
            lifted,
            lifted * (1.0 - np.tanh(to_target / LIFTED_WIDTH)),
            lifted * (1.0 - np.tanh(to_target / FINE_WIDTH)),
            np.sum(action ** 2),
        ])
        terms = np.array(list(WEIGHTS.values())) * raw
        lost = bool(np.any(np.abs(cube) > WORKSPACE) or cube[2] < 0.0)
        return obs, terms, bool(floor or lost)

    def reference_measure(self, qpos, qvel, mocap_pos, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world: [lifted, placed]; ``previous`` the
        metrics before the step, ``episode_step`` the steps before it."""
        before = np.zeros(2) if episode_step == 0 else np.array(previous, dtype=np.float64)
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return before
        cube = qpos[CUBE_QPOS:CUBE_QPOS + 3]
        now = [cube[2] > CUBE_START[2] + LIFT_HEIGHT, np.linalg.norm(mocap_pos[TARGET_BODY] - cube) < PLACE_DISTANCE]
        return np.maximum(before, np.array(now, dtype=np.float64))

    def reference_after_step(self, qpos, mocap_pos) -> np.ndarray:
        """NumPy reference of :meth:`after_step` for one world: its [nmocap, 3] mocap positions after."""
        mjm = _reference_model()
        obs, _, _ = self.reference(TaskInputs(qpos, np.zeros(mjm.nv), np.zeros(NUM_ACTIONS), mocap_pos, None, None,
                                              None, None))
        distance = np.linalg.norm(obs[PROPRIO_DIM + 13:PROPRIO_DIM + 16])
        out = mocap_pos.copy()
        out[MEMORY_BODY, 0] = float(mocap_pos[MEMORY_BODY, 0] > 0.5 or distance < REACH_DISTANCE)
        return out


def start_qpos(mjm: mujoco.MjModel) -> np.ndarray:
    """The reset's qpos short of its draws: the default arm pose, fingers open, the cube upright at
    the centre of its start area."""
    qpos = mjm.qpos0.copy()
    qpos[:NUM_ARM] = DEFAULT_POSE
    qpos[NUM_ARM:NUM_ARM + 2] = FINGER_OPEN
    qpos[CUBE_QPOS:CUBE_QPOS + 7] = CUBE_START + (1.0, 0.0, 0.0, 0.0)
    return qpos


def np_sample_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Host twin of the reset's draws (another generator): (cube centre, target point)."""
    cube = np.array(CUBE_START) + [rng.uniform(-CUBE_RANGE, CUBE_RANGE), rng.uniform(-CUBE_RANGE, CUBE_RANGE), 0.0]
    target = np.array(CUBE_START) + [rng.uniform(-TARGET_RANGE, TARGET_RANGE), rng.uniform(-TARGET_RANGE, TARGET_RANGE),
                                     rng.uniform(*TARGET_HEIGHT)]
    return cube, target


@functools.cache
def _reference_model() -> mujoco.MjModel:
    """The task's C MuJoCo model, built once for the NumPy reference."""
    return FrankaPickCube().mj_model()


def _np_lowest_point(mjm: mujoco.MjModel, data: mujoco.MjData) -> float:
    """Lowest world z over every vertex of the hand's and fingers' collision meshes and every corner
    of their boxes, from C MuJoCo's geom poses (kinematics done)."""
    bodies = [mjm.body(name).id for name in ("hand",) + FINGERS]
    lowest = np.inf
    for g in range(mjm.ngeom):
        if mjm.geom_bodyid[g] not in bodies or not (mjm.geom_contype[g] or mjm.geom_conaffinity[g]):
            continue
        if mjm.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH:
            mesh = mjm.geom_dataid[g]
            local = mjm.mesh_vert[mjm.mesh_vertadr[mesh]:mjm.mesh_vertadr[mesh] + mjm.mesh_vertnum[mesh]]
        else:
            local = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * mjm.geom_size[g]
        world = data.geom_xpos[g] + local @ data.geom_xmat[g].reshape(3, 3).T
        lowest = min(lowest, world[:, 2].min())
    return float(lowest)
