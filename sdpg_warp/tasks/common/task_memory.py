"""Per-world task memory (previous actions, air times, success counts, the key of a world's goal
draws): its standard place is the positions of geometry-free mocap bodies. Mocap body 0 holds the
task's command, goal or target; flat memory entry k lives in mocap body 1 + k // 3, component
k % 3. Mocap poses are simulator state, so an auxiliary world takes its nominal's memory with its
state, checkpoints keep it and a recorded graph needs nothing more; a task's ``reset_scene`` writes
a reset world's memory and its ``after_step`` advances it once per environment step (its
``before_evaluate`` writes what the step's own observation shows).
"""

import mujoco
import numpy as np
import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


def num_bodies(size: int) -> int:
    """Mocap bodies that hold ``size`` memory entries (3 each)."""
    return (size + 2) // 3


def add_bodies(spec: mujoco.MjSpec, count: int) -> None:
    """Adds the memory bodies ``memory0..`` (mocap ids 1..count: call this right after adding mocap
    body 0)."""
    for k in range(count):
        spec.worldbody.add_body(name=f"memory{k}", mocap=True)


@wp.func
def read(
    worldid: int,
    k: int,
    # In:
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
) -> float:
    """Entry k of the world's memory."""
    return mocap_pos_in[worldid, 1 + k // 3][k % 3]


@wp.func
def write(
    worldid: int,
    k: int,
    value: float,
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
):
    """Entry k of the world's memory = value (the body's other two entries kept)."""
    body = mocap_pos_out[worldid, 1 + k // 3]
    body[k % 3] = value
    mocap_pos_out[worldid, 1 + k // 3] = body


def np_read(mocap_pos: np.ndarray, size: int) -> np.ndarray:
    """[size] a world's memory from its [nmocap, 3] mocap positions (a view)."""
    return mocap_pos[1:1 + num_bodies(size)].reshape(-1)[:size]
