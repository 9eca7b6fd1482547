"""On-board cameras of the ego-centric tasks, added to a robot's body with ``mujoco.MjSpec``."""

import mujoco
import numpy as np

EGO_CAMERA = "ego"
"""Name of the on-board camera every ego-centric task adds (``Task.camera``)."""


def lookat_quat(pos, lookat, up=(0.0, 0.0, 1.0)) -> np.ndarray:
    """MuJoCo quaternion (w, x, y, z) of a camera at ``pos`` looking at ``lookat`` with ``up`` up.

    A MuJoCo camera looks along its -z axis with +y up: z = -forward, x = forward x up, y = x x forward.
    """
    forward = np.asarray(lookat, dtype=np.float64) - np.asarray(pos, dtype=np.float64)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, dtype=np.float64))
    if np.linalg.norm(right) < 1e-9:
        raise ValueError(f"camera looks along its up vector {tuple(up)}: pick another lookat")
    right /= np.linalg.norm(right)
    rot = np.stack([right, np.cross(right, forward), -forward], axis=1)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, rot.reshape(-1))
    return quat


def add_ego_camera(body: mujoco.MjsBody, pos, lookat, fovy: float, mode: mujoco.mjtCamLight,
                   up=(0.0, 0.0, 1.0)) -> mujoco.MjsCamera:
    """Adds the camera ``EGO_CAMERA`` to ``body`` at ``pos`` looking at ``lookat`` with ``up`` up
    (all in the body frame), vertical field of view ``fovy`` degrees; ``mode`` fixed (rigid on the
    body) or track (follows the body's position, keeps its initial world orientation)."""
    return body.add_camera(name=EGO_CAMERA, mode=mode, pos=list(pos), quat=list(lookat_quat(pos, lookat, up)),
                           fovy=fovy)
