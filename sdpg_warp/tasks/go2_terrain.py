"""Go2 terrain: the Unitree Go2 quadruped (from MuJoCo Menagerie) tracking a velocity command over
procedural terrain, seeing it through a depth or RGB camera on its base.

Scene (``mujoco.MjSpec`` on Menagerie ``unitree_go2/go2.xml``): the heightfield terrain of
:mod:`sdpg_warp.tasks.terrain`, the ego camera on ``base``, a chase camera ``track`` for videos, the
12 motors turned into PD position servos around the default pose, and five geometry-free mocap
bodies that hold the task's per-world memory (below).

Definitions from the authors' Go2 terrain task (SDPG ``envs/genesis_env/go2_terrain.py``,
``cfgs/task/genesis/go2_terrain.yaml``):
  - action a in [-1, 1]^12 -> joint target default + 0.5 a, PD gains kp 30, kd 1.5; control every
    20 ms, physics every 5 ms; 1000 steps per episode;
  - terrain: 10 x 10 sub-terrains of 8 m at 0.1 m / 5 mm resolution with a 20 m flat border; row i
    at difficulty i / 10; columns: pyramid slopes down (2), up (1), roughness (2), stairs down (3)
    and up (2);
  - command: forward and sideways velocity U(-1, 1) m/s each (both zeroed when their norm is below
    0.2) and a heading U(-3.14, 3.14); the yaw-rate command is clip(0.5 wrap(heading - yaw), -1, 1);
  - reward (each term times dt = 0.02): 5 exp(-|c_xy - v_xy|^2 / 0.25) (v in the yaw frame),
    1.5 exp(-(c_yaw - w_z)^2 / 0.25), -2 v_z^2, -0.05 (w_x^2 + w_y^2), -0.01 |a - a_prev|^2,
    -0.05 sum of squared hip offsets, -2 sum of joint-angle excess over the middle 90% of each
    joint's range;
  - termination: roll or pitch beyond 0.4 rad, or the base touching the terrain;
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

Per-world memory in mocap positions: mocap body 0 holds the command (v_x, v_y, heading), bodies 1-4
the previous action a_prev (3 entries each). Mocap poses are simulator state, so the auxiliary
worlds take their nominal's, checkpoints keep them and a recorded graph needs nothing more. After
the task's outputs are written, :meth:`Go2Terrain.evaluate_data` stores the applied action as the
next a_prev; a reset zeroes a_prev (the simulator zeroes the applied action too), so evaluating
again right after a reset reads and stores the same values.

Deliberate differences: the command is drawn once per episode (the authors redraw it every 200
steps) and its planar part is zeroed when that part's norm is below 0.2 (the authors' norm also
takes in a stale yaw rate); every world starts on a uniformly drawn sub-terrain (no curriculum: the
authors start on the two easiest rows and move worlds by their walked distance); reset noise is
U(-0.025, 0.025) on every qpos entry (the authors: that on the position, a tilt of up to 7.5 degrees
and U(-0.5, 0.5) on the joints); the base-contact termination reads the base's clearance over the
terrain (below ``MIN_CLEARANCE``, on the authors' terrain reading) instead of contact forces; the
terms that need contact forces, foot poses, the previous joint velocities or a second remembered
action (collision -1, dof_acc -2.5e-7, action_smoothness -0.01, feet_air_time 1,
feet_contact_stand_still 0.5, feet_clearance 0.2) are left out, and the sum is not clipped at 0
(the authors keep only positive rewards); the action order is Menagerie's (FL, FR, RL, RR legs;
the authors' FR, FL, RR, RL); the depth image is metres to the far plane (the authors clip it to
2 m and rescale); no domain randomization, pushes, observation noise or clipping; no
self-collisions.
"""

import dataclasses
import functools
import math

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.tasks import locomotion, register, terrain
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.ego import EGO_CAMERA, add_ego_camera, lookat_quat
from sdpg_warp.tasks.menagerie import robot_file

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ROBOT = "unitree_go2"
"""Menagerie registry name of the robot."""
ROBOT_FILE = "go2.xml"
"""Menagerie's Go2 (the authors load the same robot with foot bodies added)."""
MOTORS = tuple(f"{leg}_{part}_joint" for leg in ("FL", "FR", "RL", "RR") for part in ("hip", "thigh", "calf"))
"""Actuated joints in action order (Menagerie's)."""
DEFAULT_POSE = (0.0, 0.8, -1.5, 0.0, 0.8, -1.5, 0.0, 1.0, -1.5, 0.0, 1.0, -1.5)
"""Joint angles (rad) that action 0 holds."""
DEFAULT_POSE_VEC = wp.constant(wp.types.vector(12, dtype=float)(*DEFAULT_POSE))
"""DEFAULT_POSE as a Warp constant the kernels index."""
HIPS = (0, 3, 6, 9)
"""Action indices of the hip (abduction) joints."""
NUM_JOINTS = len(MOTORS)
ACTION_SCALE = 0.5
"""Joint target offset (rad) of action +-1."""
KP = 30.0
"""Position gain (N m / rad)."""
KD = 1.5
"""Velocity gain (N m s / rad)."""
TIMESTEP = 0.005
"""Physics step (s): 4 per 20 ms control step (the authors' dt 0.02, substeps 4)."""
DT = 0.02
"""Control step (s); every reward term is scaled by it, as the authors'."""
BASE_HEIGHT = 0.45
"""Base height above the start point at reset: the feet at the default pose 2 mm above the ground
(the authors' 0.42 m, set for their simulator, starts them 2.8 cm into it)."""
TERRAIN = terrain.TerrainSpec()
"""The authors' terrain (``go2_terrain.yaml``, ``terrain_args``)."""
TERRAIN_BORDER = TERRAIN.border
TERRAIN_SCALE = TERRAIN.horizontal_scale
LIN_VEL_RANGE = 1.0
"""Commanded forward and sideways velocities are U(-1, 1) m/s."""
HEADING_RANGE = 3.14
"""Commanded headings are U(-3.14, 3.14)."""
MIN_COMMAND = 0.2
"""A planar command slower than this is zeroed."""
YAW_GAIN = 0.5
"""Yaw-rate command per radian of heading error."""
MAX_YAW_RATE = 1.0
"""The yaw-rate command is clipped to +-1 rad/s."""
TRACKING_SIGMA = 0.25
"""Width of the exponential tracking rewards."""
WEIGHTS = dict(tracking_lin_vel=5.0, tracking_ang_vel=1.5, lin_vel_z=-2.0, ang_vel_xy=-0.05, action_rate=-0.01,
               hip_pos=-0.05, dof_pos_limits=-2.0)
"""The authors' reward scales (before the factor DT), in ``reward_terms`` order."""
W_LIN, W_YAW, W_VZ, W_OMEGA_XY, W_RATE, W_HIP, W_LIMIT = (DT * w for w in WEIGHTS.values())
"""The weights times DT, as the kernel reads them."""
SOFT_LIMIT = 0.9
"""Share of each joint's range, around its middle, that the limit penalty leaves free."""
MAX_TILT = 0.4
"""Episode ends when roll or pitch exceeds this (rad)."""
MIN_CLEARANCE = 0.1
"""Episode ends when the base origin is closer than this to the terrain reading under it (m): the
base box (0.057 m half-height) tilted to ``MAX_TILT`` reaches about 0.13 m below its origin."""
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
COMMAND_BODY = 0
"""Mocap id of the command (v_x, v_y, heading)."""
MEMORY_BODIES = NUM_JOINTS // 3
"""Mocap bodies 1..4 hold the previous action."""
CAMERA_POS = (0.32, 0.0, 0.15)
"""Camera position relative to the base (the authors' depth mount)."""
CAMERA_LOOKAT = (0.5, 0.0, 0.0)
"""Point the camera looks at, relative to the base."""
CAMERA_FOVY = 80.0
"""Vertical field of view in degrees."""
SCENE_STREAM = 6101
"""Offset of the start-and-command generator's key from the initial-state generator's."""


@wp.func
def _yaw(quat: wp.quat) -> float:
    """Heading of the base's x axis in the horizontal plane."""
    forward = wp.quat_rotate(quat, wp.vec3(1.0, 0.0, 0.0))
    return wp.atan2(forward[1], forward[0])


@wp.func
def _wrap(angle: float) -> float:
    """angle wrapped to (-pi, pi]."""
    return angle - 2.0 * wp.pi * wp.ceil((angle - wp.pi) / (2.0 * wp.pi))


@wp.kernel
def _go2_terrain_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
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
    if not locomotion.state_is_finite(worldid, qpos_in, qvel_in):
        locomotion.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    quat = locomotion.torso_quat(worldid, 3, qpos_in)
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
    rate = float(0.0)
    hips = float(0.0)
    excess = float(0.0)
    for i in range(NUM_JOINTS):
        q = qpos_in[worldid, 7 + i]
        offset = q - DEFAULT_POSE_VEC[i]
        a = action_in[worldid, i]
        state_out[worldid, 9 + i] = offset
        state_out[worldid, 9 + NUM_JOINTS + i] = DOF_VEL_SCALE * qvel_in[worldid, 6 + i]
        state_out[worldid, 9 + 2 * NUM_JOINTS + i] = a
        previous = mocap_pos_in[worldid, 1 + i // 3][i % 3]
        rate += (a - previous) * (a - previous)
        if i % 3 == 0:
            hips += offset * offset
        limit = limits_in[i]
        excess += wp.max(limit[0] - q, 0.0) + wp.max(q - limit[1], 0.0)
    for j in range(sample_in.shape[0]):
        p = sample_in[j]
        h = terrain.sample_height(x + c * p[0] - s * p[1], y + s * p[0] + c * p[1], TERRAIN_BORDER,
                                  TERRAIN_SCALE, heights_in)
        state_out[worldid, PROPRIO_DIM + 3 + j] = HEIGHT_SCALE * wp.clamp(z - HEIGHT_OFFSET - h, -1.0, 1.0)

    lin_error = (command[0] - velocity[0]) * (command[0] - velocity[0]) + (command[1] - velocity[1]) * (
        command[1] - velocity[1])
    terms_out[worldid, 0] = W_LIN * wp.exp(-lin_error / TRACKING_SIGMA)
    terms_out[worldid, 1] = W_YAW * wp.exp(
        -(yaw_rate - omega[2]) * (yaw_rate - omega[2]) / TRACKING_SIGMA)
    terms_out[worldid, 2] = W_VZ * velocity[2] * velocity[2]
    terms_out[worldid, 3] = W_OMEGA_XY * (omega[0] * omega[0] + omega[1] * omega[1])
    terms_out[worldid, 4] = W_RATE * rate
    terms_out[worldid, 5] = W_HIP * hips
    terms_out[worldid, 6] = W_LIMIT * excess
    locomotion.write_reward(worldid, terms_out, reward_out)

    # Roll and pitch of the base (x-y-z Euler angles), as the authors' termination reads them.
    qx = quat[0]
    qy = quat[1]
    qz = quat[2]
    qw = quat[3]
    roll = wp.atan2(2.0 * (qw * qx + qy * qz), 1.0 - 2.0 * (qx * qx + qy * qy))
    pitch = wp.asin(wp.clamp(2.0 * (qw * qy - qz * qx), -1.0, 1.0))
    ground = terrain.sample_height(x, y, TERRAIN_BORDER, TERRAIN_SCALE, heights_in)
    terminated = wp.abs(roll) > MAX_TILT or wp.abs(pitch) > MAX_TILT or z - ground < MIN_CLEARANCE
    terminated_out[worldid] = wp.where(terminated, 1, 0)



@wp.kernel
def _go2_terrain_remember(
    # In:
    action_in: wp.array2d(dtype=float),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """Stores the applied action in mocap bodies 1..4 (the next step's previous action)."""
    worldid, bodyid = wp.tid()
    mocap_pos_out[worldid, 1 + bodyid] = wp.vec3(
        action_in[worldid, 3 * bodyid], action_in[worldid, 3 * bodyid + 1], action_in[worldid, 3 * bodyid + 2])


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
    """Masked worlds: base moved onto a uniformly drawn sub-terrain's start point, a new command,
    the previous action zeroed. Keyed by (seed, world, reset_count)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    rng = wp.rand_init(seed_in + reset_count_in[worldid] * 1000003, worldid)
    origin = origins_in[wp.randi(rng, 0, origins_in.shape[0])]
    for i in range(3):
        qpos_out[worldid, i] = qpos_out[worldid, i] + origin[i]
    vx = LIN_VEL_RANGE * (2.0 * wp.randf(rng) - 1.0)
    vy = LIN_VEL_RANGE * (2.0 * wp.randf(rng) - 1.0)
    heading = HEADING_RANGE * (2.0 * wp.randf(rng) - 1.0)
    if vx * vx + vy * vy < MIN_COMMAND * MIN_COMMAND:
        vx = 0.0
        vy = 0.0
    mocap_pos_out[worldid, COMMAND_BODY] = wp.vec3(vx, vy, heading)
    for k in range(MEMORY_BODIES):
        mocap_pos_out[worldid, 1 + k] = wp.vec3(0.0, 0.0, 0.0)


@functools.cache
def _constants(device: str) -> tuple[wp.array, wp.array, wp.array, wp.array]:
    """(terrain heights, terrain-grid offsets, soft joint limits, start points) on ``device``:
    allocated once, so a recorded graph keeps valid addresses."""
    ground = terrain.generate(TERRAIN)
    return (wp.array(ground.heights, dtype=float, device=device),
            wp.array(SAMPLE_XY, dtype=wp.vec2, device=device),
            wp.array(_soft_limits(), dtype=wp.vec2, device=device),
            wp.array(ground.origins, dtype=wp.vec3, device=device))


@functools.cache
def _soft_limits() -> np.ndarray:
    """[12, 2] middle 90% of each actuated joint's range (from Menagerie's file)."""
    spec = mujoco.MjSpec.from_file(robot_file(ROBOT, ROBOT_FILE))
    ranges = {joint.name: joint.range for joint in spec.joints}
    limits = np.array([ranges[name] for name in MOTORS], dtype=np.float64)
    middle, half = limits.mean(axis=1), 0.5 * SOFT_LIMIT * (limits[:, 1] - limits[:, 0])
    return np.stack([middle - half, middle + half], axis=1)


def _position_servos(spec: mujoco.MjSpec) -> None:
    """Each motor becomes a PD servo around its default angle: force = kp (target - q) - kd qdot,
    target in default +- ACTION_SCALE, force limited to the motor's torque range."""
    actuators = {actuator.target: actuator for actuator in spec.actuators}
    if sorted(actuators) != sorted(MOTORS):
        raise ValueError(f"{ROBOT_FILE}: actuated joints {sorted(actuators)} are not the task's {sorted(MOTORS)}")
    for name, default in zip(MOTORS, DEFAULT_POSE):
        actuator = actuators[name]
        torque = list(actuator.ctrlrange)
        actuator.set_to_position(kp=KP, kv=KD)
        actuator.forcerange = torque
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.ctrlrange = [default - ACTION_SCALE, default + ACTION_SCALE]
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE


@register
@dataclasses.dataclass(frozen=True)
class Go2Terrain(Task):
    name = "go2_terrain"
    xml_file = ROBOT_FILE
    menagerie_robot = ROBOT
    state_dim = PROPRIO_DIM + 3 + len(SAMPLE_XY)
    proprio_dim = PROPRIO_DIM
    camera = EGO_CAMERA
    reward_terms = tuple(WEIGHTS)
    _kernel = _go2_terrain_evaluate
    # Measured in C MuJoCo (bench/contact_budget.py --steps 3000: uniform and +-1 random actions,
    # with and without termination, plus settling from lying poses, each episode on a drawn
    # sub-terrain): at most 45 contacts and 183 constraint rows, no blow-up. Budget: 2x both, plus
    # one row per joint limit.
    max_contacts = 90
    max_constraints = 2 * 183 + NUM_JOINTS

    frame_skip: int = 4
    episode_length: int = 1000
    reset_noise_qpos: float = 0.025
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """Go2 from Menagerie on the terrain, with PD servos, memory bodies and the ego camera; qpos0
        is the start pose over the world origin (a reset moves it onto a sub-terrain).
        Raises :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the robot is not available."""
        spec = mujoco.MjSpec.from_file(robot_file(ROBOT, ROBOT_FILE))
        spec.option.timestep = TIMESTEP
        for geom in spec.geoms:  # no self-collision: the robot's geoms collide with the terrain only
            if geom.contype:
                geom.conaffinity = 0
        terrain.add_to(spec, terrain.generate(TERRAIN))
        spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
        spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]
        spec.worldbody.add_body(name="command", mocap=True)
        for k in range(MEMORY_BODIES):
            spec.worldbody.add_body(name=f"previous_action{k}", mocap=True)
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
        mjm.qpos0[:] = np.concatenate([[0.0, 0.0, BASE_HEIGHT], [1.0, 0.0, 0.0, 0.0], DEFAULT_POSE])
        return mjm

    def start_points(self) -> np.ndarray:
        """[100, 3] the sub-terrains' start points that a reset adds to qpos0's position."""
        return terrain.generate(TERRAIN).origins

    def evaluate_data(self, d, action, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs, then the applied action stored as the next previous action."""
        self.evaluate(d.qpos, d.qvel, action, state_out, terms_out, reward_out, terminated_out, d.mocap_pos)
        wp.launch(_go2_terrain_remember, dim=(d.qpos.shape[0], MEMORY_BODIES), inputs=[action],
                  outputs=[d.mocap_pos], device=d.qpos.device)

    def evaluate(self, qpos, qvel, action, state_out, terms_out, reward_out, terminated_out, mocap_pos) -> None:
        """The task's outputs; ``mocap_pos`` [W, nmocap] vec3 (command and previous action)."""
        heights, samples, limits, _ = _constants(str(qpos.device))
        wp.launch(
            self._kernel,
            dim=qpos.shape[0],
            inputs=[qpos, qvel, mocap_pos, heights, samples, limits, action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=qpos.device,
        )

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        with nvtx_range("task.place_go2"):
            origins = _constants(str(mask.device))[3]
            wp.launch(_go2_terrain_place, dim=d.qpos.shape[0], inputs=[seed + SCENE_STREAM, origins, mask, reset_count],
                      outputs=[d.qpos, d.mocap_pos], device=mask.device)

    def reference(self, qpos, qvel, action, mocap_pos):
        """NumPy reference for one world; ``mocap_pos`` [nmocap, 3] (command and previous action)."""
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        ground = terrain.generate(TERRAIN)
        rot = locomotion.np_quat_to_mat(qpos[3:7])
        x, y, z = qpos[0:3]
        yaw = math.atan2(rot[1, 0], rot[0, 0])
        c, s = math.cos(yaw), math.sin(yaw)
        velocity = np.array([c * qvel[0] + s * qvel[1], -s * qvel[0] + c * qvel[1], qvel[2]])
        omega = qvel[3:6]
        vx, vy, heading = mocap_pos[COMMAND_BODY]
        error = (heading - yaw + math.pi) % (2 * math.pi) - math.pi
        yaw_rate = float(np.clip(YAW_GAIN * error, -MAX_YAW_RATE, MAX_YAW_RATE))
        q = qpos[7:7 + NUM_JOINTS]
        offset = q - np.array(DEFAULT_POSE)
        previous = mocap_pos[1:1 + MEMORY_BODIES].reshape(-1)
        limits = _soft_limits()
        heights = [terrain.np_sample_height(x + c * px - s * py, y + s * px + c * py, ground) for px, py in SAMPLE_XY]
        obs = np.concatenate([
            ANG_VEL_SCALE * omega, rot.T @ [0.0, 0.0, -1.0],
            [LIN_VEL_SCALE * vx, LIN_VEL_SCALE * vy, ANG_VEL_SCALE * yaw_rate],
            offset, DOF_VEL_SCALE * qvel[6:6 + NUM_JOINTS], action,
            LIN_VEL_SCALE * velocity,
            HEIGHT_SCALE * np.clip(z - HEIGHT_OFFSET - np.array(heights), -1.0, 1.0),
        ])
        raw = np.array([
            math.exp(-((vx - velocity[0]) ** 2 + (vy - velocity[1]) ** 2) / TRACKING_SIGMA),
            math.exp(-(yaw_rate - omega[2]) ** 2 / TRACKING_SIGMA),
            velocity[2] ** 2,
            omega[0] ** 2 + omega[1] ** 2,
            np.sum((action - previous) ** 2),
            np.sum(offset[list(HIPS)] ** 2),
            np.sum(np.maximum(limits[:, 0] - q, 0.0) + np.maximum(q - limits[:, 1], 0.0)),
        ])
        terms = DT * np.array(list(WEIGHTS.values())) * raw
        roll = math.atan2(rot[2, 1], rot[2, 2])
        pitch = math.asin(float(np.clip(-rot[2, 0], -1.0, 1.0)))
        clearance = z - terrain.np_sample_height(x, y, ground)
        terminated = bool(abs(roll) > MAX_TILT or abs(pitch) > MAX_TILT or clearance < MIN_CLEARANCE)
        return obs, terms, terminated
