"""In-hand cube reorientation: a fixed, palm-up robot hand (from MuJoCo Menagerie) turns a cube to
a goal orientation, seen through a fixed external camera pointing at the palm. ``allegro_hand``
(Wonik Allegro, 16 joints) and ``shadow_hand`` (Shadow Hand E3M5, 24 joints) share this module.

Scene (``mujoco.MjSpec`` on the Menagerie hand): a floor, a 6 cm cube on a free joint resting in
the palm (a collision box plus six coloured face plates, so its orientation shows in the images),
a geometry-free ``goal`` mocap body whose quaternion is the goal orientation (with a coloured
ghost cube beside the hand for videos; it collides with nothing), geometry-free mocap bodies that
hold per-world memory (below), the camera ``ego`` (fixed in the world, looking at the palm; the
actor's) and ``track`` (a wider view for videos).

Definitions from the authors' in-hand tasks (SDPG ``envs/genesis_env/allegro_hand.py`` and
``shadow_hand.py``, ``cfgs/task/genesis/*_hand.yaml``; reward and observation as IsaacLab's in-hand
task):
  - action a in [-1, 1]^J -> position target lo + (a + 1) (hi - lo) / 2 over each actuator's
    control range (the hand's own position servos);
  - reward: -10 |p - p_hand| (distance of the cube to the in-hand point), -rot^2 with the rotation
    distance rot = 2 asin(min(|vec(g^-1 q)|, 1)) of the cube's orientation q from the goal g,
    -0.0002 sum(a^2), +3 while the episode runs (and, an option of ours, ``success_bonus`` on a
    step that ends with rot < 0.1 rad, a success; 0 by default, as the authors');
  - termination: the cube farther than the fall distance (Allegro 0.20 m, Shadow 0.24 m) from the
    in-hand point; episodes of 10 s;
  - start: the hand's joints at its default pose plus U(-0.1, 0.1) x their range, clamped to it; the
    cube at its default position + U(-1, 1) cm, unrotated; the goal the identity turned by
    U(60, 90) degrees about the world x or y axis (one of the two, even odds); the previous action
    the joint positions expressed as an action;
  - actor: proprioception (3J + 7 + 3T for J joints and T fingertips) = [joint positions scaled to
    [-1, 1] over the control range, 0.2 x joint velocities, the in-hand point, the goal quaternion,
    the fingertip positions, the previous action] + the camera's RGB frame stack; critic: the
    proprioception, the cube's position, quaternion, linear velocity, 0.2 x angular velocity, and
    the quaternion g^-1 q (3J + 24 + 3T).

Success and goals: a success (a step ending within 0.1 rad of the goal) counts in the world's
memory. By default the goal stays for the whole episode, as the authors' (their shadow_hand.py
removed IsaacLab's bonus and redraws on purpose: the jumps bias the gradients). The option
``goal_redraw`` (with ``success_bonus`` 250, IsaacLab's) draws a new goal at once on a success, the
current goal turned again by U(60, 90) degrees about the world x or y axis, from the world's goal
stream (a key drawn at reset, advanced by the success count), so auxiliary worlds that took their
nominal's state draw its goals. The new goal shows in the observation from the next step on (as
go2_terrain's command redraws).

Per-world memory in mocap positions (3 entries per body, bodies 1..): the success count, the goal
stream, the previous action. The action a step applied is written before that step's observation
is built (:meth:`InHandTask.before_evaluate`), so the observation after the step with a_t holds a_t
(IsaacLab's); the count and the goal advance after it (:meth:`InHandTask.after_step`).

Deliberate differences (docs/ego_tasks.md): the authors have no success counter; the fingertips'
orientations and velocities are left out of the observations (their positions stay: the links' origins, Allegro's
tip bodies and Shadow's distal links); MuJoCo's free-joint angular velocity is in the cube's frame;
the Shadow hand is Menagerie's E3M5 with every joint actuated (as the authors' 24-joint URDF),
placed palm up as theirs, and its cube starts 1.5 cm higher than their in-hand point (from that
point plus the +-1 cm noise the cube starts inside the palm often enough to be thrown out: 7 of 20
draws dropped it under the holding action in C MuJoCo, 0 of 20 from 1.5 cm higher, measured); every
actuated joint has the rotor inertia ``ARMATURE``.
"""

import dataclasses
import functools
import math
from typing import ClassVar

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.tasks import register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import guards, rewards, streams, task_memory
from sdpg_warp.tasks.common.actuators import set_armature
from sdpg_warp.tasks.ego import EGO_CAMERA, lookat_quat
from sdpg_warp.tasks.menagerie import robot_spec

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

CUBE_HALF = 0.03
"""Half the cube's edge (m): the authors' 2-unit cube mesh scaled by 0.03."""
DIST_WEIGHT = -10.0
"""Weight of the cube's distance to the in-hand point."""
ROT_WEIGHT = -1.0
"""Weight of the squared rotation distance."""
ACTION_PENALTY = -0.0002
"""Weight of sum(a^2)."""
HEALTHY = 3.0
"""Reward per step while the episode runs."""
SUCCESS_TOLERANCE = 0.1
"""Rotation distance (rad) below which the goal counts as reached."""
GOAL_ANGLE_MIN = math.radians(60.0)
"""Smallest turn (rad) of a goal about the world x or y axis."""
GOAL_ANGLE_MAX = math.radians(90.0)
"""Largest turn (rad) of a goal."""
JOINT_NOISE = 0.2
"""Start joint noise: U(-0.5, 0.5) x this x the joint's range."""
CUBE_NOISE = 0.02
"""Start cube position noise: U(-0.5, 0.5) x this (m) per axis."""
VEL_SCALE = 0.2
"""Scale of joint and cube angular velocities in the observations."""
GOAL_BODY = 0
"""Mocap id of the goal (its quaternion is the goal orientation)."""
MEM_SUCCESSES = 0
"""Memory entry: successes so far in the episode."""
MEM_STREAM = 1
"""Memory entry: key of the world's goal draws, an integer below 2^24."""
MEM_ACTION = 2
"""Memory entries: the previous action (J)."""
STREAM_RANGE = 1 << 24
"""Goal streams are drawn below this (exact in float32)."""
TERMS = ("distance", "rotation", "action", "healthy", "success")
METRICS = ("goals_reached", "orientation_error")
"""The task metrics: the goals reached in the episode (a success: rotation distance below
SUCCESS_TOLERANCE, the success term's threshold; with one goal per episode, the authors' default,
0 or 1, so its mean is the rate of episodes that reached their goal), and the rotation distance
(rad) of the cube from its goal at the episode's last step."""
ARMATURE = 0.1
"""Rotor inertia (kg m^2) of every actuated joint: the hand files give none (or 0.0002) and Genesis,
the authors' simulator, loads such joints with 0.1. Menagerie's light fingers under the position
servos then move slowly enough for the 7.5 ms step (without it their accelerations reach 1e6
rad/s^2 and float32 and float64 runs part within one step, measured)."""
FACE_COLOURS = ((0.85, 0.2, 0.2), (0.2, 0.7, 0.25), (0.2, 0.35, 0.85), (0.9, 0.8, 0.2), (0.85, 0.45, 0.1), (0.6, 0.25, 0.7))
"""Colours of the cube's +x, -x, +y, -y, +z, -z faces."""


@dataclasses.dataclass(frozen=True)
class Hand:
    """One hand's scene and task constants."""

    robot: str
    """Menagerie registry name."""
    robot_file: str
    """Entry MJCF in the robot's folder."""
    fingertips: tuple[str, ...]
    """Bodies whose positions the observation lists."""
    default_pose: tuple[float, ...]
    """Joint targets (rad) of the start pose, in actuator order (clamped to the control ranges)."""
    cube_pos: tuple[float, float, float]
    """The cube's start position (m)."""
    in_hand: tuple[float, float, float]
    """The point the distance term and the termination measure from (m)."""
    fall_distance: float
    """Episode ends when the cube is farther than this from ``in_hand`` (m)."""
    timestep: float
    """Physics step (s)."""
    frame_skip: int
    """Physics steps per control step."""
    friction: float
    """The cube's sliding friction."""
    density: float
    """The cube's density (kg/m^3)."""
    camera_pos: tuple[float, float, float]
    """The actor's camera position in the world (m)."""
    camera_lookat: tuple[float, float, float]
    """The point it looks at."""
    goal_display: tuple[float, float, float]
    """Where the ghost goal cube is drawn (m)."""
    base_body: str = ""
    """The hand's root body, moved to ``base_pos`` / ``base_quat`` (empty: kept as the file has it)."""
    base_pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    base_quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    camera_fovy: float = 80.0
    """Vertical field of view of the actor's camera (degrees)."""

    @property
    def num_joints(self) -> int:
        return len(self.default_pose)

    @property
    def proprio_dim(self) -> int:
        return 3 * self.num_joints + 7 + 3 * len(self.fingertips)

    @property
    def state_dim(self) -> int:
        return self.proprio_dim + 17

    @property
    def memory_bodies(self) -> int:
        return task_memory.num_bodies(MEM_ACTION + self.num_joints)


ALLEGRO = Hand(
    robot="wonik_allegro", robot_file="right_hand.xml",
    fingertips=("ff_tip", "mf_tip", "rf_tip", "th_tip"),
    default_pose=(0.0, 0.58058, 0.701595, 0.538675, 0.0, 0.60767, 0.758085, 0.741625,
                  0.0, 0.8876, 0.720425, 0.5848, 0.263, 0.32612, 1.08493, 0.806715),
    cube_pos=(0.25, 0.0, 0.275), in_hand=(0.25, 0.0, 0.25), fall_distance=0.20,
    timestep=0.03 / 4, frame_skip=4, friction=0.3, density=600.0,
    camera_pos=(0.40, 0.05, 0.425), camera_lookat=(0.25, -0.10, 0.275), goal_display=(0.325, 0.3, 0.2475),
)
"""The authors' Allegro set-up (Menagerie's file places the palm up at (0.25, 0, 0.2)); control every
30 ms, physics every 7.5 ms."""
SHADOW = Hand(
    robot="shadow_hand", robot_file="right_hand.xml",
    fingertips=("rh_thdistal", "rh_ffdistal", "rh_mfdistal", "rh_rfdistal", "rh_lfdistal"),
    default_pose=(0.0,) * 24,
    cube_pos=(0.0, 0.1, 0.415), in_hand=(0.0, 0.1, 0.40), fall_distance=0.24,
    timestep=1.0 / 120.0, frame_skip=2, friction=1.0, density=567.0,
    camera_pos=(0.40, 0.05, 0.55), camera_lookat=(0.0, 0.1, 0.40), goal_display=(0.0, -0.3, 0.55),
    base_body="rh_forearm", base_pos=(0.0, -0.2, 0.35), base_quat=(math.sqrt(0.5), -math.sqrt(0.5), 0.0, 0.0),
)
"""The authors' Shadow set-up: forearm turned -90 degrees about x (palm up, fingers along +y);
control every 1/60 s, physics every 1/120 s."""


# ------------------------------------------------------------------------------- Warp functions


@wp.func
def _rotation_distance(goal: wp.quat, cube: wp.quat) -> float:
    """2 asin(min(|vec(goal^-1 cube)|, 1)): the angle (rad) between two orientations."""
    diff = wp.quat_inverse(goal) * cube
    return 2.0 * wp.asin(wp.min(wp.length(wp.vec3(diff[0], diff[1], diff[2])), 1.0))


@wp.func
def _draw_turn(rng: wp.uint32) -> wp.quat:
    """A turn by U(GOAL_ANGLE_MIN, GOAL_ANGLE_MAX) about the world x or y axis (even odds)."""
    angle = GOAL_ANGLE_MIN + (GOAL_ANGLE_MAX - GOAL_ANGLE_MIN) * wp.randf(rng)
    axis = wp.where(wp.randf(rng) < 0.5, wp.vec3(1.0, 0.0, 0.0), wp.vec3(0.0, 1.0, 0.0))
    return wp.quat_from_axis_angle(axis, angle)


@wp.func
def _wxyz(worldid: int, adr: int, qpos_in: wp.array2d(dtype=float)) -> wp.quat:
    """The unit quaternion stored (w, x, y, z) at qpos[adr:adr + 4], as Warp's (x, y, z, w)."""
    return wp.normalize(wp.quat(qpos_in[worldid, adr + 1], qpos_in[worldid, adr + 2], qpos_in[worldid, adr + 3],
                                qpos_in[worldid, adr]))


@wp.func
def _from_mujoco(q: wp.quat) -> wp.quat:
    """A quaternion of mujoco_warp's arrays (components in MuJoCo's (w, x, y, z) order) as Warp's
    (x, y, z, w), normalized."""
    return wp.normalize(wp.quat(q[1], q[2], q[3], q[0]))


@wp.func
def _to_mujoco(q: wp.quat) -> wp.quat:
    """Warp's (x, y, z, w) quaternion in MuJoCo's component order."""
    return wp.quat(q[3], q[0], q[1], q[2])


@wp.kernel
def _in_hand_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    mocap_quat_in: wp.array2d(dtype=wp.quat),
    xpos_in: wp.array2d(dtype=wp.vec3),
    ctrlrange_in: wp.array(dtype=wp.vec2),
    joint_in: wp.array(dtype=int),
    tip_body_in: wp.array(dtype=int),
    in_hand_in: wp.vec3,
    fall_distance_in: float,
    success_bonus_in: float,
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [proprioception, cube pos, quat, lin vel, 0.2 ang vel, goal^-1 cube];
    terms = (distance, rotation, action, healthy, success). qpos and qvel: the J hand joints first
    (``joint_in``: actuator i's joint address), then the cube's free joint."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    nj = ctrlrange_in.shape[0]
    nt = tip_body_in.shape[0]
    for i in range(nj):
        r = ctrlrange_in[i]
        j = joint_in[i]
        state_out[worldid, i] = (2.0 * qpos_in[worldid, j] - r[0] - r[1]) / (r[1] - r[0])
        state_out[worldid, nj + i] = VEL_SCALE * qvel_in[worldid, j]
    k = 2 * nj
    goal = _from_mujoco(mocap_quat_in[worldid, GOAL_BODY])
    for i in range(3):
        state_out[worldid, k + i] = in_hand_in[i]
    # quaternions in observations are (w, x, y, z), MuJoCo's order
    state_out[worldid, k + 3] = goal[3]
    for i in range(3):
        state_out[worldid, k + 4 + i] = goal[i]
    k += 7
    for t in range(nt):
        p = xpos_in[worldid, tip_body_in[t]]
        for i in range(3):
            state_out[worldid, k + 3 * t + i] = p[i]
    k += 3 * nt
    for i in range(nj):
        state_out[worldid, k + i] = task_memory.read(worldid, MEM_ACTION + i, mocap_pos_in)
    k += nj
    # privileged: the cube
    cube_pos = wp.vec3(qpos_in[worldid, nj], qpos_in[worldid, nj + 1], qpos_in[worldid, nj + 2])
    cube = _wxyz(worldid, nj + 3, qpos_in)
    diff = wp.quat_inverse(goal) * cube
    for i in range(3):
        state_out[worldid, k + i] = cube_pos[i]
        state_out[worldid, k + 7 + i] = qvel_in[worldid, nj + i]
        state_out[worldid, k + 10 + i] = VEL_SCALE * qvel_in[worldid, nj + 3 + i]
    state_out[worldid, k + 3] = cube[3]
    state_out[worldid, k + 13] = diff[3]
    for i in range(3):
        state_out[worldid, k + 4 + i] = cube[i]
        state_out[worldid, k + 14 + i] = diff[i]
    distance = wp.length(cube_pos - in_hand_in)
    rot = _rotation_distance(goal, cube)
    terms_out[worldid, 0] = DIST_WEIGHT * distance
    terms_out[worldid, 1] = ROT_WEIGHT * rot * rot
    terms_out[worldid, 2] = rewards.action_cost(worldid, ACTION_PENALTY, action_in)
    terms_out[worldid, 3] = HEALTHY
    terms_out[worldid, 4] = wp.where(rot < SUCCESS_TOLERANCE, success_bonus_in, 0.0)
    rewards.write_reward(worldid, terms_out, reward_out)
    terminated_out[worldid] = wp.where(distance > fall_distance_in, 1, 0)


@wp.kernel
def _in_hand_hold_action(
    # In:
    action_in: wp.array2d(dtype=float),
    memory_in: wp.array2d(dtype=wp.vec3),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """The step's action becomes the previous one (``memory_in`` is ``mocap_pos_out`` as it was:
    each world reads and writes its own row only)."""
    worldid = wp.tid()
    for b in range(1, mocap_pos_out.shape[1]):
        body = memory_in[worldid, b]
        for c in range(3):
            k = 3 * (b - 1) + c
            if k >= MEM_ACTION and k < MEM_ACTION + action_in.shape[1]:
                body[c] = action_in[worldid, k - MEM_ACTION]
        mocap_pos_out[worldid, b] = body


@wp.kernel
def _in_hand_advance(
    # In:
    cube_qpos_in: int,
    qpos_in: wp.array2d(dtype=float),
    memory_in: wp.array2d(dtype=wp.vec3),
    goal_in: wp.array2d(dtype=wp.quat),
    goal_redraw_in: int,
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
    mocap_quat_out: wp.array2d(dtype=wp.quat),
):
    """One step of a world's success count and goal (``memory_in`` / ``goal_in`` are the outputs
    as they were: each world reads and writes its own rows only): on a success the count grows and,
    with ``goal_redraw_in``, the goal turns again; the cube's quaternion at qpos[cube_qpos_in + 3]."""
    worldid = wp.tid()
    counts = memory_in[worldid, 1]
    goal = _from_mujoco(goal_in[worldid, GOAL_BODY])
    if not (_rotation_distance(goal, _wxyz(worldid, cube_qpos_in + 3, qpos_in)) < SUCCESS_TOLERANCE):
        return
    successes = counts[MEM_SUCCESSES] + 1.0
    counts[MEM_SUCCESSES] = successes
    mocap_pos_out[worldid, 1] = counts
    if goal_redraw_in == 0:
        return
    rng = wp.rand_init(int(counts[MEM_STREAM]), int(successes))
    mocap_quat_out[worldid, GOAL_BODY] = _to_mujoco(wp.normalize(_draw_turn(rng) * goal))


@wp.kernel
def _in_hand_measure(
    # In:
    cube_qpos_in: int,
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    goal_in: wp.array2d(dtype=wp.quat),
    goal_redraw_in: int,
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """metrics = (goals reached, rotation distance to the goal) (``METRICS``), before
    :func:`_in_hand_advance` counts the step's success and turns the goal; the cube's quaternion at
    qpos[cube_qpos_in + 3]. Goals reached: the successes so far with this step's when each success
    draws a new goal (``goal_redraw_in``); with one goal per episode, 1 once it was reached (the
    success count there counts steps spent at the goal)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.hold_metrics(worldid, episode_step_in, metrics_in, metrics_out)
        return
    rot = _rotation_distance(_from_mujoco(goal_in[worldid, GOAL_BODY]), _wxyz(worldid, cube_qpos_in + 3, qpos_in))
    successes = task_memory.read(worldid, MEM_SUCCESSES, mocap_pos_in) + wp.where(rot < SUCCESS_TOLERANCE, 1.0, 0.0)
    metrics_out[worldid, 0] = wp.where(goal_redraw_in != 0, successes, wp.min(successes, 1.0))
    metrics_out[worldid, 1] = rot


@wp.kernel
def _in_hand_place(
    # In:
    seed_in: int,
    default_in: wp.array(dtype=float),
    ctrlrange_in: wp.array(dtype=wp.vec2),
    joint_in: wp.array(dtype=int),
    cube_pos_in: wp.vec3,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qpos_out: wp.array2d(dtype=float),
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
    mocap_quat_out: wp.array2d(dtype=wp.quat),
):
    """Masked worlds: joints, cube and goal drawn as the module docstring says, memory zeroed with
    a new goal stream and the joints as the previous action. Keyed by (seed, world, reset_count)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    rng = streams.reset_rng(seed_in, reset_count_in[worldid], worldid)
    nj = default_in.shape[0]
    for b in range(1, mocap_pos_out.shape[1]):
        mocap_pos_out[worldid, b] = wp.vec3(0.0, 0.0, 0.0)
    for i in range(nj):
        r = ctrlrange_in[i]
        q = wp.clamp(default_in[i] + (wp.randf(rng) - 0.5) * JOINT_NOISE * (r[1] - r[0]), r[0], r[1])
        qpos_out[worldid, joint_in[i]] = q
        task_memory.write(worldid, MEM_ACTION + i, (q - r[0]) / (r[1] - r[0]) * 2.0 - 1.0, mocap_pos_out)
    for i in range(3):
        qpos_out[worldid, nj + i] = cube_pos_in[i] + (wp.randf(rng) - 0.5) * CUBE_NOISE
    qpos_out[worldid, nj + 3] = 1.0
    for i in range(3):
        qpos_out[worldid, nj + 4 + i] = 0.0
    counts = mocap_pos_out[worldid, 1]
    counts[MEM_STREAM] = float(wp.randi(rng, 0, STREAM_RANGE))
    mocap_pos_out[worldid, 1] = counts
    # Last: the draws of _draw_turn advance its own copy of rng.
    mocap_quat_out[worldid, GOAL_BODY] = _to_mujoco(_draw_turn(rng))


# ------------------------------------------------------------------------------- NumPy twins


def np_quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of (w, x, y, z) quaternions."""
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return out


def np_quat_conj(q: np.ndarray) -> np.ndarray:
    return np.array([q[0], -q[1], -q[2], -q[3]])


def np_rotation_distance(goal: np.ndarray, cube: np.ndarray) -> float:
    """NumPy twin of :func:`_rotation_distance` on (w, x, y, z) quaternions."""
    diff = np_quat_mul(np_quat_conj(goal / np.linalg.norm(goal)), cube / np.linalg.norm(cube))
    return 2.0 * math.asin(min(float(np.linalg.norm(diff[1:])), 1.0))


# ------------------------------------------------------------------------------- the task


@functools.cache
def _constants(hand: Hand, device: str, facts: tuple) -> tuple[wp.array, wp.array, wp.array, wp.array]:
    """(control ranges, joint addresses, fingertip body ids, default pose) on ``device``: allocated
    once, so a recorded graph keeps valid addresses. ``facts``: the model's :attr:`InHandTask._facts`."""
    ctrlrange, joints, tips = facts
    default = np.clip(hand.default_pose, [r[0] for r in ctrlrange], [r[1] for r in ctrlrange])
    return (wp.array(np.array(ctrlrange, dtype=np.float32), dtype=wp.vec2, device=device),
            wp.array(np.array(joints, dtype=np.int32), dtype=int, device=device),
            wp.array(np.array(tips, dtype=np.int32), dtype=int, device=device),
            wp.array(default.astype(np.float32), dtype=float, device=device))


def _add_cube(spec: mujoco.MjSpec, hand: Hand) -> None:
    """The cube: a free body with a collision box and six coloured face plates."""
    cube = spec.worldbody.add_body(name="cube", pos=list(hand.cube_pos))
    cube.add_freejoint(name="cube")
    cube.add_geom(name="cube", type=mujoco.mjtGeom.mjGEOM_BOX, size=[CUBE_HALF] * 3, density=hand.density,
                  friction=[hand.friction, 0.005, 0.0001], rgba=[0.92, 0.92, 0.92, 1.0])
    _add_faces(cube, CUBE_HALF)


def _add_faces(body: mujoco.MjsBody, half: float) -> None:
    """Six thin coloured plates just outside a cube of half-edge ``half``; they collide with nothing."""
    plate = 0.8 * half
    for f, colour in enumerate(FACE_COLOURS):
        axis, sign = f // 2, 1.0 - 2.0 * (f % 2)
        size, pos = [plate] * 3, [0.0] * 3
        size[axis] = 0.0005
        pos[axis] = sign * (half + 0.0005)
        body.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=size, pos=pos, rgba=[*colour, 1.0], contype=0,
                      conaffinity=0, density=0.0, group=1)


def hand_model(hand: Hand, memory_bodies: int) -> mujoco.MjModel:
    """The scene of the module docstring for ``hand``. Raises
    :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the robot is not available."""
    spec = robot_spec(hand.robot, hand.robot_file)
    spec.option.timestep = hand.timestep
    spec.option.iterations = 100
    spec.option.ls_iterations = 50
    set_armature(spec, ARMATURE)
    if hand.base_body:
        base = spec.body(hand.base_body)
        base.pos = list(hand.base_pos)
        base.quat = list(hand.base_quat)
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 0.05],
                            rgba=[0.45, 0.5, 0.55, 1.0])
    spec.visual.headlight.ambient = [0.4, 0.4, 0.4]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    _add_cube(spec, hand)
    goal = spec.worldbody.add_body(name="goal", mocap=True, pos=list(hand.goal_display))
    goal.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.8 * CUBE_HALF] * 3, rgba=[0.92, 0.92, 0.92, 1.0],
                  contype=0, conaffinity=0, group=1)
    _add_faces(goal, 0.8 * CUBE_HALF)
    task_memory.add_bodies(spec, memory_bodies)
    spec.worldbody.add_camera(name=EGO_CAMERA, pos=list(hand.camera_pos),
                              quat=list(lookat_quat(hand.camera_pos, hand.camera_lookat)), fovy=hand.camera_fovy)
    track_pos = np.array(hand.in_hand) + np.array([0.45, 0.45, 0.35])
    spec.worldbody.add_camera(name="track", pos=list(track_pos), quat=list(lookat_quat(track_pos, hand.in_hand)),
                              fovy=60.0)
    spec.stat.extent = 1.0
    mjm = spec.compile()
    nj = hand.num_joints
    if mjm.nu != nj:
        raise ValueError(f"{hand.robot}/{hand.robot_file}: {mjm.nu} actuators, the task expects {nj}")
    for i in range(nj):
        joint = mjm.actuator_trnid[i, 0]
        if (mjm.actuator_trntype[i] != mujoco.mjtTrn.mjTRN_JOINT or mjm.jnt_type[joint] != mujoco.mjtJoint.mjJNT_HINGE
                or mjm.jnt_qposadr[joint] >= nj or mjm.jnt_qposadr[joint] != mjm.jnt_dofadr[joint]):
            raise ValueError(f"{hand.robot}: actuator {i} does not drive one of the hinges before the cube")
    if mjm.jnt_qposadr[mjm.joint("cube").id] != nj or mjm.body_mocapid[mjm.body("goal").id] != GOAL_BODY:
        raise ValueError(f"{hand.robot}: the cube is not the joint after the hand's, or the goal not mocap body 0")
    return mjm


@dataclasses.dataclass(frozen=True)
class InHandTask(Task):
    """In-hand reorientation (module docstring); subclasses set ``hand``."""

    hand: ClassVar[Hand]
    camera = EGO_CAMERA
    reads_body_poses = True
    reward_terms = TERMS
    metric_names = METRICS
    _kernel = _in_hand_evaluate

    episode_length: int = 333
    reset_noise_qpos: float = 0.0
    reset_noise_qvel: float = 0.0
    success_bonus: float = 0.0
    """Reward on a step that ends with the cube within 0.1 rad of the goal (a success). The authors'
    0 by default; IsaacLab's 250 goes with ``goal_redraw``."""
    goal_redraw: bool = False
    """Draw a new goal on each success (IsaacLab's; module docstring). Off by default, as the
    authors': one goal per episode."""

    def mj_model(self) -> mujoco.MjModel:
        return hand_model(self.hand, self.hand.memory_bodies)

    @functools.cached_property
    def _facts(self) -> tuple:
        """(control ranges, joint addresses, fingertip body ids) of the model, in actuator order, as tuples."""
        mjm = self.mj_model()
        joints = tuple(int(mjm.jnt_qposadr[j]) for j in mjm.actuator_trnid[:, 0])
        tips = tuple(int(mjm.body(name).id) for name in self.hand.fingertips)
        return tuple(tuple(map(float, r)) for r in mjm.actuator_ctrlrange), joints, tips

    def _device_constants(self, device) -> tuple[wp.array, wp.array, wp.array, wp.array]:
        return _constants(self.hand, str(device), self._facts)

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs; ``inputs.mocap_pos`` / ``mocap_quat`` hold the goal and the memory,
        ``inputs.xpos`` the fingertips."""
        qpos = inputs.qpos
        ctrlrange, joints, tips, _ = self._device_constants(qpos.device)
        wp.launch(
            self._kernel,
            dim=qpos.shape[0],
            inputs=[qpos, inputs.qvel, inputs.mocap_pos, inputs.mocap_quat, inputs.xpos, ctrlrange, joints, tips,
                    wp.vec3(*self.hand.in_hand),
                    self.hand.fall_distance, self.success_bonus, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        with nvtx_range("task.in_hand_measure"):
            wp.launch(_in_hand_measure, dim=d.qpos.shape[0],
                      inputs=[self.hand.num_joints, d.qpos, d.qvel, d.mocap_pos, d.mocap_quat, int(self.goal_redraw),
                              episode_step, metrics],
                      outputs=[metrics], device=d.qpos.device)

    def before_evaluate(self, d, inputs) -> None:
        """Writes every world's applied action into its memory as the previous action, so that the
        step's observation shows it (module docstring)."""
        with nvtx_range("task.in_hand_action"):
            wp.launch(_in_hand_hold_action, dim=d.qpos.shape[0], inputs=[inputs.action, d.mocap_pos],
                      outputs=[d.mocap_pos], device=d.qpos.device)

    def after_step(self, d, inputs) -> None:
        """Advances every world's success count and goal by the step just evaluated (module docstring)."""
        with nvtx_range("task.in_hand_memory"):
            wp.launch(_in_hand_advance, dim=d.qpos.shape[0],
                      inputs=[self.hand.num_joints, d.qpos, d.mocap_pos, d.mocap_quat, int(self.goal_redraw)],
                      outputs=[d.mocap_pos, d.mocap_quat], device=d.qpos.device)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        with nvtx_range("task.place_in_hand"):
            ctrlrange, joints, _, default = self._device_constants(mask.device)
            wp.launch(_in_hand_place, dim=d.qpos.shape[0],
                      inputs=[seed + streams.IN_HAND_SCENE, default, ctrlrange, joints, wp.vec3(*self.hand.cube_pos),
                              mask, reset_count],
                      outputs=[d.qpos, d.mocap_pos, d.mocap_quat], device=mask.device)

    def reference(self, world):
        """NumPy reference for one world: (obs, terms, terminated); ``world.mocap_pos`` [nmocap, 3]
        and ``mocap_quat`` [nmocap, 4] (w, x, y, z) hold the goal and the memory, ``xpos`` [nbody, 3]."""
        qpos, qvel, action, mocap_pos, mocap_quat, xpos = (world.qpos, world.qvel, world.action, world.mocap_pos,
                                                           world.mocap_quat, world.xpos)
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        ctrlrange, joints, tips = self._facts
        lo, hi = np.array(ctrlrange).T
        joints = list(joints)
        nj = self.hand.num_joints
        goal = mocap_quat[GOAL_BODY] / np.linalg.norm(mocap_quat[GOAL_BODY])
        cube_pos, cube = qpos[nj:nj + 3], qpos[nj + 3:nj + 7] / np.linalg.norm(qpos[nj + 3:nj + 7])
        memory = mocap_pos[1:].reshape(-1)
        obs = np.concatenate([
            (2.0 * qpos[joints] - lo - hi) / (hi - lo), VEL_SCALE * qvel[joints], self.hand.in_hand, goal,
            xpos[list(tips)].reshape(-1), memory[MEM_ACTION:MEM_ACTION + nj],
            cube_pos, cube, qvel[nj:nj + 3], VEL_SCALE * qvel[nj + 3:nj + 6],
            np_quat_mul(np_quat_conj(goal), cube),
        ])
        distance = float(np.linalg.norm(cube_pos - np.array(self.hand.in_hand)))
        rot = np_rotation_distance(goal, cube)
        terms = np.array([DIST_WEIGHT * distance, ROT_WEIGHT * rot * rot, ACTION_PENALTY * np.sum(action ** 2),
                          HEALTHY, self.success_bonus if rot < SUCCESS_TOLERANCE else 0.0])
        return obs, terms, distance > self.hand.fall_distance

    def reference_before_evaluate(self, action, mocap_pos) -> np.ndarray:
        """NumPy reference of :meth:`before_evaluate` for one world: its mocap positions after."""
        out = mocap_pos.copy()
        flat = out[1:].reshape(-1)
        flat[MEM_ACTION:MEM_ACTION + len(action)] = action
        out[1:] = flat.reshape(-1, 3)
        return out

    def reference_after_step(self, qpos, mocap_pos, mocap_quat) -> tuple[np.ndarray, np.ndarray, bool]:
        """NumPy reference of :meth:`after_step` for one world short of the new goal's draw:
        (mocap_pos after, the goal before, whether a success was counted)."""
        nj = self.hand.num_joints
        out = mocap_pos.copy()
        flat = out[1:].reshape(-1)
        success = np_rotation_distance(mocap_quat[GOAL_BODY], qpos[nj + 3:nj + 7]) < SUCCESS_TOLERANCE
        flat[MEM_SUCCESSES] += float(success)
        out[1:] = flat.reshape(-1, 3)
        return out, mocap_quat[GOAL_BODY].copy(), bool(success)

    def reference_measure(self, qpos, qvel, mocap_pos, mocap_quat, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world: [goals reached, orientation error];
        ``previous`` the metrics before the step, ``episode_step`` the steps before it."""
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(2) if episode_step == 0 else np.array(previous, dtype=np.float64)
        nj = self.hand.num_joints
        rot = np_rotation_distance(mocap_quat[GOAL_BODY], qpos[nj + 3:nj + 7])
        successes = mocap_pos[1:].reshape(-1)[MEM_SUCCESSES] + float(rot < SUCCESS_TOLERANCE)
        return np.array([successes if self.goal_redraw else min(successes, 1.0), rot])


@register
@dataclasses.dataclass(frozen=True)
class AllegroHand(InHandTask):
    name = "allegro_hand"
    hand = ALLEGRO
    xml_file = ALLEGRO.robot_file
    menagerie_robot = ALLEGRO.robot
    menagerie_files = (ALLEGRO.robot_file,)
    state_dim = ALLEGRO.state_dim
    proprio_dim = ALLEGRO.proprio_dim
    # Measured in C MuJoCo (tools/contact_budget.py --steps 3000: uniform and +-1 random actions,
    # with and without termination, from the task's start draws): at most 25 contacts and 75
    # constraint rows, no blow-up. Budget: 2x the contacts, 3 rows each (elliptic cones, condim
    # 3), plus one row per joint limit.
    max_contacts = 50
    max_constraints = 3 * 50 + 16
    solver_iterations = 30  # measured max 13 (bench/solver_iterations.py)

    frame_skip: int = ALLEGRO.frame_skip
    episode_length: int = 333


@register
@dataclasses.dataclass(frozen=True)
class ShadowHand(InHandTask):
    name = "shadow_hand"
    hand = SHADOW
    xml_file = SHADOW.robot_file
    menagerie_robot = SHADOW.robot
    menagerie_files = (SHADOW.robot_file,)
    state_dim = SHADOW.state_dim
    proprio_dim = SHADOW.proprio_dim
    # Measured as the Allegro's: at most 19 contacts and 76 constraint rows, no blow-up. Budget: 2x
    # the contacts, 4 rows each (pyramidal cones, condim 3), plus one row per joint limit.
    max_contacts = 40
    max_constraints = 4 * 40 + 24
    solver_iterations = 20  # measured max 10 (bench/solver_iterations.py)

    frame_skip: int = SHADOW.frame_skip
    episode_length: int = 600
