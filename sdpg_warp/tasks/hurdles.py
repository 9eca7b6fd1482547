"""Hurdle tracks of the ego-centric tasks: per-world hurdle positions and heights on mocap boxes.

The authors build one heightfield track of ``num_levels`` sub-terrains along +x, each
``level_length`` long with ``hurdles_per_level`` hurdles at random spacing, hurdle heights growing
with the level's difficulty ``level / num_levels`` (SDPG ``utils/terrain.py``,
``terrain_utils.parkour_hurtle_terrain``). Here every world draws its own track from the same
distributions at each reset: hurdle k is the box of mocap body k, ``2 * max_height`` tall and
lowered into the floor so that its top is at the drawn height (the floor plane hides the rest).
Hurdles collide with the robot only (contype 2, conaffinity 0; the robot's geoms get conaffinity
bit 2, the floor's does not), never with the floor or each other. Mocap poses are state: the
auxiliary worlds take their nominal's, the renderer gathers them.
"""

import dataclasses

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.tasks.common import guards, streams

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

HURDLE_CONAFFINITY = 2
"""Collision bit of the hurdles (their contype) that the robot's geoms add to their conaffinity."""
HURDLE_RGBA = (0.86, 0.2, 0.2, 1.0)
"""The authors colour raised terrain red on a white floor."""


@dataclasses.dataclass(frozen=True)
class HurdleTrack:
    """One task's hurdle distribution (lengths in metres)."""

    num_levels: int
    """Sub-terrains along +x; level i has difficulty i / num_levels."""
    hurdles_per_level: int
    """Hurdles in each sub-terrain."""
    level_length: float
    """Length of a sub-terrain; level i starts at x = i * level_length."""
    spacing: tuple[float, float]
    """Uniform range of the distance from a level's start (or the previous hurdle) to the next hurdle."""
    length: tuple[float, float]
    """Hurdle length along x at difficulty d: offset + scale * d."""
    height_low: tuple[float, float]
    """Lower end of the hurdle height's uniform range at difficulty d: offset + scale * d."""
    height_high: tuple[float, float]
    """Upper end of the hurdle height's uniform range at difficulty d: offset + scale * d."""
    half_width: float
    """Half-width of a hurdle across the track (y)."""

    @property
    def num_hurdles(self) -> int:
        return self.num_levels * self.hurdles_per_level

    @property
    def max_height(self) -> float:
        """The tallest hurdle any level can draw: each box is twice this tall."""
        return self.height_high[0] + self.height_high[1] * (self.num_levels - 1) / self.num_levels

    def half_lengths(self) -> np.ndarray:
        """[num_hurdles] half-length along x of each hurdle (its level's difficulty)."""
        levels = np.arange(self.num_hurdles) // self.hurdles_per_level
        return 0.5 * (self.length[0] + self.length[1] * levels / self.num_levels)

    def add_to(self, spec: mujoco.MjSpec) -> None:
        """Adds the hurdles as mocap bodies ``hurdle0..`` (mocap ids 0..num_hurdles-1: call this
        before any other mocap body is added) and lets every existing geom of a body other than
        the world collide with them."""
        for geom in spec.geoms:
            if geom.parent.name != spec.worldbody.name:  # the robot's, not the floor's
                geom.conaffinity |= HURDLE_CONAFFINITY
        for k, half_length in enumerate(self.half_lengths()):
            # Until placed, a hurdle waits with its top 1 m under the floor (out of sight and reach).
            body = spec.worldbody.add_body(name=f"hurdle{k}", mocap=True, pos=[0.0, 0.0, -self.max_height - 1.0])
            body.add_geom(name=f"hurdle{k}", type=mujoco.mjtGeom.mjGEOM_BOX, contype=HURDLE_CONAFFINITY,
                          conaffinity=0, rgba=HURDLE_RGBA,
                          size=[half_length, self.half_width, self.max_height])

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """One track drawn on the host from the distribution :meth:`place` draws from (NumPy's
        generator): [num_hurdles, 3] mocap positions."""
        pos = np.zeros((self.num_hurdles, 3))
        for level in range(self.num_levels):
            difficulty = level / self.num_levels
            low = self.height_low[0] + self.height_low[1] * difficulty
            high = self.height_high[0] + self.height_high[1] * difficulty
            k = level * self.hurdles_per_level + np.arange(self.hurdles_per_level)
            pos[k, 0] = self.level_length * level + np.cumsum(rng.uniform(*self.spacing, self.hurdles_per_level))
            pos[k, 2] = rng.uniform(low, high, self.hurdles_per_level) - self.max_height
        return pos

    def check(self, mjm: mujoco.MjModel) -> None:
        """Raises ValueError unless mocap body k of ``mjm`` is hurdle k."""
        for k in range(self.num_hurdles):
            body = mjm.body(f"hurdle{k}")
            if mjm.body_mocapid[body.id] != k:
                raise ValueError(f"hurdle{k} is mocap body {mjm.body_mocapid[body.id]}, expected {k}")

    def measure(self, d: mjw.Data, start_x: float, half_lengths: wp.array, episode_step: wp.array,
                metrics: wp.array2d) -> None:
        """The hurdle tasks' metrics (``HURDLE_METRICS``) of every world (``Task.measure``): the
        hurdles the robot has cleared and the distance it has run along the track, from its base x
        (qpos[0]) and its start x ``start_x``; ``half_lengths`` [num_hurdles] on the Data's device."""
        with nvtx_range("task.measure_hurdles"):
            wp.launch(_hurdle_measure, dim=d.qpos.shape[0],
                      inputs=[start_x, d.qpos, d.qvel, d.mocap_pos, half_lengths, episode_step, metrics],
                      outputs=[metrics], device=d.qpos.device)

    def place(self, d: mjw.Data, seed: int, mask: wp.array, reset_count: wp.array) -> None:
        """Draws a new track for every masked world: ``d.mocap_pos`` [W, nmocap] rows 0..num_hurdles-1.

        Hurdle j of level i (k = i * hurdles_per_level + j) sits at
        x_k = i * level_length + s_1 + .. + s_{j+1}, s ~ U(spacing), y = 0, with its top at
        h_k ~ U(height_low(d_i), height_high(d_i)), d_i = i / num_levels. Keyed by (seed, world,
        reset_count), on ``mask.device``.
        """
        with nvtx_range("task.place_hurdles"):
            wp.launch(
                _place_hurdles,
                dim=d.mocap_pos.shape[0],
                inputs=[seed + streams.HURDLES, self.num_levels, self.hurdles_per_level, self.level_length,
                        wp.vec2(*self.spacing), wp.vec2(*self.height_low), wp.vec2(*self.height_high),
                        self.max_height, mask, reset_count],
                outputs=[d.mocap_pos],
                device=mask.device,
            )


@wp.kernel
def _place_hurdles(
    # In:
    seed_in: int,
    num_levels_in: int,
    hurdles_per_level_in: int,
    level_length_in: float,
    spacing_in: wp.vec2,
    height_low_in: wp.vec2,
    height_high_in: wp.vec2,
    half_height_in: float,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    rng = streams.reset_rng(seed_in, reset_count_in[worldid], worldid)
    for level in range(num_levels_in):
        difficulty = float(level) / float(num_levels_in)
        low = height_low_in[0] + height_low_in[1] * difficulty
        high = height_high_in[0] + height_high_in[1] * difficulty
        x = level_length_in * float(level)
        for j in range(hurdles_per_level_in):
            x += spacing_in[0] + (spacing_in[1] - spacing_in[0]) * wp.randf(rng)
            height = low + (high - low) * wp.randf(rng)
            mocap_pos_out[worldid, level * hurdles_per_level_in + j] = wp.vec3(x, 0.0, height - half_height_in)


HURDLE_METRICS = ("hurdles_cleared", "distance")
"""The hurdle tasks' metrics: hurdles whose far edge lies behind the robot's base, and how far (m)
along the track (+x) the base got from its start."""


@wp.func
def hurdles_cleared(
    worldid: int,
    x: float,
    # In:
    half_length_in: wp.array(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
) -> float:
    """Number of hurdles k whose far edge x_k + half_length_k lies behind x."""
    count = float(0.0)
    for k in range(half_length_in.shape[0]):
        if mocap_pos_in[worldid, k][0] + half_length_in[k] < x:
            count += 1.0
    return count


@wp.kernel
def _hurdle_measure(
    # In:
    start_x_in: float,
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    half_length_in: wp.array(dtype=float),
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """metrics = (hurdles cleared behind x = qpos[0], x - start_x); a non-finite state keeps the
    last ones (``metrics_in`` is ``metrics_out`` as it was: each world its own row)."""
    worldid = wp.tid()
    if not guards.state_is_finite(worldid, qpos_in, qvel_in):
        guards.hold_metrics(worldid, episode_step_in, metrics_in, metrics_out)
        return
    x = qpos_in[worldid, 0]
    metrics_out[worldid, 0] = hurdles_cleared(worldid, x, half_length_in, mocap_pos_in)
    metrics_out[worldid, 1] = x - start_x_in


def np_hurdles_cleared(x: float, mocap_pos: np.ndarray, half_lengths: np.ndarray) -> float:
    """NumPy twin of :func:`hurdles_cleared` (mocap_pos [nmocap, 3], hurdles first)."""
    return float(np.count_nonzero(mocap_pos[: len(half_lengths), 0] + half_lengths < x))


@wp.func
def ground_height(
    worldid: int,
    x: float,
    y: float,
    half_width: float,
    half_height: float,
    # In:
    half_length_in: wp.array(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
) -> float:
    """Height of the track at (x, y): the top of the tallest hurdle k with |x - x_k| <= half_length_k
    and |y - y_k| <= half_width, else 0 (the floor)."""
    height = float(0.0)
    for k in range(half_length_in.shape[0]):
        pos = mocap_pos_in[worldid, k]
        if wp.abs(x - pos[0]) <= half_length_in[k] and wp.abs(y - pos[1]) <= half_width:
            height = wp.max(height, pos[2] + half_height)
    return height


def np_ground_height(x: float, y: float, mocap_pos: np.ndarray, half_lengths: np.ndarray, half_width: float,
                     half_height: float) -> float:
    """NumPy twin of :func:`ground_height` (mocap_pos [nmocap, 3], hurdles first)."""
    pos = mocap_pos[: len(half_lengths)]
    over = (np.abs(x - pos[:, 0]) <= half_lengths) & (np.abs(y - pos[:, 1]) <= half_width)
    return float(max(0.0, np.max(pos[over, 2] + half_height, initial=0.0)))
