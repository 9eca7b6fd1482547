"""Walker: a planar biped that should walk forward (+x) without falling.

State (``assets/walker.xml``): qpos = [rootx, rootz, rooty, right_hip, right_knee, right_ankle,
left_hip, left_knee, left_ankle], where rootz is the torso height above its 1.3 m start and rooty
the torso pitch; qvel holds their rates.

Definitions from the authors' walker (SDPG ``envs/genesis_env/walker.py``): reward = forward
velocity + 0.1 alive bonus - 0.01 sum(a^2); early termination when rootz leaves [-0.5, 0.7] or
|rooty| > 1 rad; motor strengths 100 / 50 / 20 (hip / knee / ankle); episode 1000 steps of
10 ms; reset noise U(-0.05, 0.05) on every joint position, zero velocity; soft joint limits
(solimplimit 0 0.99 0.01) as in the authors' MJCF. The authors list rooty before rootz in the obs
(their simulator's joint order); here the same 17 entries follow qpos.
Deliberate difference: a 10 ms step is 2 physics steps of 5 ms (the authors: one of 10 ms), as
for the hopper, which needs it; the walker alone measured no blow-up at 1 x 10 ms either
(``tools/contact_budget.py``).
"""

import dataclasses

import numpy as np
import warp as wp

from sdpg_warp.tasks import locomotion, register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import guards, rewards

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

MIN_HEIGHT = -0.5
"""Episode ends when rootz (torso height minus 1.3 m) falls below this."""
MAX_HEIGHT = 0.7
"""Episode ends when rootz rises above this (a jump no gait needs)."""
MAX_PITCH = 1.0
"""Episode ends when |rooty| exceeds this many radians."""
ALIVE_BONUS = 0.1
"""Reward for every step not terminated."""
ACTION_PENALTY = -0.01
"""Weight of sum(a^2)."""


@wp.func
def _walker_alive_reward() -> float:
    """alive = 0.1 per step."""
    return ALIVE_BONUS


@wp.func
def _walker_terminated(height: float, pitch: float) -> bool:
    """terminated = rootz < -0.5 or rootz > 0.7 or |rooty| > 1."""
    return height < MIN_HEIGHT or height > MAX_HEIGHT or wp.abs(pitch) > MAX_PITCH


@wp.kernel
def _walker_evaluate(
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
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    locomotion.planar_observation(worldid, qpos_in, qvel_in, state_out)
    progress = locomotion.progress(worldid, qvel_in)
    alive = _walker_alive_reward()
    action = rewards.action_cost(worldid, ACTION_PENALTY, action_in)
    terms_out[worldid, 0] = progress
    terms_out[worldid, 1] = alive
    terms_out[worldid, 2] = action
    rewards.write_reward(worldid, terms_out, reward_out)
    terminated = _walker_terminated(qpos_in[worldid, 1], qpos_in[worldid, 2])
    terminated_out[worldid] = wp.where(terminated, 1, 0)


@register
@dataclasses.dataclass(frozen=True)
class Walker(Task):
    name = "walker"
    xml_file = "walker.xml"
    state_dim = 17
    reward_terms = ("progress", "alive", "action")
    _kernel = _walker_evaluate
    # Measured in C MuJoCo (30k env steps of uniform and of +-1 random actions, with and without
    # termination, plus settling from lying poses): at most 10 contacts and 42 constraint rows.
    # Budget: 2x the contacts; 4 rows per contact (condim 3, pyramidal) + 1 per limited joint.
    max_contacts = 20
    max_constraints = 4 * 20 + 6
    solver_iterations = 20  # measured max 8 (bench/solver_iterations.py)

    frame_skip: int = 2
    episode_length: int = 1000
    reset_noise_qpos: float = 0.05
    reset_noise_qvel: float = 0.0

    def reference(self, world):
        qpos, qvel, action = world.qpos, world.qvel, world.action
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        height, pitch = qpos[1], qpos[2]
        terms = np.array([qvel[0], ALIVE_BONUS, rewards.np_action_cost(action, ACTION_PENALTY)])
        obs = np.concatenate([qpos[1:], qvel])
        terminated = bool(height < MIN_HEIGHT or height > MAX_HEIGHT or abs(pitch) > MAX_PITCH)
        return obs, terms, terminated
