"""G1 hurdle: the Unitree G1 humanoid (23 DOF, from MuJoCo Menagerie) running over hurdles it sees
through a camera at its torso.

Scene (``mujoco.MjSpec`` on Menagerie ``unitree_g1/g1_23dof_rev_1_0.xml``): a checker floor, the
hurdle track (:mod:`sdpg_warp.tasks.hurdles`), the ego camera on ``torso_link``, a chase camera
``track`` for videos, and the 23 motors turned into PD position servos around the default pose.

Definitions from the authors' G1 hurdle (SDPG ``envs/genesis_env/g1_hurtle.py``,
``cfgs/task/genesis/g1_hurtle.yaml``):
  - action a in [-1, 1]^23 -> joint target default + scale * a, PD gains kp / kd per joint
    (``SCALE``, ``KP``, ``KD`` below, the authors' order: left leg, right leg, waist, left arm,
    right arm); control every 20 ms, physics every 5 ms;
  - reward: the Humanoid's terms with the authors' scales: height d = clip(z - 0.7, -1, 0.1),
    -200 d^2 below, 10 d above; forward velocity; 0.1 up; heading towards (200, 0); -0.002 sum(a^2);
  - termination: base height outside [0.6, 1.0] m or |y| > 2.5 m (off the 5 m wide track);
  - start: base at (0.2, 0, 0.8), default joint angles, each qpos entry + U(-0.05, 0.05);
  - track: 10 levels of 4.5 m, 2 hurdles each, spacing U(1.8, 2.2) m, length 0.08 + 0.1 d, height
    U(0.1 + 0.8 d, 0.11 + 0.8 d) at difficulty d = level / 10, across the whole 5 m width;
  - camera 0.2 m ahead of and 0.1 m below the torso, looking at (0.8, 0, -0.3) from it, 80 degree
    field of view, following the torso's position only (MuJoCo's ``track`` mode, as the authors'
    mount);
  - actor: proprioception (56) = [base height, projected gravity (3), base velocity (6: linear in
    the world frame, angular in the base frame, MuJoCo's free-joint velocity), joint positions
    (23), joint velocities (23)] + the camera's frame stack; critic: the proprioception + the track
    height at a 15 x 9 grid (x from -0.8 to 2.0 m every 0.2 m, y from -0.4 to 0.4 m every 0.1 m)
    turned with the base's yaw (191).
Deliberate differences: every world draws its own track at each reset (the authors: one track for
all); the reset perturbs each qpos entry, the base quaternion's four included (then renormalized),
by U(-0.05, 0.05) instead of a random-axis tilt of up to 7.5 degrees; joint targets past a joint's
range (knee below -0.09 rad, hip roll beyond +-0.52 rad) are not clamped to it, the joint limit
holds instead; no self-collisions (the robot's geoms collide with the floor and the hurdles only).
"""

import dataclasses
import functools
import math
from typing import ClassVar

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.tasks import hurdles, locomotion, register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import guards, rewards, rotations
from sdpg_warp.tasks.common.actuators import actuators_by_joint, position_servo, set_armature
from sdpg_warp.tasks.ego import EGO_CAMERA, add_ego_camera, lookat_quat
from sdpg_warp.tasks.menagerie import robot_spec

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ROBOT = "unitree_g1"
"""Menagerie registry name of the robot."""
ROBOT_FILE = "g1_23dof_rev_1_0.xml"
"""The 23-DOF G1 the authors' task loads."""
MOTORS = (
    "left_hip_pitch_joint", "left_hip_roll_joint", "left_hip_yaw_joint", "left_knee_joint",
    "left_ankle_pitch_joint", "left_ankle_roll_joint",
    "right_hip_pitch_joint", "right_hip_roll_joint", "right_hip_yaw_joint", "right_knee_joint",
    "right_ankle_pitch_joint", "right_ankle_roll_joint",
    "waist_yaw_joint",
    "left_shoulder_pitch_joint", "left_shoulder_roll_joint", "left_shoulder_yaw_joint", "left_elbow_joint",
    "left_wrist_roll_joint",
    "right_shoulder_pitch_joint", "right_shoulder_roll_joint", "right_shoulder_yaw_joint", "right_elbow_joint",
    "right_wrist_roll_joint",
)
"""Actuated joints in action order (the authors')."""
DEFAULT_POSE = (-0.312, 0.0, 0.0, 0.669, -0.363, 0.0,
                -0.312, 0.0, 0.0, 0.669, -0.363, 0.0,
                0.0,
                0.2, 0.2, 0.0, 0.6, 0.0,
                0.2, -0.2, 0.0, 0.6, 0.0)
"""Joint angles (rad) that action 0 holds."""
SCALE = (1.5533, 0.698, 0.157, 1.1694, 0.255, 0.0524,
         1.5533, 0.698, 0.157, 1.1694, 0.255, 0.0524,
         0.262,
         1.0997, 0.894, 0.314, 0.747, 0.493,
         1.0997, 0.894, 0.314, 0.747, 0.493)
"""Joint target offset (rad) of action +-1."""
KP = (200.0, 150.0, 150.0, 200.0, 20.0, 20.0,
      200.0, 150.0, 150.0, 200.0, 20.0, 20.0,
      200.0,
      40.0, 40.0, 40.0, 40.0, 40.0,
      40.0, 40.0, 40.0, 40.0, 40.0)
"""Position gains (N m / rad)."""
KD = (5.0, 5.0, 5.0, 5.0, 2.0, 2.0,
      5.0, 5.0, 5.0, 5.0, 2.0, 2.0,
      5.0,
      10.0, 10.0, 10.0, 10.0, 10.0,
      10.0, 10.0, 10.0, 10.0, 10.0)
"""Velocity gains (N m s / rad)."""
BASE_START = (0.2, 0.0, 0.8)
"""Base position at reset, before noise."""
NUM_JOINTS = len(MOTORS)
PROPRIO_DIM = 1 + 3 + 6 + 2 * NUM_JOINTS
"""[z, projected gravity, base velocity, joint positions, joint velocities] = 56."""
SAMPLE_X = np.round(np.arange(-0.8, 2.0 + 1e-9, 0.2), 6)
"""Height-grid x offsets in the yaw-turned base frame (the authors' ``measured_points_x``)."""
SAMPLE_Y = np.round(np.arange(-0.4, 0.4 + 1e-9, 0.1), 6)
"""Height-grid y offsets (``measured_points_y``)."""
SAMPLE_XY = np.stack(np.meshgrid(SAMPLE_X, SAMPLE_Y, indexing="ij"), axis=-1).reshape(-1, 2)
"""[135, 2] grid points, x-major."""
TRACK = hurdles.HurdleTrack(num_levels=10, hurdles_per_level=2, level_length=4.5, spacing=(1.8, 2.2),
                            length=(0.08, 0.1), height_low=(0.1, 0.8), height_high=(0.11, 0.8), half_width=2.5)
"""The authors' hurdle distribution (``g1_hurtle.yaml``, ``hurtle_args``)."""
HURDLE_HALF_HEIGHT = TRACK.max_height
HURDLE_HALF_WIDTH = TRACK.half_width
MIN_HEIGHT = 0.6
"""Episode ends when the base is lower than this (m)."""
MAX_HEIGHT = 1.0
"""Episode ends when the base is higher than this (m)."""
MAX_ABS_Y = 2.5
"""Episode ends when the base leaves the track sideways (half its width)."""
HEIGHT_TARGET = MIN_HEIGHT + 0.1
"""The height reward's target: 0.1 m above the termination height."""
HEIGHT_CLIP = 0.1
"""Upper clip of the height difference."""
HEIGHT_SCALE = 10.0
"""Slope of the height reward above its target."""
UP_WEIGHT = 0.1
"""Weight of the up projection."""
TARGET_X = 200.0
"""The heading term points at (TARGET_X, 0)."""
ACTION_PENALTY = -0.002
"""Weight of sum(a^2)."""
CAMERA_POS = (0.2, 0.0, -0.1)
"""Camera position relative to the torso (the authors' mount offset)."""
CAMERA_LOOKAT = (0.8, 0.0, -0.3)
"""Point the camera looks at, relative to the torso."""
CAMERA_FOVY = 80.0
"""Vertical field of view in degrees."""
ARMATURE = 0.1
"""Rotor inertia (kg m^2) of each actuated joint: the robot file gives none, and Genesis loads such
joints with 0.1. Without it the 5 ms explicit step of the stiff servos blows up within 0.2 s in
C MuJoCo (NaN accelerations; 0.01 is stable too)."""
TIMESTEP = 0.005
"""Physics step (s): 4 per 20 ms control step (the authors' dt 0.02, substeps 4)."""


@wp.kernel
def _g1_hurdle_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    half_length_in: wp.array(dtype=float),
    sample_in: wp.array(dtype=wp.vec2),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [proprioception (56), track heights (135)]; terms = (height, progress, up, heading, action)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    quat = rotations.qpos_quat(worldid, 3, qpos_in)
    x = qpos_in[worldid, 0]
    y = qpos_in[worldid, 1]
    z = qpos_in[worldid, 2]
    gravity = wp.quat_rotate_inv(quat, wp.vec3(0.0, 0.0, -1.0))
    state_out[worldid, 0] = z
    for i in range(3):
        state_out[worldid, 1 + i] = gravity[i]
    for i in range(6):
        state_out[worldid, 4 + i] = qvel_in[worldid, i]
    for i in range(NUM_JOINTS):
        state_out[worldid, 10 + i] = qpos_in[worldid, 7 + i]
        state_out[worldid, 10 + NUM_JOINTS + i] = qvel_in[worldid, 6 + i]
    # The grid turns with the yaw of the base quaternion's (w, z) part, as the authors'.
    yaw = 2.0 * wp.atan2(quat[2], quat[3])
    c = wp.cos(yaw)
    s = wp.sin(yaw)
    for j in range(sample_in.shape[0]):
        p = sample_in[j]
        state_out[worldid, PROPRIO_DIM + j] = hurdles.ground_height(
            worldid, x + c * p[0] - s * p[1], y + s * p[0] + c * p[1], HURDLE_HALF_WIDTH, HURDLE_HALF_HEIGHT,
            half_length_in, mocap_pos_in)
    heading = wp.quat_rotate(quat, wp.vec3(1.0, 0.0, 0.0))
    to_target = wp.normalize(wp.vec2(TARGET_X - x, -y))
    terms_out[worldid, 0] = locomotion.shaped_height(z, HEIGHT_TARGET, HEIGHT_CLIP, HEIGHT_SCALE)
    terms_out[worldid, 1] = locomotion.progress(worldid, qvel_in)
    terms_out[worldid, 2] = UP_WEIGHT * locomotion.up_projection(quat)
    terms_out[worldid, 3] = heading[0] * to_target[0] + heading[1] * to_target[1]
    terms_out[worldid, 4] = rewards.action_cost(worldid, ACTION_PENALTY, action_in)
    rewards.write_reward(worldid, terms_out, reward_out)
    terminated = z < MIN_HEIGHT or z > MAX_HEIGHT or wp.abs(y) > MAX_ABS_Y
    terminated_out[worldid] = wp.where(terminated, 1, 0)


@functools.cache
def _track_constants(device: str) -> tuple[wp.array, wp.array]:
    """(hurdle half-lengths, height-grid points) on ``device``: allocated once, so a recorded graph
    keeps valid addresses."""
    return (wp.array(TRACK.half_lengths(), dtype=float, device=device),
            wp.array(SAMPLE_XY, dtype=wp.vec2, device=device))


def _add_floor(spec: mujoco.MjSpec) -> None:
    """A checker floor (the robot file has none) with a headlight for the shading."""
    spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.22, 0.27, 0.33], rgb2=[0.55, 0.6, 0.66], width=512, height=512)
    material = spec.add_material(name="grid", texrepeat=[1.0, 1.0], texuniform=True)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "grid"
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 0.05], material="grid",
                            contype=1, conaffinity=1)
    spec.visual.headlight.ambient = [0.35, 0.35, 0.35]
    spec.visual.headlight.diffuse = [0.45, 0.45, 0.45]


def _position_servos(spec: mujoco.MjSpec) -> None:
    """Each motor becomes a PD servo: force = kp (target - q) - kd qdot, target in
    default +- scale (the control range, which an action in [-1, 1] spans linearly); its joint
    gets the rotor inertia ``ARMATURE``."""
    actuators = actuators_by_joint(spec, MOTORS, ROBOT_FILE)
    set_armature(spec, ARMATURE)
    for name, default, scale, kp, kd in zip(MOTORS, DEFAULT_POSE, SCALE, KP, KD):
        position_servo(actuators[name], kp, kd, default, scale)


@register
@dataclasses.dataclass(frozen=True)
class G1Hurdle(Task):
    name = "g1_hurdle"
    xml_file = ROBOT_FILE
    menagerie_robot = ROBOT
    menagerie_files = (ROBOT_FILE,)
    state_dim = PROPRIO_DIM + len(SAMPLE_XY)
    proprio_dim = PROPRIO_DIM
    camera = EGO_CAMERA
    reward_terms = ("height", "progress", "up", "heading", "action")
    metric_names = hurdles.HURDLE_METRICS
    track: ClassVar[hurdles.HurdleTrack] = TRACK
    """The hurdle distribution (benches place hurdles with it)."""
    _kernel = _g1_hurdle_evaluate
    # Measured in C MuJoCo (tools/contact_budget.py --steps 10000: uniform and +-1 random actions,
    # with and without termination, plus settling from lying poses, each episode on a track drawn
    # as the task draws it with its first hurdle 0.3 m ahead): at most 29 contacts and 116
    # constraint rows. Budget: 2x the contacts; 4 rows per contact (condim 3, pyramidal) + 1 per
    # limited joint.
    max_contacts = 58
    max_constraints = 4 * 58 + NUM_JOINTS
    solver_iterations = 15  # measured max 7 (bench/solver_iterations.py)

    frame_skip: int = 4
    episode_length: int = 1000
    reset_noise_qpos: float = 0.05
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """G1 from Menagerie with floor, hurdles, PD servos and the ego camera; qpos0 holds the base start.
        Raises :class:`~sdpg_warp.tasks.menagerie.RobotNotFound` when the robot is not available."""
        spec = robot_spec(ROBOT, ROBOT_FILE)
        spec.option.timestep = TIMESTEP
        for geom in spec.geoms:  # no self-collision: robot geoms collide with the floor (and hurdles)
            if geom.contype:
                geom.conaffinity = 0
        _add_floor(spec)
        TRACK.add_to(spec)
        _position_servos(spec)
        add_ego_camera(spec.body("torso_link"), CAMERA_POS, CAMERA_LOOKAT, CAMERA_FOVY,
                       mujoco.mjtCamLight.mjCAMLIGHT_TRACK)
        # The third-person view of videos (play) and tests: a chase camera as the humanoid's.
        spec.body("pelvis").add_camera(name="track", mode=mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM, pos=[-3.0, 0.0, 1.0],
                                       quat=list(lookat_quat([-3.0, 0.0, 1.0], [0.0, 0.0, 0.0])), fovy=60.0)
        # The 45 m track would set the scene extent, and with it the near plane, to metres.
        spec.stat.extent = 1.0
        mjm = spec.compile()
        for i, name in enumerate(MOTORS):
            joint = mjm.joint(name)
            if joint.qposadr[0] != 7 + i or joint.dofadr[0] != 6 + i or mjm.actuator_trnid[i, 0] != joint.id:
                raise ValueError(f"{ROBOT_FILE}: {name} is not joint and actuator {i} after the free joint")
        TRACK.check(mjm)
        # The free joint's qpos0 only sets where a reset starts; the joints' stays the model's.
        mjm.qpos0[:7] = np.concatenate([BASE_START, [1.0, 0.0, 0.0, 0.0]])
        return mjm

    def initial_qpos(self, mjm: mujoco.MjModel) -> np.ndarray:
        """qpos0 with the joints at the default pose."""
        qpos = mjm.qpos0.copy()
        qpos[7:7 + NUM_JOINTS] = DEFAULT_POSE
        return qpos

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The task's outputs; ``inputs.mocap_pos`` holds the hurdles."""
        half_lengths, samples = _track_constants(str(inputs.qpos.device))
        wp.launch(
            self._kernel,
            dim=inputs.qpos.shape[0],
            inputs=[inputs.qpos, inputs.qvel, inputs.mocap_pos, half_lengths, samples, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=inputs.qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        TRACK.measure(d, BASE_START[0], _track_constants(str(d.qpos.device))[0], episode_step, metrics)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        TRACK.place(d, seed, mask, reset_count)

    def reference(self, world):
        """NumPy reference for one world; ``world.mocap_pos`` [nmocap, 3] holds the hurdles."""
        qpos, qvel, action, mocap_pos = world.qpos, world.qvel, world.action, world.mocap_pos
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        rot = rotations.np_quat_to_mat(qpos[3:7])
        x, y, z = qpos[0:3]
        w, qz = qpos[3] / np.linalg.norm(qpos[3:7]), qpos[6] / np.linalg.norm(qpos[3:7])
        yaw = 2.0 * math.atan2(qz, w)
        c, s = math.cos(yaw), math.sin(yaw)
        half_lengths = TRACK.half_lengths()
        heights = [hurdles.np_ground_height(x + c * px - s * py, y + s * px + c * py, mocap_pos, half_lengths,
                                            HURDLE_HALF_WIDTH, HURDLE_HALF_HEIGHT) for px, py in SAMPLE_XY]
        obs = np.concatenate([[z], rot.T @ [0.0, 0.0, -1.0], qvel[0:6], qpos[7:7 + NUM_JOINTS],
                              qvel[6:6 + NUM_JOINTS], heights])
        to_target = np.array([TARGET_X - x, -y]) / np.hypot(TARGET_X - x, y)
        terms = np.array([
            locomotion.np_shaped_height(z, HEIGHT_TARGET, HEIGHT_CLIP, HEIGHT_SCALE),
            qvel[0],
            UP_WEIGHT * rot[2, 2],
            rot[0:2, 0] @ to_target,
            rewards.np_action_cost(action, ACTION_PENALTY),
        ])
        terminated = bool(z < MIN_HEIGHT or z > MAX_HEIGHT or abs(y) > MAX_ABS_Y)
        return obs, terms, terminated

    def reference_measure(self, qpos, qvel, mocap_pos, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world: [hurdles cleared, distance];
        ``previous`` the metrics before the step, ``episode_step`` the steps before it."""
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(2) if episode_step == 0 else np.array(previous, dtype=np.float64)
        return np.array([hurdles.np_hurdles_cleared(qpos[0], mocap_pos, TRACK.half_lengths()), qpos[0] - BASE_START[0]])
