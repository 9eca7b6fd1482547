"""Hopper: a planar one-legged robot that should hop forward (+x) without falling.

State (``assets/hopper.xml``): qpos = [rootx, rootz, rooty, thigh, leg, foot], where rootz is the
torso height above its 1.25 m start and rooty the torso pitch; qvel holds their rates.

Definitions from the authors' hopper (SDPG ``envs/genesis_env/hopper.py``, after SHAC
``envs/hopper.py``): reward = forward velocity + shaped height + pitch + action penalty; early
termination when the torso sinks 0.45 m below its start, rises 15 m above it, or any joint speed
exceeds 100 (a physics blow-up); motor strength 200; episode 1000 steps of 10 ms; reset noise
U(-0.05, 0.05) on every joint position, zero velocity. The motor joints have armature 0.1 and no
damping: the authors' MJCF gives neither, and Genesis loads such joints with armature 0.1.
Deliberate difference: a 10 ms step is 2 physics steps of 5 ms (the authors: one of 10 ms), since
at 1 x 10 ms C MuJoCo blew up (joint speed > 100) in 1 of 1826 random-action episodes and let the
floor in 0.17 m deep, against none and 0.11 m at 2 x 5 ms (``tools/contact_budget.py``).
"""

import dataclasses
import math

import numpy as np
import warp as wp

from sdpg_warp.tasks import locomotion, register
from sdpg_warp.tasks.base import Task
from sdpg_warp.tasks.common import guards, rewards

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

TERMINATION_HEIGHT = -0.45
"""Episode ends when rootz (torso height minus 1.25 m) falls below this."""
HEIGHT_TOLERANCE = 0.15
"""The height reward's target lies this far above the termination height."""
HEIGHT_CLIP = 3.0
"""Upper clip of the height reward (SDPG; SHAC clips at 0.3)."""
HEIGHT_SCALE = 1.0
"""Slope of the height reward above its target."""
TERMINATION_ANGLE = math.pi / 6.0
"""Pitch at which the pitch reward reaches 0 (the authors no longer terminate on it)."""
ACTION_PENALTY = -0.1
"""Weight of sum(a^2)."""
MAX_HEIGHT = 15.0
"""Episode ends above this rootz: only a solver exploit throws the hopper that high (SDPG)."""
MAX_SPEED = 100.0
"""Episode ends when any |qvel| exceeds this: a physics blow-up (SDPG)."""


@wp.func
def _hopper_height_reward(height: float) -> float:
    """height: d = clip(rootz - (-0.45 + 0.15), -1, 3); -200 d^2 if d < 0, else d."""
    return locomotion.shaped_height(height, TERMINATION_HEIGHT + HEIGHT_TOLERANCE, HEIGHT_CLIP, HEIGHT_SCALE)


@wp.func
def _hopper_pitch_reward(pitch: float) -> float:
    """pitch = 1 - wrap(rooty)^2 / (pi/6)^2, with wrap(x) = atan2(sin x, cos x) in [-pi, pi]."""
    wrapped = wp.atan2(wp.sin(pitch), wp.cos(pitch))
    return 1.0 - wrapped * wrapped / (TERMINATION_ANGLE * TERMINATION_ANGLE)


@wp.func
def _hopper_terminated(
    worldid: int,
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
) -> bool:
    """terminated = rootz < -0.45 or rootz > 15 or max_i |qvel_i| > 100."""
    height = qpos_in[worldid, 1]
    fast = int(0)
    for i in range(qvel_in.shape[1]):
        if wp.abs(qvel_in[worldid, i]) > MAX_SPEED:
            fast += 1
    return height < TERMINATION_HEIGHT or height > MAX_HEIGHT or fast > 0


@wp.kernel
def _hopper_evaluate(
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
    height = _hopper_height_reward(qpos_in[worldid, 1])
    pitch = _hopper_pitch_reward(qpos_in[worldid, 2])
    action = rewards.action_cost(worldid, ACTION_PENALTY, action_in)
    terms_out[worldid, 0] = progress
    terms_out[worldid, 1] = height
    terms_out[worldid, 2] = pitch
    terms_out[worldid, 3] = action
    rewards.write_reward(worldid, terms_out, reward_out)
    terminated_out[worldid] = wp.where(_hopper_terminated(worldid, qpos_in, qvel_in), 1, 0)


@register
@dataclasses.dataclass(frozen=True)
class Hopper(Task):
    name = "hopper"
    xml_file = "hopper.xml"
    state_dim = 11
    reward_terms = ("progress", "height", "pitch", "action")
    _kernel = _hopper_evaluate
    # Measured in C MuJoCo (30k env steps of uniform and of +-1 random actions, with and without
    # termination, plus settling from lying poses): at most 5 contacts and 21 constraint rows.
    # Budget: about 2x the contacts; 4 rows per contact (condim 3, pyramidal) + 1 per limited joint.
    max_contacts = 12
    max_constraints = 4 * 12 + 3
    solver_iterations = 10  # measured max 5 (bench/solver_iterations.py)

    frame_skip: int = 2
    episode_length: int = 1000
    reset_noise_qpos: float = 0.05
    reset_noise_qvel: float = 0.0

    def reference(self, world):
        qpos, qvel, action = world.qpos, world.qvel, world.action
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        height, pitch = qpos[1], qpos[2]
        wrapped = np.arctan2(np.sin(pitch), np.cos(pitch))
        terms = np.array(
            [
                qvel[0],
                locomotion.np_shaped_height(
                    height, TERMINATION_HEIGHT + HEIGHT_TOLERANCE, HEIGHT_CLIP, HEIGHT_SCALE
                ),
                1.0 - wrapped**2 / TERMINATION_ANGLE**2,
                rewards.np_action_cost(action, ACTION_PENALTY),
            ]
        )
        obs = np.concatenate([qpos[1:], qvel])
        too_fast = np.max(np.abs(qvel)) > MAX_SPEED
        return obs, terms, bool(height < TERMINATION_HEIGHT or height > MAX_HEIGHT or too_fast)
