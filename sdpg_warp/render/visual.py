"""Visual randomization per nominal for :class:`~sdpg_warp.render.nominal.NominalRenderer`
(docs/randomization.md, "Pixels").

:class:`VisualRandomizer` holds one draw per render world (= nominal) of the visual quantities of a
:class:`~sdpg_warp.randomization.Randomization`: colours and light intensities and fields of view as
model fields batched over the N render worlds, camera and light pose offsets and the depth noise's
standard deviation as arrays of its own. ``kernels/visual.py`` redraws a nominal's values in place
when its reset count moves, inside the renderer's captured graph: no host work per render.
"""

import dataclasses

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

from sdpg_warp.kernels import visual as kernels
from sdpg_warp.profiling import nvtx_range
from sdpg_warp.randomization import VISUAL_FIELDS, Randomization

_MODEL_FIELDS = {"rgba_scale": ("geom_rgba", "mat_rgba"), "light_diffuse_scale": ("light_diffuse",),
                 "camera_fovy": ("cam_fovy",)}
"""The mujoco_warp model fields a visual quantity writes (batched over the render worlds when drawn)."""


class VisualRandomizer:
    """The visual draws of ``spec`` for ``num_nominal`` render worlds of a simulator whose groups
    hold ``group_size`` worlds; ``camera_ids``: the rendered cameras (the others are not moved)."""

    def __init__(self, spec: Randomization, mjm: mujoco.MjModel, m: mjw.Model, num_nominal: int, group_size: int,
                 camera_ids, seed: int, device):
        ranges = spec.visual_ranges()
        if "camera_fovy" in ranges and min(mjm.cam_fovy[list(camera_ids)]) + ranges["camera_fovy"][0] <= 0.0:
            raise ValueError(f"randomization camera_fovy={ranges['camera_fovy']}: a camera's field of view "
                             f"would reach 0 degrees")
        self.spec = spec
        self.seed = int(seed)
        self.group_size = int(group_size)
        self.device = device
        self.ranges = ranges
        n = num_nominal
        default = np.array([0.5, 0.5, 0.5, 1.0], dtype=np.float32)
        shows_mat = [int(mjm.geom_matid[g] >= 0 and np.array_equal(mjm.geom_rgba[g].astype(np.float32), default))
                     for g in range(mjm.ngeom)]
        cam_drawn = np.zeros(mjm.ncam, dtype=np.int32)
        cam_drawn[list(camera_ids)] = 1
        batched = {f for name in ranges for f in _MODEL_FIELDS.get(name, ())}
        with wp.ScopedDevice(device):
            self._on = wp.array([int(name in ranges) for name in VISUAL_FIELDS], dtype=int)
            self._ranges = wp.array(np.array([ranges.get(name, (0.0, 0.0)) for name in VISUAL_FIELDS],
                                             dtype=np.float32), dtype=wp.vec2)
            self._geom_rgba0 = wp.array(mjm.geom_rgba.astype(np.float32), dtype=wp.vec4)
            self._shows_mat = wp.array(np.array(shows_mat, dtype=np.int32), dtype=int)
            self._mat_rgba0 = wp.array(mjm.mat_rgba.astype(np.float32).reshape(-1, 4), dtype=wp.vec4)
            self._light_diffuse0 = wp.array(mjm.light_diffuse.astype(np.float32).reshape(-1, 3), dtype=wp.vec3)
            self._cam_fovy0 = wp.array(mjm.cam_fovy.astype(np.float32), dtype=float)
            self._cam_drawn = wp.array(cam_drawn, dtype=int)
            self.drawn_count = wp.full(n, -1, dtype=int)
            # The model fields the draws write: [N, ...] rows of the model's values.
            fields = {name: wp.array(np.repeat(getattr(m, name).numpy()[:1], n, axis=0), dtype=getattr(m, name).dtype)
                      for name in sorted(batched)}
            self.light_offset = wp.zeros((n, max(mjm.nlight, 1)), dtype=wp.vec3)
            self.cam_offset = wp.zeros((n, max(mjm.ncam, 1)), dtype=wp.vec3)
            self.cam_rot = wp.array(np.tile(np.eye(3, dtype=np.float32), (n, max(mjm.ncam, 1), 1, 1)), dtype=wp.mat33)
            self.depth_sigma = wp.zeros(n, dtype=float)
            # Outputs of the quantities not drawn (never written).
            self._unused = {"geom_rgba": wp.zeros((1, 1), dtype=wp.vec4), "mat_rgba": wp.zeros((1, 1), dtype=wp.vec4),
                            "light_diffuse": wp.zeros((1, 1), dtype=wp.vec3), "cam_fovy": wp.zeros((1, 1), dtype=float)}
        self.fields = fields
        self.move_cameras = "camera_pos" in ranges or "camera_rot" in ranges
        self.move_lights = "light_pos" in ranges and mjm.nlight > 0
        self.depth_noise = "depth_noise" in ranges
        self.fovy = "camera_fovy" in ranges

    def model(self, m: mjw.Model) -> mjw.Model:
        """``m`` with the drawn visual fields replaced by their batched [N, ...] arrays."""
        return dataclasses.replace(m, **self.fields)

    def draw(self, reset_count: wp.array) -> None:
        """Redraws the render worlds whose nominal's reset count (``reset_count`` [W]) moved since
        their last draw; one launch, nothing to do for the others."""
        out = {**self._unused, **self.fields}
        with nvtx_range("render/randomize"):
            wp.launch(kernels._draw_visual, dim=self.drawn_count.shape[0],
                      inputs=[self.seed, self.group_size, reset_count, self._on, self._ranges, self._geom_rgba0,
                              self._shows_mat, self._mat_rgba0, self._light_diffuse0, self._cam_fovy0,
                              self._cam_drawn],
                      outputs=[self.drawn_count, out["geom_rgba"], out["mat_rgba"], self.light_offset,
                               out["light_diffuse"], self.cam_offset, self.cam_rot, out["cam_fovy"],
                               self.depth_sigma],
                      device=self.device)

    def move(self, d: mjw.Data) -> None:
        """Moves the rendered cameras and the lights of the render Data by their draws (after
        ``mjw.camlight``)."""
        n = self.drawn_count.shape[0]
        if self.move_cameras:
            wp.launch(kernels._move_cameras, dim=(n, d.cam_xpos.shape[1]), inputs=[self.cam_offset, self.cam_rot],
                      outputs=[d.cam_xpos, d.cam_xmat], device=self.device)
        if self.move_lights:
            wp.launch(kernels._move_lights, dim=(n, d.light_xpos.shape[1]), inputs=[self.light_offset],
                      outputs=[d.light_xpos], device=self.device)
