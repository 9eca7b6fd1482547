"""Go2 terrain: the Unitree Go2 quadruped (from MuJoCo Menagerie) tracking a velocity command over
procedural terrain, seeing it through a depth or RGB camera on its base.

Scene (``mujoco.MjSpec`` on Menagerie ``unitree_go2/go2.xml``): the heightfield terrain of
:mod:`sdpg_warp.tasks.terrain`, the ego camera on ``base``, a chase camera ``track`` for videos, the
12 motors turned into PD position servos around the default pose, and geometry-free mocap bodies
that hold the task's per-world memory (below).

Definitions from the authors' Go2 terrain task (SDPG ``envs/genesis_env/go2_terrain.py``,
``cfgs/task/genesis/go2_terrain.yaml``):
  - action a in [-1, 1]^12 -> joint target default + 0.5 a, PD gains kp 30, kd 1.5; control every
    20 ms, physics every 5 ms; 1000 steps per episode;
  - terrain: 10 x 10 sub-terrains of 8 m at 0.1 m / 5 mm resolution with a 20 m flat border; row i
    at difficulty i / 10; columns: pyramid slopes down (2), up (1), roughness (2), stairs down (3)
    and up (2);
  - command: forward and sideways velocity U(-1, 1) m/s each (both zeroed when their norm is below
    0.2) and a heading U(-3.14, 3.14), drawn at reset and again every 200 steps; the yaw-rate
    command is clip(0.5 wrap(heading - yaw), -1, 1);
  - reward: the sum of the terms below, clipped at 0 (only positive rewards), times dt = 0.02:
    5 exp(-|c_xy - v_xy|^2 / 0.25) (v in the yaw frame), 1.5 exp(-(c_yaw - w_z)^2 / 0.25),
    -2 v_z^2, -0.05 (w_x^2 + w_y^2), -2.5e-7 |(qdot - qdot_prev) / dt|^2 (joint acceleration),
    -0.01 |a - a_prev|^2 (action rate), -0.01 |a - 2 a_prev + a_prev2|^2 (action smoothness),
    feet air time sum_f (t_air,f - 0.5) on a foot's first contact (0 when |c_xy| <= 0.1),
    0.5 when all four feet touch and |c| < 0.01, -0.05 sum of squared hip offsets, -2 sum of
    joint-angle excess over the middle 90% of each joint's range, -1 per base, thigh or calf
    touching the terrain (collision);
  - termination: the base touching the terrain, or roll or pitch beyond 0.4 rad;
  - start: the centre of a sub-terrain, base 0.42 m above its highest central sample, default
    joint angles;
  - camera 0.32 m ahead of and 0.15 m above the base looking at (0.5, 0, 0) from the base, 80
    degree field of view, following the base's position only (MuJoCo's ``track`` mode, as the
    authors' mount);
  - actor: proprioception (45) = [0.25 x base angular velocity (base frame), projected gravity,
    command x (2, 2, 0.25), joint angles - default, 0.05 x joint velocities, the applied action] +
    the camera's frame stack; critic: the proprioception, 2 x the base linear velocity in the yaw
    frame, and 5 clip(z - 0.5 - h, -1, 1) for the terrain height h read on a 9 x 9 grid (x and y
    from -0.4 to 0.4 m every 0.1 m, turned with the base's yaw) (129).

Contacts: after each step :meth:`Go2Terrain.sense` marks, per world, which feet and which
penalized links (base, thighs, calves; a calf's foot sphere counts as the foot) have a contact with
the terrain in mujoco_warp's contact list: a contact there is a penetrating constraint contact.

Per-world memory in mocap positions (``MEMORY_*`` layout, 3 entries per body): the command (v_x,
v_y, heading) in body 0, then the previous action, the action before it, the previous joint
velocities, each foot's air time and last contact, and the command stream (the key of the
world's command draws). Mocap poses are simulator state, so auxiliary worlds take their nominal's
memory with its state (their command draws are then the nominal's too), checkpoints keep it and a
recorded graph needs nothing more. The memory advances once per environment step
(:meth:`Go2Terrain.after_step`), never when an observation is re-evaluated after a reset; a reset
zeroes it and draws a new command and stream.

Deliberate differences: with the curriculum off (``--no-curriculum``) every world starts on a
uniformly drawn sub-terrain; on (the default, ``CURRICULUM``), as the authors', a nominal group starts
on one of the two easiest rows and moves by the distance its nominal walked, keeping the drawn
column; reset noise is
U(-0.025, 0.025) on every qpos entry (the authors: that on the position, a tilt of up to 7.5 degrees
and U(-0.5, 0.5) on the joints); a contact is its presence in the contact list (the authors
threshold contact forces: 1 N for feet and termination, 0.1 N for collisions); the feet-clearance
term (0.2, which needs foot velocities) is left out; a foot's air time advances once per step (the
authors' code evaluates every reward function twice per step, once for its logs, so their feet air
time advances by 2 dt); the action order is Menagerie's (FL, FR, RL, RR legs; the authors' FR, FL,
RR, RL); the authors' domain randomization and pushes (``RANDOMIZATION``, on by default in training:
docs/randomization.md), drawn once per nominal group; no observation noise or clipping; no self-collisions. The
actor's depth format (58 x 87 of a 60 x 106 render, 2 m, [-0.5, 0.5]) and 20-step proprioception
history are the authors', set by the config (``sdpg_warp/tasks/defaults.py``).
"""

import dataclasses
import functools
import math

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.curriculum import TerrainLevels
from sdpg_warp.profiling import nvtx_range
from sdpg_warp.randomization import Randomization
from sdpg_warp.tasks import register, terrain
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import contacts, guards, rotations, streams, task_memory
from sdpg_warp.tasks.common.actuators import actuators_by_joint, position_servo
from sdpg_warp.tasks.ego import EGO_CAMERA, add_ego_camera, lookat_quat
from sdpg_warp.tasks.menagerie import robot_spec

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ROBOT = "unitree_go2"
"""Menagerie registry name of the robot."""
ROBOT_FILE = "go2.xml"
"""Menagerie's Go2 (the authors load the same robot with foot bodies added)."""
LEGS = ("FL", "FR", "RL", "RR")
"""Legs in action order (Menagerie's); also the names of the foot geoms."""
MOTORS = tuple(f"{leg}_{part}_joint" for leg in LEGS for part in ("hip", "thigh", "calf"))
"""Actuated joints in action order."""
DEFAULT_POSE = (0.0, 0.8, -1.5, 0.0, 0.8, -1.5, 0.0, 1.0, -1.5, 0.0, 1.0, -1.5)
"""Joint angles (rad) that action 0 holds."""
DEFAULT_POSE_VEC = wp.constant(wp.types.vector(12, dtype=float)(*DEFAULT_POSE))
"""DEFAULT_POSE as a Warp constant the kernels index."""
HIPS = (0, 3, 6, 9)
"""Action indices of the hip (abduction) joints."""
NUM_JOINTS = len(MOTORS)
NUM_FEET = len(LEGS)
ACTION_SCALE = 0.5
"""Joint target offset (rad) of action +-1."""
KP = 30.0
"""Position gain (N m / rad)."""
KD = 1.5
"""Velocity gain (N m s / rad)."""
TIMESTEP = 0.005
"""Physics step (s): 4 per 20 ms control step (the authors' dt 0.02, substeps 4)."""
DT = 0.02
"""Control step (s); the reward is scaled by it, as the authors'."""
BASE_HEIGHT = 0.45
"""Base height above the start point at reset: the feet at the default pose 2 mm above the ground
(the authors' 0.42 m, set for their simulator, starts them 2.8 cm into it)."""
TERRAIN = terrain.TerrainSpec()
"""The authors' terrain (``go2_terrain.yaml``, ``terrain_args``)."""
TERRAIN_BORDER = TERRAIN.border
TERRAIN_SCALE = TERRAIN.horizontal_scale
TERRAIN_SIZE = TERRAIN.size
TERRAIN_ROWS = TERRAIN.num_rows
RANDOMIZATION = Randomization(
    body="base", friction=(0.2, 1.5), added_mass=(-1.0, 3.0), com_offset=(-0.01, 0.01), kp_scale=(0.8, 1.2),
    kd_scale=(0.8, 1.2), motor_offset=(-0.02, 0.02), push_interval_s=10.0, push_velocity=1.0,
    rgba_scale=(0.8, 1.2), camera_pos=(-0.01, 0.01), camera_rot=(-0.035, 0.035), camera_fovy=(-1.0, 1.0))
"""The authors' domain randomization (``go2_terrain.yaml``, ``domain_rand_options``), one draw per nominal
group and episode (docs/randomization.md); motor strength is off there and here. The visual draws are
this project's: the ego camera's mounting (1 cm, 2 degrees per axis, 1 degree of field of view) and,
for rgb, the colours (+-20 % per channel); the authors' depth noise is 0 and so is this one's."""
METRICS = ("tracking_error", "terrain_level")
"""The task metrics: the episode's mean planar velocity-command error |c_xy - v_xy| (m/s; the
command and the base velocity in the yaw frame, as the tracking reward reads them), and the
terrain level under the base at the end, the row i of its sub-terrain (difficulty i / 10; clamped
to 0..9 on the flat border). With the curriculum (``CURRICULUM``) it follows the groups' levels, the
curriculum's progress; without, a world starts on a uniformly drawn row and the level shows how far
a policy walks up or down the rows."""
LIN_VEL_RANGE = 1.0
"""Commanded forward and sideways velocities are U(-1, 1) m/s."""
HEADING_RANGE = 3.14
"""Commanded headings are U(-3.14, 3.14)."""
MIN_COMMAND = 0.2
"""A planar command slower than this is zeroed."""
RESAMPLE_STEPS = 200
"""A new command is drawn every this many steps of an episode (the authors' episode length / 5)."""
YAW_GAIN = 0.5
"""Yaw-rate command per radian of heading error."""
MAX_YAW_RATE = 1.0
"""The yaw-rate command is clipped to +-1 rad/s."""
TRACKING_SIGMA = 0.25
"""Width of the exponential tracking rewards."""
AIR_TIME_TARGET = 0.5
"""Air time (s) above which a foot's touchdown is rewarded (below it, penalized)."""
AIR_TIME_MIN_COMMAND = 0.1
"""The air-time term is 0 when the planar command is this slow or slower."""
STAND_STILL_COMMAND = 0.01
"""The stand-still term pays when the command's norm (v_x, v_y, yaw rate) is below this."""
WEIGHTS = dict(tracking_lin_vel=5.0, tracking_ang_vel=1.5, lin_vel_z=-2.0, ang_vel_xy=-0.05, dof_acc=-2.5e-7,
               action_rate=-0.01, action_smoothness=-0.01, feet_air_time=1.0, feet_contact_stand_still=0.5,
               hip_pos=-0.05, dof_pos_limits=-2.0, collision=-1.0)
"""The authors' reward scales (before the factor DT), in ``reward_terms`` order."""
(W_LIN, W_YAW, W_VZ, W_OMEGA_XY, W_ACC, W_RATE, W_SMOOTH, W_AIR, W_STAND, W_HIP, W_LIMIT,
 W_COLLISION) = (DT * w for w in WEIGHTS.values())
"""The weights times DT, as the kernel reads them (the clip at 0 commutes with the factor)."""
SOFT_LIMIT = 0.9
"""Share of each joint's range, around its middle, that the limit penalty leaves free."""
MAX_TILT = 0.4
"""Episode ends when roll or pitch exceeds this (rad)."""
LIN_VEL_SCALE = 2.0
"""Observation scale of linear velocities (the authors' ``obs_scales``)."""
ANG_VEL_SCALE = 0.25
"""Observation scale of angular velocities."""
DOF_VEL_SCALE = 0.05
"""Observation scale of joint velocities."""
HEIGHT_SCALE = 5.0
"""Observation scale of the terrain readings."""
HEIGHT_OFFSET = 0.5
"""Terrain samples read z - 0.5 - h, clipped to +-1."""
SAMPLE_XY = np.stack(np.meshgrid(np.round(np.arange(-0.4, 0.4 + 1e-9, 0.1), 6),
                                 np.round(np.arange(-0.4, 0.4 + 1e-9, 0.1), 6), indexing="ij"), axis=-1).reshape(-1, 2)
"""[81, 2] terrain-grid offsets in the yaw-turned base frame, x-major (``measured_points_x/y``)."""
PROPRIO_DIM = 3 + 3 + 3 + 3 * NUM_JOINTS
"""[angular velocity, projected gravity, command, joint angles, joint velocities, action] = 45."""

# Contact classes of the robot's geoms (``_geom_classes``): the touch flags of a world, in order.
TOUCH_FEET = 0
"""Touch flags 0..3: the feet, in LEGS order."""
TOUCH_BASE = NUM_FEET
"""Touch flag 4: the base (its contact ends the episode)."""
TOUCH_PENALIZED = NUM_FEET
"""Touch flags 4..12 are the penalized links: the base, then the thighs and the calves by leg."""
NUM_TOUCH = NUM_FEET + 1 + 2 * NUM_FEET
"""Touch flags per world (13)."""

# Memory layout (``common/task_memory.py``: flat index k lives in mocap body 1 + k // 3, component k % 3).
COMMAND_BODY = 0
"""Mocap id of the command (v_x, v_y, heading)."""
CURRICULUM = TerrainLevels(rows=TERRAIN.num_rows, cols=TERRAIN.num_cols, size=TERRAIN.size, command_body=COMMAND_BODY,
                           max_init_level=1)
"""The authors' terrain curriculum (``terrain_args``: ``curriculum``, ``max_init_terrain_level`` 1), per
nominal group: docs/randomization.md."""
MEM_ACTION = 0
"""The previous applied action (12)."""
MEM_ACTION2 = MEM_ACTION + NUM_JOINTS
"""The action before it (12)."""
MEM_QVEL = MEM_ACTION2 + NUM_JOINTS
"""The previous step's joint velocities (12)."""
MEM_AIR = MEM_QVEL + NUM_JOINTS
"""Each foot's air time (s) (4)."""
MEM_CONTACT = MEM_AIR + NUM_FEET
"""Each foot's contact at the previous step, 0 or 1 (4)."""
MEM_STREAM = MEM_CONTACT + NUM_FEET
"""Key of the world's command draws, an integer below 2^24 (1)."""
MEMORY_SIZE = MEM_STREAM + 1
MEMORY_BODIES = task_memory.num_bodies(MEMORY_SIZE)
"""Mocap bodies 1..MEMORY_BODIES hold the memory."""
STREAM_RANGE = 1 << 24
"""Command streams are drawn below this (exact in float32)."""
_MemoryVector = wp.types.vector(length=3 * MEMORY_BODIES, dtype=float)
"""A world's memory as a kernel-local vector."""

CAMERA_POS = (0.32, 0.0, 0.15)
"""Camera position relative to the base (the authors' depth mount)."""
CAMERA_LOOKAT = (0.5, 0.0, 0.0)
"""Point the camera looks at, relative to the base."""
CAMERA_FOVY = 80.0
"""Vertical field of view in degrees."""


@wp.func
def _yaw(quat: wp.quat) -> float:
    """Heading of the base's x axis in the horizontal plane."""
    forward = wp.quat_rotate(quat, wp.vec3(1.0, 0.0, 0.0))
    return wp.atan2(forward[1], forward[0])


@wp.func
def _wrap(angle: float) -> float:
    """angle wrapped to (-pi, pi]."""
    return angle - 2.0 * wp.pi * wp.ceil((angle - wp.pi) / (2.0 * wp.pi))


@wp.func
def _draw_command(rng: wp.uint32) -> wp.vec3:
    """(v_x, v_y, heading): velocities U(-1, 1) (zeroed together below MIN_COMMAND), heading
    U(-3.14, 3.14)."""
    vx = LIN_VEL_RANGE * (2.0 * wp.randf(rng) - 1.0)
    vy = LIN_VEL_RANGE * (2.0 * wp.randf(rng) - 1.0)
    heading = HEADING_RANGE * (2.0 * wp.randf(rng) - 1.0)
    if vx * vx + vy * vy < MIN_COMMAND * MIN_COMMAND:
        vx = 0.0
        vy = 0.0
    return wp.vec3(vx, vy, heading)


@wp.func
def _touchdown(air: float, last: float, touch: int) -> wp.vec2:
    """One foot's (first-contact flag, air time after this step) from its air time and previous
    contact: a contact this step or the last one counts as ground contact (filtering a one-step
    bounce); a touchdown is ground contact after time in the air, which then restarts at 0."""
    grounded = touch != 0 or last > 0.5
    first = wp.where(grounded and air > 0.0, 1.0, 0.0)
    return wp.vec2(first, wp.where(grounded, 0.0, air + DT))


@wp.kernel
def _go2_terrain_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    touch_in: wp.array2d(dtype=int),
    heights_in: wp.array2d(dtype=float),
    sample_in: wp.array(dtype=wp.vec2),
    limits_in: wp.array(dtype=wp.vec2),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [proprioception (45), yaw-frame velocity (3), terrain grid (81)]; terms as WEIGHTS."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    quat = rotations.qpos_quat(worldid, 3, qpos_in)
    x = qpos_in[worldid, 0]
    y = qpos_in[worldid, 1]
    z = qpos_in[worldid, 2]
    yaw = _yaw(quat)
    c = wp.cos(yaw)
    s = wp.sin(yaw)
    vx = qvel_in[worldid, 0]
    vy = qvel_in[worldid, 1]
    velocity = wp.vec3(c * vx + s * vy, -s * vx + c * vy, qvel_in[worldid, 2])  # yaw frame
    omega = wp.vec3(qvel_in[worldid, 3], qvel_in[worldid, 4], qvel_in[worldid, 5])  # base frame
    gravity = wp.quat_rotate_inv(quat, wp.vec3(0.0, 0.0, -1.0))
    command = mocap_pos_in[worldid, COMMAND_BODY]
    yaw_rate = wp.clamp(YAW_GAIN * _wrap(command[2] - yaw), -MAX_YAW_RATE, MAX_YAW_RATE)

    for i in range(3):
        state_out[worldid, i] = ANG_VEL_SCALE * omega[i]
        state_out[worldid, 3 + i] = gravity[i]
        state_out[worldid, PROPRIO_DIM + i] = LIN_VEL_SCALE * velocity[i]
    state_out[worldid, 6] = LIN_VEL_SCALE * command[0]
    state_out[worldid, 7] = LIN_VEL_SCALE * command[1]
    state_out[worldid, 8] = ANG_VEL_SCALE * yaw_rate
    acc = float(0.0)
    rate = float(0.0)
    smooth = float(0.0)
    hips = float(0.0)
    excess = float(0.0)
    for i in range(NUM_JOINTS):
        q = qpos_in[worldid, 7 + i]
        qdot = qvel_in[worldid, 6 + i]
        offset = q - DEFAULT_POSE_VEC[i]
        a = action_in[worldid, i]
        state_out[worldid, 9 + i] = offset
        state_out[worldid, 9 + NUM_JOINTS + i] = DOF_VEL_SCALE * qdot
        state_out[worldid, 9 + 2 * NUM_JOINTS + i] = a
        previous = task_memory.read(worldid, MEM_ACTION + i, mocap_pos_in)
        change = (qdot - task_memory.read(worldid, MEM_QVEL + i, mocap_pos_in)) / DT
        second = a - 2.0 * previous + task_memory.read(worldid, MEM_ACTION2 + i, mocap_pos_in)
        acc += change * change
        rate += (a - previous) * (a - previous)
        smooth += second * second
        if i % 3 == 0:
            hips += offset * offset
        limit = limits_in[i]
        excess += wp.max(limit[0] - q, 0.0) + wp.max(q - limit[1], 0.0)
    for j in range(sample_in.shape[0]):
        p = sample_in[j]
        h = terrain.sample_height(x + c * p[0] - s * p[1], y + s * p[0] + c * p[1], TERRAIN_BORDER,
                                  TERRAIN_SCALE, heights_in)
        state_out[worldid, PROPRIO_DIM + 3 + j] = HEIGHT_SCALE * wp.clamp(z - HEIGHT_OFFSET - h, -1.0, 1.0)

    air = float(0.0)
    feet_down = int(0)
    for f in range(NUM_FEET):
        touch = touch_in[worldid, TOUCH_FEET + f]
        air_time = task_memory.read(worldid, MEM_AIR + f, mocap_pos_in)
        step = _touchdown(air_time, task_memory.read(worldid, MEM_CONTACT + f, mocap_pos_in), touch)
        air += step[0] * (air_time + DT - AIR_TIME_TARGET)
        feet_down += wp.where(touch != 0, 1, 0)
    collisions = float(0.0)
    for k in range(TOUCH_PENALIZED, NUM_TOUCH):
        collisions += wp.where(touch_in[worldid, k] != 0, 1.0, 0.0)
    planar = wp.sqrt(command[0] * command[0] + command[1] * command[1])
    still = wp.sqrt(planar * planar + yaw_rate * yaw_rate) < STAND_STILL_COMMAND

    lin_error = (command[0] - velocity[0]) * (command[0] - velocity[0]) + (command[1] - velocity[1]) * (
        command[1] - velocity[1])
    terms_out[worldid, 0] = W_LIN * wp.exp(-lin_error / TRACKING_SIGMA)
    terms_out[worldid, 1] = W_YAW * wp.exp(-(yaw_rate - omega[2]) * (yaw_rate - omega[2]) / TRACKING_SIGMA)
    terms_out[worldid, 2] = W_VZ * velocity[2] * velocity[2]
    terms_out[worldid, 3] = W_OMEGA_XY * (omega[0] * omega[0] + omega[1] * omega[1])
    terms_out[worldid, 4] = W_ACC * acc
    terms_out[worldid, 5] = W_RATE * rate
    terms_out[worldid, 6] = W_SMOOTH * smooth
    terms_out[worldid, 7] = W_AIR * wp.where(planar > AIR_TIME_MIN_COMMAND, air, 0.0)
    terms_out[worldid, 8] = W_STAND * wp.where(still and feet_down == NUM_FEET, 1.0, 0.0)
    terms_out[worldid, 9] = W_HIP * hips
    terms_out[worldid, 10] = W_LIMIT * excess
    terms_out[worldid, 11] = W_COLLISION * collisions
    total = float(0.0)
    for k in range(terms_out.shape[1]):
        total += terms_out[worldid, k]
    reward_out[worldid] = wp.max(total, 0.0)

    # Roll and pitch of the base (x-y-z Euler angles), as the authors' termination reads them.
    qx = quat[0]
    qy = quat[1]
    qz = quat[2]
    qw = quat[3]
    roll = wp.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy))
    pitch = wp.asin(wp.clamp(2.0 * (qw * qy - qz * qx), -1.0, 1.0))
    terminated = wp.abs(roll) > MAX_TILT or wp.abs(pitch) > MAX_TILT or touch_in[worldid, TOUCH_BASE] != 0
    terminated_out[worldid] = wp.where(terminated, 1, 0)


@wp.kernel
def _go2_terrain_measure(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """metrics = (running mean over the episode's steps of |c_xy - v_xy|, the terrain row under the
    base) (``METRICS``); ``metrics_in`` is ``metrics_out`` as it was (each world its own row): the
    mean after n earlier steps is m + (e - m) / (n + 1)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.hold_metrics(worldid, episode_step_in, metrics_in, metrics_out)
        return
    yaw = _yaw(rotations.qpos_quat(worldid, 3, qpos_in))
    c = wp.cos(yaw)
    s = wp.sin(yaw)
    vx = qvel_in[worldid, 0]
    vy = qvel_in[worldid, 1]
    command = mocap_pos_in[worldid, COMMAND_BODY]
    ex = command[0] - (c * vx + s * vy)
    ey = command[1] - (-s * vx + c * vy)
    mean = guards.previous_metric(worldid, 0, episode_step_in, metrics_in)
    metrics_out[worldid, 0] = mean + (wp.sqrt(ex * ex + ey * ey) - mean) / float(episode_step_in[worldid] + 1)
    row = wp.clamp(int(wp.floor(qpos_in[worldid, 0] / TERRAIN_SIZE)), 0, TERRAIN_ROWS - 1)
    metrics_out[worldid, 1] = float(row)


@wp.kernel
def _go2_terrain_advance(
    # In:
    time_in: wp.array(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    touch_in: wp.array2d(dtype=int),
    action_in: wp.array2d(dtype=float),
    memory_in: wp.array2d(dtype=wp.vec3),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """One step of a world's memory (``memory_in`` is ``mocap_pos_out`` as it was: each world
    reads and writes its own rows only): the action and joint velocities of this step become the
    previous ones, the feet's air times and contacts advance, and a new command is drawn when the
    episode's step count reaches a multiple of RESAMPLE_STEPS."""
    worldid = wp.tid()
    memory = _MemoryVector()
    for k in range(MEMORY_SIZE):
        memory[k] = task_memory.read(worldid, k, memory_in)
    for i in range(NUM_JOINTS):
        memory[MEM_ACTION2 + i] = memory[MEM_ACTION + i]
        memory[MEM_ACTION + i] = action_in[worldid, i]
        memory[MEM_QVEL + i] = qvel_in[worldid, 6 + i]
    for f in range(NUM_FEET):
        touch = touch_in[worldid, TOUCH_FEET + f]
        step = _touchdown(memory[MEM_AIR + f], memory[MEM_CONTACT + f], touch)
        memory[MEM_AIR + f] = step[1]
        memory[MEM_CONTACT + f] = wp.where(touch != 0, 1.0, 0.0)
    for b in range(MEMORY_BODIES):
        mocap_pos_out[worldid, 1 + b] = wp.vec3(memory[3 * b], memory[3 * b + 1], memory[3 * b + 2])
    step_count = int(wp.round(time_in[worldid] / DT))
    if step_count > 0 and step_count % RESAMPLE_STEPS == 0:
        rng = wp.rand_init(int(memory[MEM_STREAM]), step_count)
        mocap_pos_out[worldid, COMMAND_BODY] = _draw_command(rng)


@wp.kernel
def _go2_terrain_place(
    # In:
    seed_in: int,
    origins_in: wp.array(dtype=wp.vec3),
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qpos_out: wp.array2d(dtype=float),
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """Masked worlds: base moved onto a uniformly drawn sub-terrain's start point, a new command
    and command stream, the rest of the memory zeroed. Keyed by (seed, world, reset_count)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    rng = streams.reset_rng(seed_in, reset_count_in[worldid], worldid)
    origin = origins_in[wp.randi(rng, 0, origins_in.shape[0])]
    for i in range(3):
        qpos_out[worldid, i] = qpos_out[worldid, i] + origin[i]
    stream = float(wp.randi(rng, 0, STREAM_RANGE))
    # Last: the draws of _draw_command advance its own copy of rng.
    mocap_pos_out[worldid, COMMAND_BODY] = _draw_command(rng)
    for b in range(MEMORY_BODIES):
        mocap_pos_out[worldid, 1 + b] = wp.vec3(0.0, 0.0, 0.0)
    task_memory.write(worldid, MEM_STREAM, stream, mocap_pos_out)


@dataclasses.dataclass(frozen=True)
class _Constants:
    """The task's constant arrays on one device, allocated once, so a recorded graph keeps valid
    addresses."""

    heights: wp.array2d
    """[nx, ny] terrain heights (m)."""
    samples: wp.array
    """[81] vec2 terrain-grid offsets (SAMPLE_XY)."""
    limits: wp.array
    """[12] vec2 soft joint limits."""
    origins: wp.array
    """[100] vec3 start points of the sub-terrains."""
    geom_class: wp.array
    """[ngeom] int32 touch flag of each geom (``geom_classes``), -1: none."""
    geom_partner: wp.array
    """[ngeom] int32 all 1: a flagged geom's contact with any geom counts (the robot collides with
    the terrain only)."""


@functools.cache
def _constants(device: str) -> _Constants:
    ground = terrain.generate(TERRAIN)
    classes = geom_classes(Go2Terrain().mj_model())
    return _Constants(heights=wp.array(ground.heights, dtype=float, device=device),
                      samples=wp.array(SAMPLE_XY, dtype=wp.vec2, device=device),
                      limits=wp.array(_soft_limits(), dtype=wp.vec2, device=device),
                      origins=wp.array(ground.origins, dtype=wp.vec3, device=device),
                      geom_class=wp.array(classes, dtype=int, device=device),
                      geom_partner=wp.ones(len(classes), dtype=int, device=device))


@functools.cache
def _soft_limits() -> np.ndarray:
    """[12, 2] middle 90% of each actuated joint's range (from Menagerie's file)."""
    spec = robot_spec(ROBOT, ROBOT_FILE)
    ranges = {joint.name: joint.range for joint in spec.joints}
    limits = np.array([ranges[name] for name in MOTORS], dtype=np.float64)
    middle, half = limits.mean(axis=1), 0.5 * SOFT_LIMIT * (limits[:, 1] - limits[:, 0])
    return np.stack([middle - half, middle + half], axis=1)


def geom_classes(mjm: mujoco.MjModel) -> np.ndarray:
    """[ngeom] int32: each geom's touch flag (module constants ``TOUCH_*``): a foot sphere (geom
    named after its leg) its foot's, the base's geoms TOUCH_BASE, a leg's thigh and calf geoms
    TOUCH_BASE + 1 + leg and TOUCH_BASE + 5 + leg; -1 for every other geom (hips, terrain)."""
    classes = np.full(mjm.ngeom, -1, dtype=np.int32)
    for g in range(mjm.ngeom):
        name, body = mjm.geom(g).name, mjm.body(mjm.geom_bodyid[g]).name
        if name in LEGS:
            classes[g] = TOUCH_FEET + LEGS.index(name)
        elif body == "base":
            classes[g] = TOUCH_BASE
        elif body.endswith(("_thigh", "_calf")) and body[:2] in LEGS:
            classes[g] = TOUCH_BASE + 1 + LEGS.index(body[:2]) + (NUM_FEET if body.endswith("_calf") else 0)
    for k in range(NUM_TOUCH):
        if not (classes == k).any():
            raise ValueError(f"{ROBOT_FILE}: no geom for touch flag {k} (feet named {LEGS}, bodies base, *_thigh, *_calf)")
    return classes


def _position_servos(spec: mujoco.MjSpec) -> None:
    """Each motor becomes a PD servo around its default angle: force = kp (target - q) - kd qdot,
    target in default +- ACTION_SCALE, force limited to the motor's torque range."""
    actuators = actuators_by_joint(spec, MOTORS, ROBOT_FILE)
    for name, default in zip(MOTORS, DEFAULT_POSE):
        actuator = actuators[name]
        torque = list(actuator.ctrlrange)
        position_servo(actuator, KP, KD, default, ACTION_SCALE)
        actuator.forcerange = torque
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def _np_touchdown(air: np.ndarray, last: np.ndarray, touch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """NumPy twin of :func:`_touchdown` over the four feet: (first contact, air time after)."""
    grounded = (touch != 0) | (last > 0.5)
    return (grounded & (air > 0.0)).astype(np.float64), np.where(grounded, 0.0, air + DT)


@register
@dataclasses.dataclass(frozen=True)
class Go2Terrain(Task):
    name = "go2_terrain"
    xml_file = ROBOT_FILE
    menagerie_robot = ROBOT
    menagerie_files = (ROBOT_FILE,)
    state_dim = PROPRIO_DIM + 3 + len(SAMPLE_XY)
    proprio_dim = PROPRIO_DIM
    camera = EGO_CAMERA
    reward_terms = tuple(WEIGHTS)
    metric_names = METRICS
    _kernel = _go2_terrain_evaluate
    # Measured in C MuJoCo (tools/contact_budget.py --steps 3000: uniform and +-1 random actions,
    # with and without termination, plus settling from lying poses, each episode on a drawn
    # sub-terrain): at most 45 contacts and 183 constraint rows, no blow-up. Budget: 2x both, plus
    # one row per joint limit.
    num_contact_flags = NUM_TOUCH
    max_contacts = 90
    max_constraints = 2 * 183 + NUM_JOINTS
    solver_iterations = 70  # measured max 35 (bench/solver_iterations.py)
    randomization = RANDOMIZATION
    curriculum = CURRICULUM

    frame_skip: int = 4
    episode_length: int = 1000
    reset_noise_qpos: float = 0.025
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """Go2 from Menagerie on the terrain, with PD servos, memory bodies and the ego camera; qpos0
        holds the base start over the world origin (a reset moves it onto a sub-terrain).
        Raises :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the robot is not available."""
        spec = robot_spec(ROBOT, ROBOT_FILE)
        spec.option.timestep = TIMESTEP
        for geom in spec.geoms:  # no self-collision: the robot's geoms collide with the terrain only
            if geom.contype:
                geom.conaffinity = 0
                # Menagerie's 1 mm foot margin: mujoco_warp 4.0's heightfield collision reports the
                # contact distance shifted by the margin (1.0-1.5 mm deeper than C MuJoCo on the same
                # state, measured), which makes the two simulators disagree at every foot contact.
                geom.margin = 0.0
        terrain.add_to(spec, terrain.generate(TERRAIN))
        spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
        spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
        spec.worldbody.add_body(name="command", mocap=True)
        task_memory.add_bodies(spec, MEMORY_BODIES)
        _position_servos(spec)
        add_ego_camera(spec.body("base"), CAMERA_POS, CAMERA_LOOKAT, CAMERA_FOVY, mujoco.mjtCamLight.mjCAMLIGHT_TRACK)
        spec.body("base").add_camera(name="track", mode=mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM, pos=[-1.5, -1.0, 0.8],
                                     quat=list(lookat_quat([-1.5, -1.0, 0.8], [0.0, 0.0, 0.0])), fovy=60.0)
        # The 140 m terrain would set the scene extent, and with it the near plane, to metres.
        spec.stat.extent = 1.0
        mjm = spec.compile()
        for i, name in enumerate(MOTORS):
            joint = mjm.joint(name)
            if joint.qposadr[0] != 7 + i or joint.dofadr[0] != 6 + i or mjm.actuator_trnid[i, 0] != joint.id:
                raise ValueError(f"{ROBOT_FILE}: {name} is not joint and actuator {i} after the free joint")
        if mjm.body_mocapid[mjm.body("command").id] != COMMAND_BODY:
            raise ValueError("the command body is not mocap body 0")
        # The free joint's qpos0 only sets where a reset starts; the joints' stays the model's.
        mjm.qpos0[:7] = np.concatenate([[0.0, 0.0, BASE_HEIGHT], [1.0, 0.0, 0.0, 0.0]])
        return mjm

    def initial_qpos(self, mjm: mujoco.MjModel) -> np.ndarray:
        """qpos0 with the joints at the default pose."""
        qpos = mjm.qpos0.copy()
        qpos[7:7 + NUM_JOINTS] = DEFAULT_POSE
        return qpos

    def start_points(self) -> np.ndarray:
        """[100, 3] the sub-terrains' start points that a reset adds to qpos0's position."""
        return terrain.generate(TERRAIN).origins

    def sense(self, d, contacts_out) -> None:
        """``contacts_out`` [W, NUM_TOUCH]: each world's terrain-contact flags (``TOUCH_*``) from the
        Data's contact list."""
        consts = _constants(str(d.qpos.device))
        contacts.contact_flags(d, consts.geom_class, consts.geom_partner, contacts_out)

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs; ``inputs.mocap_pos`` holds the command and the memory, ``contacts``
        the touch flags."""
        qpos = inputs.qpos
        consts = _constants(str(qpos.device))
        wp.launch(
            self._kernel,
            dim=qpos.shape[0],
            inputs=[qpos, inputs.qvel, inputs.mocap_pos, inputs.contacts, consts.heights, consts.samples, consts.limits,
                    inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        with nvtx_range("task.go2_measure"):
            wp.launch(_go2_terrain_measure, dim=d.qpos.shape[0],
                      inputs=[d.qpos, d.qvel, d.mocap_pos, episode_step, metrics], outputs=[metrics],
                      device=d.qpos.device)

    def after_step(self, d, inputs) -> None:
        """Advances every world's memory by the step just evaluated (module docstring)."""
        with nvtx_range("task.go2_memory"):
            wp.launch(_go2_terrain_advance, dim=d.qpos.shape[0],
                      inputs=[d.time, d.qvel, inputs.contacts, inputs.action, d.mocap_pos],
                      outputs=[d.mocap_pos], device=d.qpos.device)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        with nvtx_range("task.place_go2"):
            wp.launch(_go2_terrain_place, dim=d.qpos.shape[0],
                      inputs=[seed + streams.GO2_SCENE, _constants(str(mask.device)).origins, mask, reset_count],
                      outputs=[d.qpos, d.mocap_pos], device=mask.device)

    def reference_reward(self, terms: np.ndarray) -> float:
        """The sum of the terms clipped at 0 (only positive rewards)."""
        return max(float(np.sum(terms)), 0.0)

    def reference_sense(self, mjm, mjd) -> np.ndarray:
        return np_touch(mjm, mjd)

    def reference(self, world):
        """NumPy reference for one world: (obs, terms, terminated); ``world.mocap_pos`` [nmocap, 3]
        holds the command and the memory, ``contacts`` [NUM_TOUCH] the touch flags. The reward is
        max(sum(terms), 0)."""
        qpos, qvel, action, mocap_pos, touch = world.qpos, world.qvel, world.action, world.mocap_pos, world.contacts
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        ground = terrain.generate(TERRAIN)
        memory = task_memory.np_read(mocap_pos, MEMORY_SIZE)
        rot = rotations.np_quat_to_mat(qpos[3:7])
        x, y, z = qpos[0:3]
        yaw = math.atan2(rot[1, 0], rot[0, 0])
        c, s = math.cos(yaw), math.sin(yaw)
        velocity = np.array([c * qvel[0] + s * qvel[1], -s * qvel[0] + c * qvel[1], qvel[2]])
        omega = qvel[3:6]
        vx, vy, heading = mocap_pos[COMMAND_BODY]
        error = (heading - yaw + math.pi) % (2 * math.pi) - math.pi
        yaw_rate = float(np.clip(YAW_GAIN * error, -MAX_YAW_RATE, MAX_YAW_RATE))
        q, qdot = qpos[7:7 + NUM_JOINTS], qvel[6:6 + NUM_JOINTS]
        offset = q - np.array(DEFAULT_POSE)
        previous = memory[MEM_ACTION:MEM_ACTION + NUM_JOINTS]
        before = memory[MEM_ACTION2:MEM_ACTION2 + NUM_JOINTS]
        air = memory[MEM_AIR:MEM_AIR + NUM_FEET]
        feet = touch[TOUCH_FEET:TOUCH_FEET + NUM_FEET]
        first, _ = _np_touchdown(air, memory[MEM_CONTACT:MEM_CONTACT + NUM_FEET], feet)
        planar = math.hypot(vx, vy)
        limits = _soft_limits()
        heights = [terrain.np_sample_height(x + c * px - s * py, y + s * px + c * py, ground) for px, py in SAMPLE_XY]
        obs = np.concatenate([
            ANG_VEL_SCALE * omega, rot.T @ [0.0, 0.0, -1.0],
            [LIN_VEL_SCALE * vx, LIN_VEL_SCALE * vy, ANG_VEL_SCALE * yaw_rate],
            offset, DOF_VEL_SCALE * qdot, action,
            LIN_VEL_SCALE * velocity,
            HEIGHT_SCALE * np.clip(z - HEIGHT_OFFSET - np.array(heights), -1.0, 1.0),
        ])
        raw = np.array([
            math.exp(-((vx - velocity[0]) ** 2 + (vy - velocity[1]) ** 2) / TRACKING_SIGMA),
            math.exp(-(yaw_rate - omega[2]) ** 2 / TRACKING_SIGMA),
            velocity[2] ** 2,
            omega[0] ** 2 + omega[1] ** 2,
            np.sum(((qdot - memory[MEM_QVEL:MEM_QVEL + NUM_JOINTS]) / DT) ** 2),
            np.sum((action - previous) ** 2),
            np.sum((action - 2 * previous + before) ** 2),
            np.sum(first * (air + DT - AIR_TIME_TARGET)) if planar > AIR_TIME_MIN_COMMAND else 0.0,
            float(np.all(feet != 0) and math.hypot(planar, yaw_rate) < STAND_STILL_COMMAND),
            np.sum(offset[list(HIPS)] ** 2),
            np.sum(np.maximum(limits[:, 0] - q, 0.0) + np.maximum(q - limits[:, 1], 0.0)),
            np.count_nonzero(touch[TOUCH_PENALIZED:]),
        ])
        terms = DT * np.array(list(WEIGHTS.values())) * raw
        roll = math.atan2(rot[2, 1], rot[2, 2])
        pitch = math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0)))
        terminated = bool(abs(roll) > MAX_TILT or abs(pitch) > MAX_TILT or touch[TOUCH_BASE] != 0)
        return obs, terms, terminated

    def reference_measure(self, qpos, qvel, mocap_pos, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world: [tracking error, terrain level];
        ``previous`` the metrics before the step, ``episode_step`` the steps before it."""
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(2) if episode_step == 0 else np.array(previous, dtype=np.float64)
        rot = rotations.np_quat_to_mat(qpos[3:7])
        yaw = math.atan2(rot[1, 0], rot[0, 0])
        c, s = math.cos(yaw), math.sin(yaw)
        velocity = np.array([c * qvel[0] + s * qvel[1], -s * qvel[0] + c * qvel[1]])
        error = float(np.linalg.norm(mocap_pos[COMMAND_BODY, :2] - velocity))
        mean = 0.0 if episode_step == 0 else previous[0]
        row = min(max(math.floor(qpos[0] / TERRAIN.size), 0), TERRAIN.num_rows - 1)
        return np.array([mean + (error - mean) / (episode_step + 1), row])

    def reference_after_step(self, qvel, action, touch, mocap_pos) -> np.ndarray:
        """NumPy reference of :meth:`after_step` for one world short of a command draw: its
        [nmocap, 3] mocap positions afterwards."""
        memory = task_memory.np_read(mocap_pos, MEMORY_SIZE).copy()
        memory[MEM_ACTION2:MEM_ACTION2 + NUM_JOINTS] = memory[MEM_ACTION:MEM_ACTION + NUM_JOINTS]
        memory[MEM_ACTION:MEM_ACTION + NUM_JOINTS] = action
        memory[MEM_QVEL:MEM_QVEL + NUM_JOINTS] = qvel[6:6 + NUM_JOINTS]
        feet = touch[TOUCH_FEET:TOUCH_FEET + NUM_FEET]
        _, memory[MEM_AIR:MEM_AIR + NUM_FEET] = _np_touchdown(
            memory[MEM_AIR:MEM_AIR + NUM_FEET], memory[MEM_CONTACT:MEM_CONTACT + NUM_FEET], feet)
        memory[MEM_CONTACT:MEM_CONTACT + NUM_FEET] = feet != 0
        out = mocap_pos.copy()
        flat = out[1:1 + MEMORY_BODIES].reshape(-1)
        flat[:MEMORY_SIZE] = memory
        out[1:1 + MEMORY_BODIES] = flat.reshape(MEMORY_BODIES, 3)
        return out


def np_touch(mjm: mujoco.MjModel, mjd: mujoco.MjData) -> np.ndarray:
    """NumPy reference of :meth:`Go2Terrain.sense` for one C MuJoCo world: [NUM_TOUCH] int32."""
    return contacts.np_contact_flags(mjd, geom_classes(mjm), np.ones(mjm.ngeom, dtype=np.int32), NUM_TOUCH)
