"""Walker hurdle: the planar walker running over hurdles it sees through a camera on its torso.

Body, motors, termination and reset as :mod:`sdpg_warp.tasks.walker` (``assets/walker.xml``),
with a hurdle track (:mod:`sdpg_warp.tasks.hurdles`) and the ego camera added by ``mujoco.MjSpec``.

Definitions from the authors' walker hurdle (SDPG ``envs/genesis_env/walker_hurtle.py``,
``cfgs/task/genesis/walker_hurtle.yaml``):
  - reward = 10 * forward velocity + 1 alive bonus - 0.1 sum(a^2); walker termination;
  - track: 5 sub-terrains of 5 m, 2 hurdles each, spacing U(2.4, 2.5) m, 0.2 m long, height
    U(0.2 + d, 0.3 + 1.5 d) at difficulty d = level / 5; hurdles span y in +-U(0.6, 0.9) m, here
    a fixed +-0.75 m (the planar walker never leaves y = 0; only the picture sees the width);
  - camera 0.2 m ahead of and 0.1 m below the torso, looking at (0.8, 0, -0.3) from the torso,
    80 degree field of view; the authors' mount follows the torso's position only, which is
    MuJoCo's ``track`` mode (the view does not pitch with the torso);
  - actor: proprioception [qpos[1:], qvel] (17, the walker's state; the authors list the same
    entries in their simulator's joint order) + the camera's frame stack; critic: the
    proprioception + the track height at 36 points from 2 m behind to 5 m ahead of the torso,
    every 0.2 m (53).
Deliberate differences: every world draws its own track at each reset from the authors'
distributions (the authors build one track for all worlds); the track height is exact at the
sample points (the authors read the lowest of three heightfield cells); 2 physics steps of 5 ms
per 10 ms step, as the walker.
"""

import dataclasses
import functools
import os
from typing import ClassVar

import mujoco
import numpy as np
import warp as wp

from sdpg_warp.tasks import hurdles, locomotion, register, walker
from sdpg_warp.tasks.base import ASSET_DIR, Task
from sdpg_warp.tasks.common import guards, rewards
from sdpg_warp.tasks.ego import EGO_CAMERA, add_ego_camera

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

TRACK = hurdles.HurdleTrack(num_levels=5, hurdles_per_level=2, level_length=5.0, spacing=(2.4, 2.5),
                            length=(0.2, 0.0), height_low=(0.2, 1.0), height_high=(0.3, 1.5), half_width=0.75)
"""The authors' hurdle distribution (``walker_hurtle.yaml``, ``hurtle_args``)."""
FORWARD_WEIGHT = 10.0
"""Weight of the forward velocity."""
ALIVE_BONUS = 1.0
"""Reward for every step not terminated."""
ACTION_PENALTY = -0.1
"""Weight of sum(a^2)."""
PROPRIO_DIM = 17
"""[qpos[1:], qvel] of the walker."""
SAMPLE_OFFSETS = np.linspace(-2.0, 5.0, 36)
"""x offsets from the torso at which the critic reads the track height (the authors' 0.2 m grid)."""
START_X = 0.0
"""The torso's x (rootx) at reset before noise: where the distance metric counts from."""
HURDLE_HALF_HEIGHT = TRACK.max_height
HURDLE_HALF_WIDTH = TRACK.half_width
MIN_HEIGHT = walker.MIN_HEIGHT
MAX_HEIGHT = walker.MAX_HEIGHT
MAX_PITCH = walker.MAX_PITCH
CAMERA_POS = (0.2, 0.0, -0.1)
"""Camera position in the torso frame (the authors' mount offset)."""
CAMERA_LOOKAT = (0.8, 0.0, -0.3)
"""Point the camera looks at, in the torso frame."""
CAMERA_FOVY = 80.0
"""Vertical field of view in degrees."""


@wp.kernel
def _walker_hurdle_evaluate(
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    half_length_in: wp.array(dtype=float),
    sample_offset_in: wp.array(dtype=float),
    action_in: wp.array2d(dtype=float),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """state = [qpos[1:], qvel, track height at rootx + offset_j]; terms = (10 v_x, 1, -0.1 sum a^2)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.clear_world(worldid, state_out, terms_out, reward_out, terminated_out)
        return
    locomotion.planar_observation(worldid, qpos_in, qvel_in, state_out)
    x = qpos_in[worldid, 0]
    for j in range(sample_offset_in.shape[0]):
        state_out[worldid, PROPRIO_DIM + j] = hurdles.ground_height(
            worldid, x + sample_offset_in[j], 0.0, HURDLE_HALF_WIDTH, HURDLE_HALF_HEIGHT, half_length_in, mocap_pos_in)
    terms_out[worldid, 0] = FORWARD_WEIGHT * locomotion.progress(worldid, qvel_in)
    terms_out[worldid, 1] = ALIVE_BONUS
    terms_out[worldid, 2] = rewards.action_cost(worldid, ACTION_PENALTY, action_in)
    rewards.write_reward(worldid, terms_out, reward_out)
    height = qpos_in[worldid, 1]
    pitch = qpos_in[worldid, 2]
    terminated = height < MIN_HEIGHT or height > MAX_HEIGHT or wp.abs(pitch) > MAX_PITCH
    terminated_out[worldid] = wp.where(terminated, 1, 0)


@functools.cache
def _track_constants(device: str) -> tuple[wp.array, wp.array]:
    """(hurdle half-lengths, height sample offsets) on ``device``: allocated once, so a recorded
    graph keeps valid addresses."""
    return (wp.array(TRACK.half_lengths(), dtype=float, device=device),
            wp.array(SAMPLE_OFFSETS, dtype=float, device=device))


@register
@dataclasses.dataclass(frozen=True)
class WalkerHurdle(Task):
    name = "walker_hurdle"
    xml_file = "walker.xml"
    state_dim = PROPRIO_DIM + len(SAMPLE_OFFSETS)
    proprio_dim = PROPRIO_DIM
    camera = EGO_CAMERA
    reward_terms = ("progress", "alive", "action")
    metric_names = hurdles.HURDLE_METRICS
    track: ClassVar[hurdles.HurdleTrack] = TRACK
    """The hurdle distribution (benches place hurdles with it)."""
    _kernel = _walker_hurdle_evaluate
    # Measured in C MuJoCo (tools/contact_budget.py --steps 10000: uniform and +-1 random actions,
    # with and without termination, plus settling from lying poses, each episode on a track drawn
    # as the task draws it with its first hurdle 0.3 m ahead): at most 8 contacts and 34 constraint
    # rows, as the walker alone. Budget: 3x the contacts (a hurdle is one more body to touch);
    # 4 rows per contact (condim 3, pyramidal) + 1 per limited joint.
    max_contacts = 24
    max_constraints = 4 * 24 + 6
    solver_iterations = 20  # measured max 8 (bench/solver_iterations.py)

    frame_skip: int = 2
    episode_length: int = 1000
    reset_noise_qpos: float = 0.05
    reset_noise_qvel: float = 0.0

    def mj_model(self) -> mujoco.MjModel:
        """The walker with the hurdle track and the ego camera on its torso."""
        spec = mujoco.MjSpec.from_file(os.path.join(ASSET_DIR, self.xml_file))
        TRACK.add_to(spec)
        add_ego_camera(spec.body("torso"), CAMERA_POS, CAMERA_LOOKAT, CAMERA_FOVY, mujoco.mjtCamLight.mjCAMLIGHT_TRACK)
        # The track spans 25 m, which would set the scene extent, and with it the near plane
        # (znear * extent), to metres; a fixed extent keeps the near plane at 2 cm.
        spec.stat.extent = 1.0
        mjm = spec.compile()
        TRACK.check(mjm)
        return mjm

    def evaluate(self, inputs, state_out, terms_out, reward_out, terminated_out) -> None:
        """The walker's outputs plus the track heights under the hurdles of ``inputs.mocap_pos``."""
        half_lengths, offsets = _track_constants(str(inputs.qpos.device))
        wp.launch(
            self._kernel,
            dim=inputs.qpos.shape[0],
            inputs=[inputs.qpos, inputs.qvel, inputs.mocap_pos, half_lengths, offsets, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=inputs.qpos.device,
        )

    def measure(self, d, episode_step, metrics) -> None:
        TRACK.measure(d, START_X, _track_constants(str(d.qpos.device))[0], episode_step, metrics)

    def reset_scene(self, d, seed, mask, reset_count) -> None:
        TRACK.place(d, seed, mask, reset_count)

    def reference(self, world):
        """NumPy reference for one world; ``world.mocap_pos`` [nmocap, 3] holds the hurdles."""
        qpos, qvel, action, mocap_pos = world.qpos, world.qvel, world.action, world.mocap_pos
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(self.state_dim), np.zeros(len(self.reward_terms)), True
        half_lengths = TRACK.half_lengths()
        heights = [hurdles.np_ground_height(qpos[0] + dx, 0.0, mocap_pos, half_lengths, HURDLE_HALF_WIDTH,
                                            HURDLE_HALF_HEIGHT) for dx in SAMPLE_OFFSETS]
        obs = np.concatenate([qpos[1:], qvel, heights])
        terms = np.array([FORWARD_WEIGHT * qvel[0], ALIVE_BONUS, rewards.np_action_cost(action, ACTION_PENALTY)])
        height, pitch = qpos[1], qpos[2]
        terminated = bool(height < MIN_HEIGHT or height > MAX_HEIGHT or abs(pitch) > MAX_PITCH)
        return obs, terms, terminated

    def reference_measure(self, qpos, qvel, mocap_pos, previous, episode_step) -> np.ndarray:
        """NumPy reference of :meth:`measure` for one world: [hurdles cleared, distance];
        ``previous`` the metrics before the step, ``episode_step`` the steps before it."""
        if not (np.all(np.isfinite(qpos)) and np.all(np.isfinite(qvel))):
            return np.zeros(2) if episode_step == 0 else np.array(previous, dtype=np.float64)
        return np.array([hurdles.np_hurdles_cleared(qpos[0], mocap_pos, TRACK.half_lengths()), qpos[0] - START_X])
