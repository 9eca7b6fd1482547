"""Random streams of the tasks: every per-world draw at a reset is keyed by (seed, world, how often
the world was reset), so a run is reproducible and two resets of a world never share numbers.

A generator's key is ``seed + stream + RESET_STRIDE * reset_count`` and its offset the world id
(:func:`reset_rng`). ``stream`` tells the generators of one reset apart: the initial state draws
from stream 0 (``sdpg_warp/kernels/reset.py``), each task's scene (hurdles, start points, object
poses) from its own offset below.
"""

import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

RESET_STRIDE = 1000003
"""Key distance between two consecutive resets of a world (a prime, far from every stream offset)."""
INITIAL_STATE = 0
"""The initial-state noise of every task (``Task.reset_noise_qpos`` / ``reset_noise_qvel``)."""
HURDLES = 7919
"""Hurdle tracks (walker_hurdle, g1_hurdle: ``sdpg_warp/tasks/hurdles.py``)."""
FRANKA_SCENE = 7919
"""franka_pick_cube's cube start and target (the same offset as the hurdles: no task has both)."""
ALOHA_SCENE = 4271
"""aloha_insertion's peg and socket starts."""
GO2_SCENE = 6101
"""go2_terrain's sub-terrain, command and command stream."""
IN_HAND_SCENE = 7211
"""allegro_hand's and shadow_hand's joints, cube, goal and goal stream."""
PHYSICS_DRAW = 500009
"""Domain randomization's physics draw of a group (``kernels/randomize.py``), keyed by its nominal."""
PUSHES = 250013
"""The pushes of a group (``kernels/randomize.py``); the offset also holds the episode step."""
TERRAIN_LEVEL = 750011
"""The terrain curriculum's row draws (``kernels/curriculum.py``)."""
VISUAL_DRAW = 750019
"""The nominal renderer's visual draws (``kernels/visual.py``)."""
DEPTH_NOISE = 125003
"""The depth noise of a rendered frame (``kernels/visual.py``; the key also holds the episode step)."""


@wp.func
def reset_rng(seed: int, reset_count: int, worldid: int) -> wp.uint32:
    """The generator of world ``worldid`` at its reset number ``reset_count``, for a stream whose
    offset ``seed`` already holds (``seed + stream``)."""
    return wp.rand_init(seed + reset_count * RESET_STRIDE, worldid)
