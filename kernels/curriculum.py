"""Terrain curriculum per nominal group: levels moved by the distance walked, resets placed on them.

World layout (docs/DESIGN.md section 2): world ``w = n*(M+1) + k``; ``group_size`` below is ``M + 1``.
A grid of ``rows x cols`` sub-terrains of ``size`` metres, row i (the level) at ``x`` in
[i size, (i+1) size), column j at ``y`` in [j size, (j+1) size); ``origins`` [rows*cols] are their
start points, row-major.
"""

import warp as wp

from sdpg_warp.tasks.common import streams

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})



@wp.kernel
def _update_levels(
    # In:
    seed_in: int,
    group_size_in: int,
    rows_in: int,
    max_init_level_in: int,
    size_in: float,
    episode_seconds_in: float,
    command_body_in: int,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    qpos_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    start_in: wp.array(dtype=wp.vec2),
    started_in: wp.array(dtype=int),
    level_in: wp.array(dtype=int),
    # Out:
    started_out: wp.array(dtype=int),
    level_out: wp.array(dtype=int),
):
    """Per nominal n (dim N) whose world is masked, before its reset: its episode's first reset draws
    its level U{0..max_init_level}; later ones move it by the distance d the base walked from its
    start point: up when d > size / 2, else down when d < 0.5 x the commanded planar speed (memory
    body ``command_body_in``, x and y) x the episode's seconds; a level past the last row becomes a
    uniformly drawn row; never below 0. Keyed by (seed, nominal world, its reset count)."""
    n = wp.tid()
    world = n * group_size_in
    if not mask_in[world]:
        return
    rng = streams.reset_rng(seed_in + streams.TERRAIN_LEVEL, reset_count_in[world], world)
    if started_in[n] == 0:
        started_out[n] = 1
        level_out[n] = wp.randi(rng, 0, max_init_level_in + 1)
        return
    start = start_in[n]
    dx = qpos_in[world, 0] - start[0]
    dy = qpos_in[world, 1] - start[1]
    walked = wp.sqrt(dx * dx + dy * dy)
    command = mocap_pos_in[world, command_body_in]
    commanded = wp.sqrt(command[0] * command[0] + command[1] * command[1]) * episode_seconds_in * 0.5
    level = level_in[n]
    if walked > 0.5 * size_in:
        level = level + 1
    elif walked < commanded:
        level = level - 1
    if level >= rows_in:
        level = wp.randi(rng, 0, rows_in)
    level_out[n] = wp.max(level, 0)


@wp.kernel
def _place_on_levels(
    # In:
    group_size_in: int,
    rows_in: int,
    cols_in: int,
    size_in: float,
    mask_in: wp.array(dtype=bool),
    origins_in: wp.array(dtype=wp.vec3),
    level_in: wp.array(dtype=int),
    qpos_in: wp.array2d(dtype=float),
    # Out:
    qpos_out: wp.array2d(dtype=float),
    start_out: wp.array(dtype=wp.vec2),
):
    """After the task placed a masked world on a sub-terrain (row i, column j, read from its base
    position), moves it to the same column on its group's level: x by (level - i) size, z by the two
    start points' height difference. A nominal records its start point. ``qpos_in`` is ``qpos_out``
    (each thread its own row)."""
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    n = worldid / group_size_in
    i = wp.clamp(int(wp.floor(qpos_in[worldid, 0] / size_in)), 0, rows_in - 1)
    j = wp.clamp(int(wp.floor(qpos_in[worldid, 1] / size_in)), 0, cols_in - 1)
    level = level_in[n]
    drawn = origins_in[i * cols_in + j]
    target = origins_in[level * cols_in + j]
    qpos_out[worldid, 0] = qpos_in[worldid, 0] + (target[0] - drawn[0])
    qpos_out[worldid, 2] = qpos_in[worldid, 2] + (target[2] - drawn[2])
    if worldid % group_size_in == 0:
        start_out[n] = wp.vec2(target[0], target[1])
