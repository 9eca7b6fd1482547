"""The actor's images from C MuJoCo's OpenGL renderer (``mujoco.Renderer``): the task's cameras at
the run's resolution, depth cropped, clipped and resampled as in training, frames stacked.

A camera's frame stack is [3*F, H, W] uint8 (rgb) or [F, H, W] float32 (depth), newest frame last;
several cameras' stacks lie one after another along the channel axis, in the task's camera order.
At an episode's start the whole stack is filled with the first frame (as in training).
"""

from typing import Optional, Sequence

import mujoco
import numpy as np

CUBIC_A = -0.75
"""Keys' cubic convolution parameter (Torch's bicubic ``interpolate``)."""


def _cubic_weights(t: np.ndarray) -> np.ndarray:
    """[n, 4] weights of the taps at -1, 0, 1, 2 around fractions ``t`` [n] in [0, 1]."""
    a = CUBIC_A
    x = np.stack([t + 1.0, t, 1.0 - t, 2.0 - t], axis=1)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return np.where(x <= 1.0, near, far)


def _resample_matrix(size_in: int, size_out: int) -> np.ndarray:
    """[size_out, size_in] bicubic resampling (pixel centres aligned, border taps clamped)."""
    real = (np.arange(size_out) + 0.5) * size_in / size_out - 0.5
    index = np.minimum(np.floor(real).astype(int), size_in - 1)
    weights = _cubic_weights(np.clip(real - index, 0.0, 1.0))
    matrix = np.zeros((size_out, size_in))
    for tap in range(4):
        np.add.at(matrix, (np.arange(size_out), np.clip(index - 1 + tap, 0, size_in - 1)), weights[:, tap])
    return matrix


def format_depth(depth: np.ndarray, crop: Sequence[int], out_hw: Sequence[int],
                 far: Optional[float]) -> np.ndarray:
    """A rendered z-depth frame [h, w] in metres as the actor sees it: ``crop`` (top, bottom, left,
    right) pixels cut off, clipped to [0, far] and mapped to [-0.5, 0.5] when ``far`` is given,
    then resampled to ``out_hw`` (bicubic) when that differs from the cropped size."""
    top, bottom, left, right = tuple(crop) or (0, 0, 0, 0)
    frame = depth[top:depth.shape[0] - bottom, left:depth.shape[1] - right].astype(np.float64)
    if far is not None:
        frame = np.clip(frame, 0.0, far) / far - 0.5
    out_h, out_w = tuple(out_hw) or frame.shape
    if (out_h, out_w) != frame.shape:
        frame = _resample_matrix(frame.shape[0], out_h) @ frame @ _resample_matrix(frame.shape[1], out_w).T
    return frame.astype(np.float32)


class CameraStack:
    """Frame stacks of ``cameras`` rendered by ``mujoco.Renderer`` at ``render_hw`` (height, width).

    modality "rgb" or "depth"; ``frames`` per camera; depth formatted by :func:`format_depth` with
    ``crop``, ``image_hw`` and ``depth_far`` (the run's ``image_crop``, ``image_hw``, ``depth_far``).
    """

    def __init__(self, mjm: mujoco.MjModel, cameras: Sequence[str], modality: str, frames: int,
                 render_hw: Sequence[int], crop: Sequence[int] = (), image_hw: Sequence[int] = (),
                 depth_far: Optional[float] = None):
        for name in cameras:
            if mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_CAMERA, name) < 0:
                raise ValueError(f"the model has no camera named {name!r}")
        self.cameras = tuple(cameras)
        self.modality = modality
        self.frames = frames
        self.crop, self.image_hw, self.depth_far = tuple(crop), tuple(image_hw), depth_far
        height, width = render_hw
        mjm.vis.global_.offwidth = max(mjm.vis.global_.offwidth, width)
        mjm.vis.global_.offheight = max(mjm.vis.global_.offheight, height)
        self.renderer = mujoco.Renderer(mjm, height, width)
        # The training renderer draws no skybox (a ray that hits nothing reads black); nor does this.
        self.renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = False
        if modality == "depth":
            self.renderer.enable_depth_rendering()
        self.stack: Optional[np.ndarray] = None

    def _frame(self, d: mujoco.MjData, camera: str) -> np.ndarray:
        self.renderer.update_scene(d, camera=camera)
        image = self.renderer.render()
        if self.modality == "rgb":
            return image.transpose(2, 0, 1).copy()  # [3, H, W] uint8
        return format_depth(image, self.crop, self.image_hw, self.depth_far)[None]

    def observe(self, d: mujoco.MjData, refill: bool) -> np.ndarray:
        """Renders every camera, pushes the frames (``refill``: fills the stacks with them, an
        episode's first step) and returns the stacks: [K*C*F, H, W]."""
        new = [self._frame(d, camera) for camera in self.cameras]
        if refill or self.stack is None:
            self.stack = np.concatenate([np.concatenate([f] * self.frames) for f in new])
            return self.stack
        blocks = np.split(self.stack, len(self.cameras))
        self.stack = np.concatenate([np.concatenate([b[new_frame.shape[0]:], new_frame])
                                     for b, new_frame in zip(blocks, new)])
        return self.stack

    def close(self) -> None:
        self.renderer.close()
