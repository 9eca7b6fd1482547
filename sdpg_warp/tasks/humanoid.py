"""Humanoid: a 21-joint biped on a free joint that should run along +x.

State (``assets/humanoid.xml``): qpos = [torso position (3), torso quaternion w x y z (4),
21 hinges]; qvel = [torso origin velocity, world frame (3), torso angular velocity, body frame (3),
21 joint rates]. The hinges are declared in the authors' MJCF order (abdomen_z before abdomen_y,
ankle_y before ankle_x: the order of two hinges in one body sets the kinematics), so qpos is not in
motor order; motor i drives MOTOR_JOINTS[i] and the obs lists joints in motor order, by name.

Definitions from the authors' humanoid (SDPG ``envs/genesis_env/humanoid.py``, after SHAC
``envs/humanoid.py``): reward = forward velocity + 0.1 up + heading + shaped height
- 0.002 sum(a^2); the shaped height targets 0.84 m (termination height 0.74 + tolerance 0.1),
clipped at +0.1 with slope 10 above and -200 d^2 below; early termination when the torso height
leaves [0.74, 2.0]; motor strengths 67.5 / 45 / 135 / 90 / 22.5 (in the MJCF gears); start pose
torso at 1.35 m; episode 1000 steps of 10 ms; reset noise U(-0.05, 0.05) on every qpos entry (the
quaternion renormalized: a random tilt of a few degrees, like the authors' +-7.5 degrees), zero
velocity.

The authors' "up" is SHAC's y-up projection; in MuJoCo's z-up world it is (R(q) e_z) . e_z.
The obs carries the applied action in [-1, 1] as SHAC does (SDPG stores it times the motor
strength), and the torso angular velocity in the world frame as SHAC does.
Deliberate difference: a 10 ms step is 2 physics steps of 5 ms (the authors: one of 10 ms), as
for the hopper, which needs it; the humanoid alone measured no blow-up at 1 x 10 ms either
(``tools/contact_budget.py``).
"""

import dataclasses

import numpy as np
import warp as wp

from sdpg_warp.tasks import locomotion, register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import rewards, rotations

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

NUM_JOINTS = 21
"""Actuated hinges (= actuators)."""
MOTOR_JOINTS = (
    "abdomen_y",
    "abdomen_z",
    "abdomen_x",
    "right_hip_x",
    "right_hip_z",
    "right_hip_y",
    "right_knee",
    "right_ankle_x",
    "right_ankle_y",
    "left_hip_x",
    "left_hip_z",
    "left_hip_y",
    "left_knee",
    "left_ankle_x",
    "left_ankle_y",
    "right_shoulder1",
    "right_shoulder2",
    "right_elbow",
    "left_shoulder1",
    "left_shoulder2",
    "left_elbow",
)
"""The hinge of each motor, in action order (the authors'); the obs lists joints in this order."""
MIN_HEIGHT = 0.74
"""Episode ends when the torso height falls below this."""
MAX_HEIGHT = 2.0
"""Episode ends above this torso height: only a solver failure throws the humanoid that high."""
HEIGHT_TOLERANCE = 0.1
"""The height reward targets MIN_HEIGHT + HEIGHT_TOLERANCE and is clipped at +HEIGHT_TOLERANCE."""
HEIGHT_SCALE = 10.0
"""Slope of the height reward above its target."""
UP_WEIGHT = 0.1
"""Weight of the up projection in the reward."""
ACTION_PENALTY = -0.002
"""Weight of sum(a^2)."""
JOINT_VEL_SCALE = 0.1
"""Joint rates enter the obs scaled by this."""


_JOINT_ORDER = wp.constant(
    wp.types.vector(NUM_JOINTS, dtype=int)(*locomotion.hinge_offsets("humanoid.xml", MOTOR_JOINTS))
)
"""Offset of each motor's hinge after the free joint (qpos[7 + k])."""


@wp.func
def _humanoid_height_reward(height: float) -> float:
    """height: d = clip(z - 0.84, -1, 0.1); -200 d^2 if d < 0, else 10 d."""
    return locomotion.shaped_height(height, MIN_HEIGHT + HEIGHT_TOLERANCE, HEIGHT_TOLERANCE, HEIGHT_SCALE)


@wp.func
def _humanoid_terminated(height: float) -> bool:
    """terminated = z < 0.74 or z > 2."""
    return height < MIN_HEIGHT or height > MAX_HEIGHT


_humanoid_evaluate = locomotion.floating_base_evaluate(
    _JOINT_ORDER, JOINT_VEL_SCALE, UP_WEIGHT, _humanoid_height_reward, _humanoid_terminated, ACTION_PENALTY
)
"""obs (76) = [z, q_wxyz (4), v (3), R(q) w (3), joint q, 0.1 joint qd, up, heading, a]; terms as
``reward_terms``."""


@register
@dataclasses.dataclass(frozen=True)
class Humanoid(Task):
    name = "humanoid"
    xml_file = "humanoid.xml"
    state_dim = 3 * NUM_JOINTS + 13
    reward_terms = ("progress", "up", "heading", "height", "action")
    _kernel = _humanoid_evaluate
    # Measured in C MuJoCo (30k env steps of uniform and of +-1 random actions, with and without
    # termination, plus settling from lying poses): at most 12 contacts and 50 constraint rows.
    # Budget: 2x the contacts; 4 rows per contact (condim 3, pyramidal) + 1 per limited joint.
    max_contacts = 24
    max_constraints = 4 * 24 + NUM_JOINTS
    solver_iterations = 20  # measured max 9 (bench/solver_iterations.py)

    frame_skip: int = 2
    episode_length: int = 1000
    reset_noise_qpos: float = 0.05
    reset_noise_qvel: float = 0.0

    def reference(self, world):
        qpos, qvel, action = world.qpos, world.qvel, world.action
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        rot = rotations.np_quat_to_mat(qpos[3:7])
        height = qpos[2]
        terms = np.array(
            [
                qvel[0],
                UP_WEIGHT * rot[2, 2],
                rot[0, 0],
                locomotion.np_shaped_height(
                    height, MIN_HEIGHT + HEIGHT_TOLERANCE, HEIGHT_TOLERANCE, HEIGHT_SCALE
                ),
                rewards.np_action_cost(action, ACTION_PENALTY),
            ]
        )
        order = locomotion.hinge_offsets(self.xml_file, MOTOR_JOINTS)
        obs = locomotion.np_floating_base_observation(qpos, qvel, action, JOINT_VEL_SCALE, order)
        return obs, terms, bool(height < MIN_HEIGHT or height > MAX_HEIGHT)
