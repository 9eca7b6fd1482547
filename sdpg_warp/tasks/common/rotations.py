"""Orientations read from qpos: MuJoCo stores a free joint's quaternion as (w, x, y, z), Warp's
``wp.quat`` is (x, y, z, w)."""

import numpy as np
import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.func
def qpos_quat(worldid: int, qadr: int, qpos_in: wp.array2d(dtype=float)) -> wp.quat:
    """Unit Warp quaternion (x, y, z, w) from the MuJoCo quaternion (w, x, y, z) at qpos[qadr:qadr+4]."""
    w = qpos_in[worldid, qadr]
    x = qpos_in[worldid, qadr + 1]
    y = qpos_in[worldid, qadr + 2]
    z = qpos_in[worldid, qadr + 3]
    return wp.normalize(wp.quat(x, y, z, w))


def np_quat_to_mat(quat_wxyz: np.ndarray) -> np.ndarray:
    """Rotation matrix (body to world) of a MuJoCo quaternion (w, x, y, z), normalized first."""
    w, x, y, z = np.asarray(quat_wxyz, dtype=np.float64) / np.linalg.norm(quat_wxyz)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
