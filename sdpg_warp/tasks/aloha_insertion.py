"""ALOHA peg insertion: two ViperX arms (the bimanual ALOHA from MuJoCo Menagerie) pick up a peg
and a socket from the table, lift them, and push the peg into the socket, seen through a camera on
each wrist and one on the table.

Scene (``mujoco.MjSpec`` on Menagerie ``aloha/aloha.xml`` with its ``table.xml``, ``peg.xml`` and
``socket.xml`` attached): the table top is the plane z = 0 (the table's collision plane), the peg
(a 9.6 x 3 x 3 cm box) and the socket (a square tube of four walls with a back wall) each on a free
joint, the cameras ``table`` (the actor's first), ``wrist_left`` and ``wrist_right`` (the actor's
others, ``Task.cameras``) and ``track`` (third-person, for videos).

Definitions from the authors' ALOHA task (SDPG ``envs/genesis_env/aloha_insertion.py``,
``cfgs/task/genesis/aloha_insertion.yaml``; itself MuJoCo Playground's AlohaSinglePegInsertion):
  - control every 10 ms, physics every 2.5 ms (dt 0.01, 4 substeps); episodes of 2.5 s (250 steps);
  - start: both arms at the authors' default pose (``DEFAULT_POSE``), fingers 0.0305 m open; the peg
    at (0.136, 0, 0.016) and the socket at (-0.147, 0, 0.023), each + U(-0.1, 0.1) m in x and y,
    upright, at rest; no noise elsewhere;
  - arm servos: Menagerie's gains (the authors' kp 43 / 265 / 227 / 78 / 37 / 10.4 and joint damping),
    the authors' force limits (35 / 144 / 59 / 22 / 35 / 35 N m); gripper servo kp 1200 N/m, finger
    damping 60 N s/m, force limit 80 N, control range [0.002, 0.037] m;
  - tolerance shaping t(x; [lo, hi], margin) = 1 inside [lo, hi], else, with d the distance to the
    nearer bound over the margin, max(1 - 0.9 d, 0) (linear) or 0.1^(d^2) (gaussian);
  - reward, the sum of (weight x term), with g_l, g_r the gripper sites, s and p the socket's and
    peg's body positions, e the peg's far end (``peg_end2``), r the socket's rear site, a the
    socket's axis from r to its entrance site:
        1    t(|s - g_l|; [0, 0.001], 0.3, linear)                  (left arm reaches the socket)
        1    t(|p - g_r|; [0, 0.001], 0.3, linear)                  (right arm reaches the peg)
        0.3  t(|q_left - q_default|; [0, 0.01], 2, gaussian)       (left posture, 6 arm joints)
        0.3  t(|q_right - q_default|; [0, 0.01], 2, gaussian)      (right posture)
        0.3  1 - [a finger touches the table]                       (no table collision)
        4    L_s = t(|(-0.05, 0, 0.15) - s|; [0, 0.01], 0.15, linear) (socket lifted to its goal)
        4    L_p = t(|(0.05, 0, 0.15) - p|; [0, 0.01], 0.15, linear)  (peg lifted to its goal)
        0.5  t(R_s[2, 2]; [0.99, 1], 0.03, linear) L_s              (socket upright, once lifted)
        0.5  t(R_p[2, 2]; [0.99, 1], 0.03, linear) L_p              (peg upright, once lifted)
        8    [dist(e, line r + t a) < 0.005] t(|e - r|; [0, 0.001], 0.1, linear) (peg inserted)
    R the rotation matrices (R[2, 2] the z component of the body's z axis);
  - termination: any coordinate of the peg's or the socket's position beyond 1 m;
  - actor: proprioception (52) = [16 robot joint positions (12 arm, then both fingers of the left
    gripper, both of the right; in qpos order: left arm, left fingers, right arm, right fingers),
    their 16 velocities, joint targets - positions (14: 12 arm, then each gripper's target - its
    first finger), left and right gripper sites (6)] + the three cameras' RGB images; critic: the
    proprioception + the peg's position (3) and quaternion (4), the socket's (7), the peg's and
    socket's free-joint velocities (12), the socket entrance and peg end2 sites (6), and the world's
    z axis in the socket's and the peg's frame (6) (90, as the authors');
  - cameras: ``table`` at the table's low front mount (Menagerie's worms-eye pose), looking across
    the table, 80 degree field of view (the authors' table camera); ``wrist_left`` / ``wrist_right``
    on each gripper link at (0.0254, 0, 0.0825) looking at (0.9317, 0, -0.3401) (the link frame),
    60 degrees; 64 x 64 pixels, no frame stacking (the authors': ``sdpg_warp/tasks/defaults.py``).

Body poses: the sites and the contacts come from the Data (``reads_body_poses``: the simulator runs
the kinematics of the final state; the table contact is the last physics step's, as the authors'
note theirs is).

Deliberate differences, with reasons:
  - actions are joint position targets around the default pose, default + s a on each arm joint,
    s = min(1 rad, the distance from the default to either joint limit) (symmetric, so action 0
    holds the default pose; the elbow's is 0.656 rad), and each gripper's target over its control
    range; the authors integrate targets (ctrl += 0.02 a per step). Absolute targets need no
    controller memory and follow the other Menagerie tasks; reaching any start position of the peg
    or socket, and the lift goals, needs at most 0.55 rad of any arm joint (damped least-squares IK
    over 200 draws);
  - the fingers', peg's and socket's friction stays Menagerie's (the authors raise it to 4 because
    their simulator has no torsional friction; MuJoCo's condim 4 contacts have it);
  - the goal terms measure the socket's and the peg's body positions, as the authors' code does
    (Playground's names speak of the socket entrance and the peg end).
"""

import dataclasses
import functools

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.tasks import register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import contacts, guards, rewards, rotations, streams
from sdpg_warp.tasks.ego import lookat_quat
from sdpg_warp.tasks.menagerie import robot_spec

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ROBOT = "aloha"
"""Menagerie registry name of the robot."""
ROBOT_FILE = "aloha.xml"
"""The two arms; ``SCENE_FILES`` are attached to it."""
SCENE_FILES = ("table", "peg", "socket")
"""Files beside the robot's, attached with their name as prefix (``table/``, ``peg/``, ``socket/``)."""
ARMS = ("left", "right")
ARM_JOINTS = ("waist", "shoulder", "elbow", "forearm_roll", "wrist_angle", "wrist_rotate")
NUM_ARM = len(ARM_JOINTS)
NUM_ROBOT_Q = 2 * (NUM_ARM + 2)
"""Robot qpos (and qvel) entries: per arm its 6 joints, then its two fingers."""
NUM_ACTIONS = 2 * (NUM_ARM + 1)
"""Per arm: 6 joint targets, then its gripper's."""
DEFAULT_POSE = (0.083383, -0.122008, 0.950168, 0.108187, -0.869224, -0.0731298,
                -0.0862348, -0.109522, 0.949474, -0.113041, -0.887378, 0.0754333)
"""Arm joint angles (rad) of the start and of action 0, left arm then right (the authors')."""
FINGER_START = 0.0305
"""Finger opening (m) at the start."""
GRIPPER_RANGE = (0.002, 0.037)
"""The gripper servo's target range (m): closed, open."""
ARM_ACTION_SCALE = 1.0
"""Largest arm joint target offset (rad) of action +-1 (smaller where a joint limit is nearer)."""
ARM_FORCE = (35.0, 144.0, 59.0, 22.0, 35.0, 35.0)
"""Arm joint force limits (N m), per arm (the authors')."""
GRIPPER_KP = 1200.0
"""Position gain (N/m) of the gripper servo (Menagerie's: 365)."""
FINGER_DAMPING = 60.0
"""Finger joint damping (N s/m) (Menagerie's: 40)."""
GRIPPER_FORCE = 80.0
"""Gripper force limit (N)."""
TIMESTEP = 0.0025
"""Physics step (s): 4 per 10 ms control step."""
PEG_START = (0.136459, 0.0, 0.0157945)
"""The peg's start position (m) before the draw."""
SOCKET_START = (-0.146984, 0.0, 0.0227945)
"""The socket's start position (m) before the draw."""
START_RANGE = 0.1
"""The peg's and socket's start x and y are their start's + U(-0.1, 0.1) m."""
SOCKET_GOAL = (-0.05, 0.0, 0.15)
"""Where the socket should be lifted to (m)."""
SOCKET_GOAL_VEC = wp.constant(wp.vec3(*SOCKET_GOAL))
PEG_GOAL = (0.05, 0.0, 0.15)
"""Where the peg should be lifted to (m)."""
PEG_GOAL_VEC = wp.constant(wp.vec3(*PEG_GOAL))
VALUE_AT_MARGIN = 0.1
"""A tolerance term's value at its margin."""
WORKSPACE = 1.0
"""The episode ends when a coordinate of the peg's or the socket's position leaves [-1, 1] m."""
INSERTION_LINE = 0.005
"""The peg end within this (m) of the socket's axis line enables the insertion term."""
LIFT_BOUND = 0.01
"""The lift terms pay in full within this (m) of their goal (the tolerance's upper bound)."""
METRICS = ("peg_lifted", "socket_lifted", "inserted")
"""The task metrics, each 1 when it happened at any step of the episode (else 0; averaged: a rate):
the peg and the socket lifted (the body's position at least as high as its lift goal's less
LIFT_BOUND: 0.14 m, wherever it is in x and y), and the peg inserted (its far end ``peg_end2``
within INSERTION_LINE of the socket's axis, the insertion term's gate, and between the socket's
rear and entrance sites)."""
WEIGHTS = dict(left_reach=1.0, right_reach=1.0, left_posture=0.3, right_posture=0.3, no_table_collision=0.3,
               socket_lift=4.0, peg_lift=4.0, socket_upright=0.5, peg_upright=0.5, peg_insertion=8.0)
"""The authors' reward scales, in ``reward_terms`` order."""
(W_LEFT, W_RIGHT, W_LEFT_POSTURE, W_RIGHT_POSTURE, W_TABLE, W_SOCKET_LIFT, W_PEG_LIFT, W_SOCKET_UP, W_PEG_UP,
 W_INSERTION) = WEIGHTS.values()
PROPRIO_DIM = 2 * NUM_ROBOT_Q + NUM_ACTIONS + 6
"""[robot q (16), robot qdot (16), targets - q (14), left and right gripper sites (6)] = 52."""
PRIVILEGED_DIM = 7 + 7 + 6 + 6 + 6 + 6
"""[peg pose, socket pose, their velocities, socket entrance and peg end2 sites, z axes] = 38."""
PEG_QPOS = NUM_ROBOT_Q
"""qpos address of the peg's free joint (position, then quaternion); the socket's follows."""
SOCKET_QPOS = PEG_QPOS + 7
PEG_QVEL = NUM_ROBOT_Q
"""qvel address of the peg's free joint (linear, then angular velocity); the socket's follows."""
SOCKET_QVEL = PEG_QVEL + 6
SITES = ("left/gripper", "right/gripper", "socket/socket_entrance", "socket/socket_rear", "peg/peg_end2")
"""Model sites the kernel reads, in the order of the ``SITE_*`` indices."""
SITE_LEFT, SITE_RIGHT, SITE_ENTRANCE, SITE_REAR, SITE_PEG_END = range(len(SITES))
FINGER_BODIES = tuple(f"{arm}/{side}_finger_link" for arm in ARMS for side in ("left", "right"))
"""Bodies whose geoms touching the table count as a table collision."""
TABLE_GEOM = "table/table"
CAMERAS = ("table", "wrist_left", "wrist_right")
"""The actor's cameras, in channel order."""
TABLE_CAMERA_POS = (0.0, -0.377167, 0.0316055)
"""The table camera's position (m): Menagerie's worms-eye mount."""
TABLE_CAMERA_QUAT = (0.672659, 0.739953, 0.0, 0.0)
"""Its orientation (MuJoCo w, x, y, z): Menagerie's worms-eye camera."""
TABLE_CAMERA_FOVY = 80.0
WRIST_CAMERA_POS = (0.0254, 0.0, 0.08247)
"""Wrist camera position in its gripper link's frame (m)."""
WRIST_CAMERA_LOOKAT = (0.93171, 0.0, -0.34014)
"""The point it looks at, in the same frame."""
WRIST_CAMERA_FOVY = 60.0


# ------------------------------------------------------------------------------- Warp functions


@wp.func
def _tolerance_distance(x: float, lower: float, upper: float, margin: float) -> float:
    """Distance of x from [lower, upper] in margins (0 inside)."""
    return wp.where(x < lower, lower - x, wp.max(x - upper, 0.0)) / margin


@wp.func
def _tolerance_linear(x: float, lower: float, upper: float, margin: float) -> float:
    """t(x; [lower, upper], margin) with the linear sigmoid: 1 inside, 0.1 at the margin, 0 beyond."""
    return wp.max(1.0 - _tolerance_distance(x, lower, upper, margin) * (1.0 - VALUE_AT_MARGIN), 0.0)


@wp.func
def _tolerance_gaussian(x: float, lower: float, upper: float, margin: float) -> float:
    """t(x; [lower, upper], margin) with the gaussian sigmoid: 1 inside, 0.1^(d^2) outside."""
    d = _tolerance_distance(x, lower, upper, margin)
    return wp.pow(VALUE_AT_MARGIN, d * d)


@wp.func
def _vec3(worldid: int, adr: int, array_in: wp.array2d(dtype=float)) -> wp.vec3:
    return wp.vec3(array_in[worldid, adr], array_in[worldid, adr + 1], array_in[worldid, adr + 2])


@wp.func
def _up_in_body(worldid: int, adr: int, qpos_in: wp.array2d(dtype=float)) -> wp.vec3:
    """The world's z axis in the frame of the free body whose (w, x, y, z) quaternion is at qpos[adr]:
    R^T e_z, the third row of its rotation matrix."""
    q = wp.normalize(wp.quat(qpos_in[worldid, adr + 1], qpos_in[worldid, adr + 2], qpos_in[worldid, adr + 3],
                             qpos_in[worldid, adr]))
    return wp.quat_rotate_inv(q, wp.vec3(0.0, 0.0, 1.0))


@wp.func
def _socket_coordinates(peg_end: wp.vec3, rear: wp.vec3, entrance: wp.vec3) -> wp.vec2:
    """(along, off line) of the peg end e: its projection on the socket's axis line r + t (entrance
    - r), t = along (0 at the rear, 1 at the entrance), and its distance from that line."""
    axis = entrance - rear
    along = wp.dot(peg_end - rear, axis) / (wp.dot(axis, axis) + 1.0e-6)
    return wp.vec2(along, wp.length(peg_end - (rear + along * axis)))


@wp.func
def _insertion(peg_end: wp.vec3, rear: wp.vec3, entrance: wp.vec3) -> float:
    """The insertion term: t(|e - r|; [0, 0.001], 0.1) when e lies within INSERTION_LINE of the
    socket's axis line (through r and the entrance), else 0."""
    off_line = _socket_coordinates(peg_end, rear, entrance)[1]
    return wp.where(off_line < INSERTION_LINE, _tolerance_linear(wp.length(peg_end - rear), 0.0, 0.001, 0.1), 0.0)


@wp.func
def _out_of_bounds(p: wp.vec3) -> bool:
    return wp.abs(p[0]) > WORKSPACE or wp.abs(p[1]) > WORKSPACE or wp.abs(p[2]) > WORKSPACE


@wp.kernel
def _aloha_insertion_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    site_xpos_in: wp.array2d(dtype=wp.vec3),
    touch_in: wp.array2d(dtype=int),
    site_in: wp.array(dtype=int),
    target_low_in: wp.array(dtype=float),
    target_high_in: wp.array(dtype=float),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [proprioception (52), objects (38)]; terms as WEIGHTS (module docstring)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    for i in range(NUM_ROBOT_Q):
        state_out[worldid, i] = qpos_in[worldid, i]
        state_out[worldid, NUM_ROBOT_Q + i] = qvel_in[worldid, i]
    k = 2 * NUM_ROBOT_Q
    # joint targets - positions: action i drives qpos (i // 7) * 8 + i % 7 (an arm's joints, then its first finger)
    left_posture = float(0.0)
    right_posture = float(0.0)
    for i in range(NUM_ACTIONS):
        q = qpos_in[worldid, (i // (NUM_ARM + 1)) * (NUM_ARM + 2) + i % (NUM_ARM + 1)]
        a = wp.clamp(action_in[worldid, i], -1.0, 1.0)
        target = target_low_in[i] + 0.5 * (a + 1.0) * (target_high_in[i] - target_low_in[i])
        state_out[worldid, k + i] = target - q
        if i % (NUM_ARM + 1) < NUM_ARM:
            default = 0.5 * (target_low_in[i] + target_high_in[i])
            if i < NUM_ARM:
                left_posture += (q - default) * (q - default)
            else:
                right_posture += (q - default) * (q - default)
    k += NUM_ACTIONS
    left = site_xpos_in[worldid, site_in[SITE_LEFT]]
    right = site_xpos_in[worldid, site_in[SITE_RIGHT]]
    entrance = site_xpos_in[worldid, site_in[SITE_ENTRANCE]]
    rear = site_xpos_in[worldid, site_in[SITE_REAR]]
    peg_end = site_xpos_in[worldid, site_in[SITE_PEG_END]]
    peg_up = _up_in_body(worldid, PEG_QPOS + 3, qpos_in)
    socket_up = _up_in_body(worldid, SOCKET_QPOS + 3, qpos_in)
    for i in range(3):
        state_out[worldid, k + i] = left[i]
        state_out[worldid, k + 3 + i] = right[i]
    k += 6
    # privileged: the peg's and the socket's poses and velocities, the sites, the up axes
    for i in range(14):
        state_out[worldid, k + i] = qpos_in[worldid, PEG_QPOS + i]
    for i in range(12):
        state_out[worldid, k + 14 + i] = qvel_in[worldid, PEG_QVEL + i]
    for i in range(3):
        state_out[worldid, k + 26 + i] = entrance[i]
        state_out[worldid, k + 29 + i] = peg_end[i]
        state_out[worldid, k + 32 + i] = socket_up[i]
        state_out[worldid, k + 35 + i] = peg_up[i]
    peg = _vec3(worldid, PEG_QPOS, qpos_in)
    socket = _vec3(worldid, SOCKET_QPOS, qpos_in)
    socket_lift = _tolerance_linear(wp.length(SOCKET_GOAL_VEC - socket), 0.0, 0.01, 0.15)
    peg_lift = _tolerance_linear(wp.length(PEG_GOAL_VEC - peg), 0.0, 0.01, 0.15)
    terms_out[worldid, 0] = W_LEFT * _tolerance_linear(wp.length(socket - left), 0.0, 0.001, 0.3)
    terms_out[worldid, 1] = W_RIGHT * _tolerance_linear(wp.length(peg - right), 0.0, 0.001, 0.3)
    terms_out[worldid, 2] = W_LEFT_POSTURE * _tolerance_gaussian(wp.sqrt(left_posture), 0.0, 0.01, 2.0)
    terms_out[worldid, 3] = W_RIGHT_POSTURE * _tolerance_gaussian(wp.sqrt(right_posture), 0.0, 0.01, 2.0)
    terms_out[worldid, 4] = W_TABLE * float(1 - touch_in[worldid, 0])
    terms_out[worldid, 5] = W_SOCKET_LIFT * socket_lift
    terms_out[worldid, 6] = W_PEG_LIFT * peg_lift
    terms_out[worldid, 7] = W_SOCKET_UP * _tolerance_linear(socket_up[2], 0.99, 1.0, 0.03) * socket_lift
    terms_out[worldid, 8] = W_PEG_UP * _tolerance_linear(peg_up[2], 0.99, 1.0, 0.03) * peg_lift
    terms_out[worldid, 9] = W_INSERTION * _insertion(peg_end, rear, entrance)
    rewards.write_reward(worldid, terms_out, reward_out)
    terminated_out[worldid] = wp.where(_out_of_bounds(peg) or _out_of_bounds(socket), 1, 0)


@wp.kernel
def _aloha_insertion_measure(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    site_xpos_in: wp.array2d(dtype=wp.vec3),
    site_in: wp.array(dtype=int),
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """metrics = (peg lifted, socket lifted, inserted) flags of the episode so far (``METRICS``):
    once set, they stay until the episode ends; ``metrics_in`` is ``metrics_out`` as it was."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.hold_metrics(worldid, episode_step_in, metrics_in, metrics_out)
        return
    rear = site_xpos_in[worldid, site_in[SITE_REAR]]
    socket = _socket_coordinates(site_xpos_in[worldid, site_in[SITE_PEG_END]], rear,
                                 site_xpos_in[worldid, site_in[SITE_ENTRANCE]])
    now = wp.vec3(
        wp.where(qpos_in[worldid, PEG_QPOS + 2] >= PEG_GOAL_VEC[2] - LIFT_BOUND, 1.0, 0.0),
        wp.where(qpos_in[worldid, SOCKET_QPOS + 2] >= SOCKET_GOAL_VEC[2] - LIFT_BOUND, 1.0, 0.0),
        wp.where(socket[1] < INSERTION_LINE and socket[0] >= 0.0 and socket[0] <= 1.0, 1.0, 0.0))
    for i in range(3):
        metrics_out[worldid, i] = wp.max(guards.previous_metric(worldid, i, episode_step_in, metrics_in), now[i])


@wp.kernel
def _aloha_insertion_place(
    # In:
    seed_in: int,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qpos_out: wp.array2d(dtype=float),
):
    """Masked worlds: the peg and the socket moved by U(-0.1, 0.1) m in x and y from their start
    (which the reset wrote), keyed by (seed, world, reset_count)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    rng = streams.reset_rng(seed_in, reset_count_in[worldid], worldid)
    for adr in range(PEG_QPOS, SOCKET_QPOS + 1, 7):
        for i in range(2):
            qpos_out[worldid, adr + i] = qpos_out[worldid, adr + i] + START_RANGE * (2.0 * wp.randf(rng) - 1.0)


# ------------------------------------------------------------------------------- the scene


def arm_target_ranges(mjm: mujoco.MjModel) -> np.ndarray:
    """[12, 2] joint target ranges of the arm actuators: default +- min(ARM_ACTION_SCALE, the
    distance to either joint limit of ``mjm``), symmetric about the default pose."""
    limits = mjm.jnt_range[[mjm.joint(f"{arm}/{joint}").id for arm in ARMS for joint in ARM_JOINTS]]
    default = np.array(DEFAULT_POSE)
    scale = np.minimum(ARM_ACTION_SCALE, np.minimum(default - limits[:, 0], limits[:, 1] - default))
    return np.stack([default - scale, default + scale], axis=1)


def _cameras(spec: mujoco.MjSpec) -> None:
    """The table camera, a camera over each wrist and the third-person ``track``."""
    spec.worldbody.add_camera(name="table", pos=list(TABLE_CAMERA_POS), quat=list(TABLE_CAMERA_QUAT),
                              fovy=TABLE_CAMERA_FOVY)
    for arm in ARMS:
        spec.body(f"{arm}/gripper_link").add_camera(
            name=f"wrist_{arm}", pos=list(WRIST_CAMERA_POS),
            quat=list(lookat_quat(WRIST_CAMERA_POS, WRIST_CAMERA_LOOKAT)), fovy=WRIST_CAMERA_FOVY)
    track_pos = [0.0, -1.0, 0.65]
    spec.worldbody.add_camera(name="track", pos=track_pos, quat=list(lookat_quat(track_pos, [0.0, 0.0, 0.05])),
                              fovy=50.0)


def _servos(spec: mujoco.MjSpec) -> None:
    """The authors' force limits and gripper servo (module docstring); the arm targets' ranges are
    set after compiling (:func:`arm_target_ranges`)."""
    for arm in ARMS:
        for joint, force in zip(ARM_JOINTS, ARM_FORCE):
            spec.joint(f"{arm}/{joint}").actfrcrange = [-force, force]
        for side in ("left", "right"):
            finger = spec.joint(f"{arm}/{side}_finger")
            finger.damping = [FINGER_DAMPING, 0.0, 0.0]
            finger.actfrcrange = [-GRIPPER_FORCE, GRIPPER_FORCE]
        gripper = spec.actuator(f"{arm}/gripper")
        gripper.gainprm[0] = GRIPPER_KP
        gripper.biasprm[1] = -GRIPPER_KP
        gripper.ctrlrange = list(GRIPPER_RANGE)


def aloha_model() -> mujoco.MjModel:
    """The scene of the module docstring, the arm actuators' control ranges set to
    :func:`arm_target_ranges`. Raises :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the
    robot is not available."""
    spec = robot_spec(ROBOT, ROBOT_FILE)
    for name in SCENE_FILES:
        spec.attach(robot_spec(ROBOT, f"{name}.xml"), frame=spec.worldbody.add_frame(),
                    prefix=f"{name}/")
    spec.option.timestep = TIMESTEP
    _servos(spec)
    _cameras(spec)
    spec.stat.extent = 1.0
    mjm = spec.compile()
    _check_layout(mjm)
    arm = [a * (NUM_ARM + 1) + i for a in range(2) for i in range(NUM_ARM)]
    mjm.actuator_ctrlrange[arm] = arm_target_ranges(mjm)
    mjm.actuator_ctrllimited[arm] = 1
    return mjm


def _check_layout(mjm: mujoco.MjModel) -> None:
    """The joint, actuator and body order the kernels assume (raises ValueError)."""
    for a, arm in enumerate(ARMS):
        names = [f"{arm}/{joint}" for joint in ARM_JOINTS] + [f"{arm}/left_finger", f"{arm}/right_finger"]
        for i, name in enumerate(names):
            adr = a * (NUM_ARM + 2) + i
            if mjm.joint(name).qposadr[0] != adr or mjm.joint(name).dofadr[0] != adr:
                raise ValueError(f"{ROBOT_FILE}: {name} is not joint {adr}")
        for i, name in enumerate([f"{arm}/{joint}" for joint in ARM_JOINTS] + [f"{arm}/gripper"]):
            actuator = mjm.actuator(name)
            joint = names[i]
            if actuator.id != a * (NUM_ARM + 1) + i or mjm.actuator_trnid[actuator.id, 0] != mjm.joint(joint).id:
                raise ValueError(f"{ROBOT_FILE}: actuator {name} is not actuator {a * (NUM_ARM + 1) + i} on {joint}")
    if mjm.joint("peg/peg").qposadr[0] != PEG_QPOS or mjm.joint("socket/socket").qposadr[0] != SOCKET_QPOS:
        raise ValueError("the peg's and the socket's free joints do not follow the robot's joints")
    if mjm.nu != NUM_ACTIONS or mjm.nq != SOCKET_QPOS + 7:
        raise ValueError(f"{ROBOT_FILE}: {mjm.nu} actuators and {mjm.nq} qpos, expected {NUM_ACTIONS} and "
                         f"{SOCKET_QPOS + 7}")


@functools.cache
def _constants(device: str) -> tuple:
    """(site ids, target lows, target highs, contact flag of each geom (0: a finger's, -1: none),
    contact partners (1: the table)) on ``device``: allocated once, so a recorded graph keeps valid
    addresses."""
    mjm = _task_model()
    low, high = mjm.actuator_ctrlrange.T
    fingers = {mjm.body(name).id for name in FINGER_BODIES}
    finger_flag = np.array([0 if mjm.geom_bodyid[g] in fingers else -1 for g in range(mjm.ngeom)], dtype=np.int32)
    table = np.zeros(mjm.ngeom, dtype=np.int32)
    table[mjm.geom(TABLE_GEOM).id] = 1
    return (wp.array(np.array([mjm.site(name).id for name in SITES], dtype=np.int32), dtype=int, device=device),
            wp.array(low.astype(np.float32), dtype=float, device=device),
            wp.array(high.astype(np.float32), dtype=float, device=device),
            wp.array(finger_flag, dtype=int, device=device), wp.array(table, dtype=int, device=device))


@register
@dataclasses.dataclass(frozen=True)
class AlohaInsertion(Task):
    name = "aloha_insertion"
    xml_file = ROBOT_FILE
    menagerie_robot = ROBOT
    menagerie_files = (ROBOT_FILE, *(f"{name}.xml" for name in SCENE_FILES))
    state_dim = PROPRIO_DIM + PRIVILEGED_DIM
    proprio_dim = PROPRIO_DIM
    camera = CAMERAS[0]
    extra_cameras = CAMERAS[1:]
    reads_body_poses = True
    reward_terms = tuple(WEIGHTS)
    metric_names = METRICS
    _kernel = _aloha_insertion_evaluate
    # Measured in C MuJoCo (tools/contact_budget.py --task aloha_insertion --steps 3000: uniform and
    # +-1 random actions, with and without termination, from the task's start draws, plus both
    # grippers driven closing onto the table): at most 17 contacts and 108 constraint rows, no
    # blow-up (48 episodes). Budget: well over 2x both (a gripper closing on the peg or the socket
    # adds box-box contacts of up to 8 points each, condim 4: 6 rows each).
    num_contact_flags = 1
    max_contacts = 48
    max_constraints = 256
    solver_iterations = 20  # measured max 8 (bench/solver_iterations.py)

    frame_skip: int = 4
    episode_length: int = 250
    reset_noise_qpos: float = 0.0
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """The two arms, the table, the peg and the socket with the arm targets around the default
        pose (module docstring)."""
        return aloha_model()

    def initial_qpos(self, mjm: mujoco.MjModel) -> np.ndarray:
        """The start short of the peg's and socket's draws: the default pose, fingers 0.0305 m open,
        the peg and the socket upright at their start."""
        return start_qpos(mjm)

    def sense(self, d, contacts_out) -> None:
        """``contacts_out`` [W, 1]: whether a finger of world w touches the table, from the Data's
        contact list."""
        _, _, _, finger_flag, table = _constants(str(d.qpos.device))
        contacts.contact_flags(d, finger_flag, table, contacts_out)

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs from ``inputs.site_xpos`` and the table-contact flag ``contacts``."""
        qpos = inputs.qpos
        sites, low, high, _, _ = _constants(str(qpos.device))
        wp.launch(
            self._kernel,
            dim=qpos.shape[0],
            inputs=[qpos, inputs.qvel, inputs.site_xpos, inputs.contacts, sites, low, high, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        with nvtx_range("task.aloha_measure"):
            wp.launch(_aloha_insertion_measure, dim=d.qpos.shape[0],
                      inputs=[d.qpos, d.qvel, d.site_xpos, _constants(str(d.qpos.device))[0], episode_step, metrics],
                      outputs=[metrics], device=d.qpos.device)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        with nvtx_range("task.place_peg_socket"):
            wp.launch(_aloha_insertion_place, dim=d.qpos.shape[0],
                      inputs=[seed + streams.ALOHA_SCENE, mask, reset_count],
                      outputs=[d.qpos], device=mask.device)

    def reference_sense(self, mjm, mjd) -> np.ndarray:
        return np.array([np_touch(mjm, mjd)], dtype=np.int32)

    def reference(self, world):
        """NumPy reference for one world from C MuJoCo's kinematics of ``world.qpos`` (the task's
        model): (obs, terms, terminated); ``world.contacts[0]`` whether a finger touches the table.
        The reward is sum(terms)."""
        qpos, qvel, action, touch = world.qpos, world.qvel, world.action, bool(world.contacts[0])
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        mjm = _task_model()
        data = mujoco.MjData(mjm)
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mjm, data)
        site = {name: data.site_xpos[mjm.site(name).id].copy() for name in SITES}
        ranges = mjm.actuator_ctrlrange
        targets = ranges[:, 0] + 0.5 * (np.clip(action, -1.0, 1.0) + 1.0) * (ranges[:, 1] - ranges[:, 0])
        driven = [a * (NUM_ARM + 2) + i for a in range(2) for i in range(NUM_ARM + 1)]
        peg, socket = qpos[PEG_QPOS:PEG_QPOS + 3], qpos[SOCKET_QPOS:SOCKET_QPOS + 3]
        peg_up = rotations.np_quat_to_mat(qpos[PEG_QPOS + 3:PEG_QPOS + 7])[2]
        socket_up = rotations.np_quat_to_mat(qpos[SOCKET_QPOS + 3:SOCKET_QPOS + 7])[2]
        obs = np.concatenate([
            qpos[:NUM_ROBOT_Q], qvel[:NUM_ROBOT_Q], targets - qpos[driven], site["left/gripper"], site["right/gripper"],
            qpos[PEG_QPOS:SOCKET_QPOS + 7], qvel[PEG_QVEL:SOCKET_QVEL + 6], site["socket/socket_entrance"],
            site["peg/peg_end2"], socket_up, peg_up,
        ])
        arm_q = qpos[[a * (NUM_ARM + 2) + i for a in range(2) for i in range(NUM_ARM)]] - np.array(DEFAULT_POSE)
        socket_lift = np_tolerance(np.linalg.norm(np.array(SOCKET_GOAL) - socket), 0.0, 0.01, 0.15)
        peg_lift = np_tolerance(np.linalg.norm(np.array(PEG_GOAL) - peg), 0.0, 0.01, 0.15)
        rear, entrance, end = site["socket/socket_rear"], site["socket/socket_entrance"], site["peg/peg_end2"]
        axis = entrance - rear
        nearest = rear + np.dot(end - rear, axis) / (np.dot(axis, axis) + 1e-6) * axis
        insertion = float(np.linalg.norm(end - nearest) < INSERTION_LINE) * np_tolerance(
            np.linalg.norm(end - rear), 0.0, 0.001, 0.1)
        raw = np.array([
            np_tolerance(np.linalg.norm(socket - site["left/gripper"]), 0.0, 0.001, 0.3),
            np_tolerance(np.linalg.norm(peg - site["right/gripper"]), 0.0, 0.001, 0.3),
            np_tolerance(np.linalg.norm(arm_q[:NUM_ARM]), 0.0, 0.01, 2.0, "gaussian"),
            np_tolerance(np.linalg.norm(arm_q[NUM_ARM:]), 0.0, 0.01, 2.0, "gaussian"),
            0.0 if touch else 1.0,
            socket_lift,
            peg_lift,
            np_tolerance(socket_up[2], 0.99, 1.0, 0.03) * socket_lift,
            np_tolerance(peg_up[2], 0.99, 1.0, 0.03) * peg_lift,
            insertion,
        ])
        terms = np.array(list(WEIGHTS.values())) * raw
        terminated = bool(np.any(np.abs(peg) > WORKSPACE) or np.any(np.abs(socket) > WORKSPACE))
        return obs, terms, terminated

    def reference_measure(self, qpos, qvel, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world from C MuJoCo's kinematics of ``qpos``:
        [peg lifted, socket lifted, inserted]; ``previous`` the metrics before the step,
        ``episode_step`` the steps before it."""
        before = np.zeros(3) if episode_step == 0 else np.array(previous, dtype=np.float64)
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return before
        mjm = _task_model()
        data = mujoco.MjData(mjm)
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mjm, data)
        rear, entrance, end = (data.site_xpos[mjm.site(name).id] for name in
                               ("socket/socket_rear", "socket/socket_entrance", "peg/peg_end2"))
        axis = entrance - rear
        along = np.dot(end - rear, axis) / (np.dot(axis, axis) + 1e-6)
        inside = np.linalg.norm(end - (rear + along * axis)) < INSERTION_LINE and 0.0 <= along <= 1.0
        now = [qpos[PEG_QPOS + 2] >= PEG_GOAL[2] - LIFT_BOUND, qpos[SOCKET_QPOS + 2] >= SOCKET_GOAL[2] - LIFT_BOUND, inside]
        return np.maximum(before, np.array(now, dtype=np.float64))


def np_tolerance(x: float, lower: float, upper: float, margin: float, sigmoid: str = "linear") -> float:
    """NumPy twin of the tolerance shaping (module docstring), Playground's definition."""
    if lower <= x <= upper:
        return 1.0
    d = (lower - x if x < lower else x - upper) / margin
    if sigmoid == "linear":
        return max(1.0 - d * (1.0 - VALUE_AT_MARGIN), 0.0)
    return float(np.exp(-0.5 * (d * np.sqrt(-2.0 * np.log(VALUE_AT_MARGIN))) ** 2))


def np_touch(mjm: mujoco.MjModel, data: mujoco.MjData) -> bool:
    """NumPy twin of :meth:`AlohaInsertion.sense` for one world: whether a constraint contact in C
    MuJoCo's contact list (collision done) pairs the table with a finger geom."""
    fingers = {mjm.body(name).id for name in FINGER_BODIES}
    table = mjm.geom(TABLE_GEOM).id
    for contact in data.contact[:data.ncon]:
        pair = tuple(contact.geom)
        if contact.exclude == 0 and contact.efc_address >= 0 and table in pair:
            if mjm.geom_bodyid[pair[0] + pair[1] - table] in fingers:
                return True
    return False


def np_sample_start(mjm: mujoco.MjModel, rng: np.random.Generator) -> np.ndarray:
    """Host twin of the reset's draws (another generator): a start qpos."""
    qpos = start_qpos(mjm)
    for adr in (PEG_QPOS, SOCKET_QPOS):
        qpos[adr:adr + 2] += rng.uniform(-START_RANGE, START_RANGE, 2)
    return qpos


def start_qpos(mjm: mujoco.MjModel) -> np.ndarray:
    """The reset's qpos short of its draws (module docstring)."""
    qpos = mjm.qpos0.copy()
    for a in range(2):
        base = a * (NUM_ARM + 2)
        qpos[base:base + NUM_ARM] = DEFAULT_POSE[a * NUM_ARM:(a + 1) * NUM_ARM]
        qpos[base + NUM_ARM:base + NUM_ARM + 2] = FINGER_START
    qpos[PEG_QPOS:PEG_QPOS + 7] = PEG_START + (1.0, 0.0, 0.0, 0.0)
    qpos[SOCKET_QPOS:SOCKET_QPOS + 7] = SOCKET_START + (1.0, 0.0, 0.0, 0.0)
    return qpos


@functools.cache
def _task_model() -> mujoco.MjModel:
    """The task's C MuJoCo model, built once for the NumPy reference."""
    return AlohaInsertion().mj_model()
