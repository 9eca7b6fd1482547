"""Reacher: a one-link arm spinning in the plane to point at a target; learns in seconds on a CPU.

The arm's angle has no walls, so no policy can pin it where perturbations stop mattering, and from
above the arm covers many pixels: the task tests the whole training loop for real learning from
state and from pixels. Reward: cos(angle to the target direction +x) minus a small action cost.
"""

import dataclasses

import numpy as np
import warp as wp

from sdpg_warp.tasks import register
from sdpg_warp.tasks.base import Task

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

ACTION_COST = 0.01


@wp.func
def _alignment(angle: float) -> float:
    """cos(angle): 1 when the arm points at the target (+x), -1 when away."""
    return wp.cos(angle)


@wp.kernel
def _reacher_evaluate(
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
    angle = qpos_in[worldid, 0]
    a = action_in[worldid, 0]
    alignment = _alignment(angle)
    action = -ACTION_COST * a * a
    state_out[worldid, 0] = wp.cos(angle)
    state_out[worldid, 1] = wp.sin(angle)
    state_out[worldid, 2] = qvel_in[worldid, 0]
    terms_out[worldid, 0] = alignment
    terms_out[worldid, 1] = action
    reward_out[worldid] = alignment + action
    terminated_out[worldid] = 0


@register
@dataclasses.dataclass(frozen=True)
class Reacher(Task):
    name = "reacher"
    xml_file = "reacher.xml"
    state_dim = 3
    reward_terms = ("alignment", "action")
    max_contacts = 1
    max_constraints = 1
    solver_iterations = 10  # measured max 1 (bench/solver_iterations.py)
    _kernel = _reacher_evaluate

    episode_length: int = 100
    reset_noise_qpos: float = float(np.pi)
    reset_noise_qvel: float = 0.0

    def reference(self, world):
        qpos, qvel, action = world.qpos, world.qvel, world.action
        obs = np.array([np.cos(qpos[0]), np.sin(qpos[0]), qvel[0]])
        terms = np.array([np.cos(qpos[0]), -ACTION_COST * action[0] ** 2])
        return obs, terms, False
