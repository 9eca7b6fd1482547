"""Ant: a quadruped on a free joint that should run along +x.

State (``assets/ant.xml``): qpos = [torso position (3), torso quaternion w x y z (4), hip_1,
ankle_1, ..., hip_4, ankle_4]; qvel = [torso origin velocity, world frame (3), torso angular
velocity, body frame (3), 8 joint rates]. Motor i drives joint MOTOR_JOINTS[i] (here qpos order).
As in the authors' ant, only the four feet touch the floor, and the camera follows the torso
origin from (0.5, -2, 1) looking at it (SDPG ``cfgs/task/genesis/ant.yaml``).

Definitions from the authors' ant (SDPG ``envs/genesis_env/ant.py``, after SHAC ``envs/ant.py``):
reward = forward velocity + 0.1 up + heading + (torso height - 0.27); the authors' action penalty
has weight 0, so it is left out; early termination when the torso height leaves [0.27, 1.3];
motor strength 200; start pose torso at 0.75 m, ankles bent +-1 rad; episode 1000 steps of 10 ms;
reset noise U(-0.05, 0.05) on every qpos entry (the quaternion renormalized: a random tilt of a few
degrees, like the authors' +-7.5 degrees), zero velocity.

The authors' "up" is SHAC's y-up projection; in MuJoCo's z-up world it is (R(q) e_z) . e_z.
The obs carries the applied action in [-1, 1] as SHAC does (SDPG stores it times the motor
strength), and the torso angular velocity in the world frame as SHAC does.
Deliberate difference: a 10 ms step is 2 physics steps of 5 ms (the authors: one of 10 ms), as
for the hopper, which needs it; the ant alone measured no blow-up at 1 x 10 ms either
(``tools/contact_budget.py``).
"""

import dataclasses

import numpy as np
import warp as wp

from sdpg_warp.tasks import locomotion, register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import rotations

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

NUM_JOINTS = 8
"""Actuated hinges (= actuators)."""
MOTOR_JOINTS = ("hip_1", "ankle_1", "hip_2", "ankle_2", "hip_3", "ankle_3", "hip_4", "ankle_4")
"""The hinge of each motor, in action order (the authors'); the obs lists joints in this order."""
MIN_HEIGHT = 0.27
"""Episode ends when the torso height falls below this; the height reward is measured from it."""
MAX_HEIGHT = 1.3
"""Episode ends above this torso height: only a solver failure throws the ant that high."""
UP_WEIGHT = 0.1
"""Weight of the up projection in the reward."""
JOINT_VEL_SCALE = 0.1
"""Joint rates enter the obs scaled by this."""


_JOINT_ORDER = wp.constant(
    wp.types.vector(NUM_JOINTS, dtype=int)(*locomotion.hinge_offsets("ant.xml", MOTOR_JOINTS))
)
"""Offset of each motor's hinge after the free joint (qpos[7 + k])."""


@wp.func
def _ant_height_reward(height: float) -> float:
    """height = z - 0.27."""
    return height - MIN_HEIGHT


@wp.func
def _ant_terminated(height: float) -> bool:
    """terminated = z < 0.27 or z > 1.3."""
    return height < MIN_HEIGHT or height > MAX_HEIGHT


_ant_evaluate = locomotion.floating_base_evaluate(
    _JOINT_ORDER, JOINT_VEL_SCALE, UP_WEIGHT, _ant_height_reward, _ant_terminated, 0.0
)
"""obs (37) = [z, q_wxyz (4), v (3), R(q) w (3), joint q, 0.1 joint qd, up, heading, a]; terms as
``reward_terms``."""


@register
@dataclasses.dataclass(frozen=True)
class Ant(Task):
    name = "ant"
    xml_file = "ant.xml"
    state_dim = 3 * NUM_JOINTS + 13
    reward_terms = ("progress", "up", "heading", "height")
    _kernel = _ant_evaluate
    # Only the four foot spheres touch the floor, one contact each: at most 4 contacts and
    # 4 * 4 rows (condim 3, pyramidal) + 1 per limited joint, an exact bound. Measured in C MuJoCo
    # (tools/contact_budget.py): 4 contacts and 21 constraint rows.
    max_contacts = 4
    max_constraints = 4 * 4 + NUM_JOINTS
    solver_iterations = 15  # measured max 6 (bench/solver_iterations.py)

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
        terms = np.array([qvel[0], UP_WEIGHT * rot[2, 2], rot[0, 0], height - MIN_HEIGHT])
        order = locomotion.hinge_offsets(self.xml_file, MOTOR_JOINTS)
        obs = locomotion.np_floating_base_observation(qpos, qvel, action, JOINT_VEL_SCALE, order)
        return obs, terms, bool(height < MIN_HEIGHT or height > MAX_HEIGHT)
