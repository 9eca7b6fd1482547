"""Point mass reaching the origin: a task small enough to learn in seconds on a CPU.

A ball slides in the plane (two damped slide joints, two motors); the reward is minus its
distance to the target at the origin, minus a small action cost. Used to test the whole training
loop for real learning, from state and from pixels (an overhead camera sees ball and target).
"""

import dataclasses

import numpy as np
import warp as wp

from sdpg_warp.tasks import register
from sdpg_warp.tasks.base import Task

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ACTION_COST = 0.01


@wp.kernel
def _pointmass_evaluate(
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
    x = qpos_in[worldid, 0]
    y = qpos_in[worldid, 1]
    ax = action_in[worldid, 0]
    ay = action_in[worldid, 1]
    distance = -wp.sqrt(x * x + y * y)
    action = -ACTION_COST * (ax * ax + ay * ay)
    state_out[worldid, 0] = x
    state_out[worldid, 1] = y
    state_out[worldid, 2] = qvel_in[worldid, 0]
    state_out[worldid, 3] = qvel_in[worldid, 1]
    terms_out[worldid, 0] = distance
    terms_out[worldid, 1] = action
    reward_out[worldid] = distance + action
    terminated_out[worldid] = 0


@register
@dataclasses.dataclass(frozen=True)
class PointMass(Task):
    name = "pointmass"
    xml_file = "pointmass.xml"
    state_dim = 4
    reward_terms = ("distance", "action")
    _kernel = _pointmass_evaluate
    solver_iterations = 10  # measured max 2 (bench/solver_iterations.py)

    episode_length: int = 100
    reset_noise_qpos: float = 0.35
    reset_noise_qvel: float = 0.0

    def reference(self, world):
        qpos, qvel, action = world.qpos, world.qvel, world.action
        distance = -np.hypot(qpos[0], qpos[1])
        terms = np.array([distance, -ACTION_COST * np.sum(np.square(action[:2]))])
        obs = np.array([qpos[0], qpos[1], qvel[0], qvel[1]])
        return obs, terms, False
