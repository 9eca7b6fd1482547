"""Renders the N nominal worlds of a :class:`~sdpg_warp.sim.BatchedSim` into a zero-copy frame stack.

The simulator holds W = N*(M+1) interleaved worlds (world n*(M+1) is nominal n); only the nominal
worlds are seen by the actor, so rendering all W would waste M/(M+1) of the work. The mujoco_warp
BVH renderer renders every world of the Data it is given, so this module keeps its own N-world
``mjw.Data``: each render gathers the nominal state into it, runs the kinematics the renderer reads
(body/geom poses, cameras and lights), refits the scene BVH, ray-casts the task's camera (``track`` by
default) and writes the new frame into a fixed frame-stack buffer that Torch sees through ``wp.to_torch``.

Several cameras (multi-camera tasks) render in the same pass; their stacks lie one after another
along the channel axis, camera k's F frames in channels [k*C*F, (k+1)*C*F) (C = 3 for rgb, 1 for
depth), so storage, chunking and checkpoints see one image tensor and the actor's encoder splits it
per camera (``sdpg_warp.networks.ImageEncoder``).
"""

import dataclasses
from typing import Optional, Sequence, Union

import mujoco
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp

from sdpg_warp.kernels.visual import _depth_noise
from sdpg_warp.profiling import nvtx_range
from sdpg_warp.randomization import Randomization
from sdpg_warp.render.visual import VisualRandomizer

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

MODALITIES = ("rgb", "depth")

# Camera/light modes whose pose follows a subtree centre of mass, which kinematics alone leaves unset.
_COM_MODES = (int(mujoco.mjtCamLight.mjCAMLIGHT_TRACKCOM), int(mujoco.mjtCamLight.mjCAMLIGHT_TARGETBODYCOM))


@wp.kernel
def _gather_nominal_rows(
    # In:
    group_size_in: int,
    rows_in: wp.array2d(dtype=float),
    # Out:
    rows_out: wp.array2d(dtype=float),
):
    """Row n of the output takes the nominal world's row n * group_size_in (qpos, or a model field
    batched per world seen as floats)."""
    nominalid, column = wp.tid()
    rows_out[nominalid, column] = rows_in[nominalid * group_size_in, column]


@wp.kernel
def _gather_nominal_mocap(
    # In:
    group_size_in: int,
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    mocap_quat_in: wp.array2d(dtype=wp.quat),
    # Out:
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
    mocap_quat_out: wp.array2d(dtype=wp.quat),
):
    nominalid, mocapid = wp.tid()
    worldid = nominalid * group_size_in
    mocap_pos_out[nominalid, mocapid] = mocap_pos_in[worldid, mocapid]
    mocap_quat_out[nominalid, mocapid] = mocap_quat_in[worldid, mocapid]


@wp.kernel
def _push_rgb_frame(
    # In:
    rgb_in: wp.array2d(dtype=wp.uint32),
    cameras_in: int,
    shift_in: bool,
    refill_in: wp.array(dtype=bool),
    refill_stride_in: int,
    # Out:
    stack_out: wp.array4d(dtype=wp.uint8),
):
    """Writes one packed 0xAARRGGBB frame per camera into the [N, K*3*F, H, W] stack, newest frame
    last within each camera's 3*F channels.

    A refilled nominal gets the frame in all F slots; otherwise, with ``shift_in``, every slot takes
    the next one and the last takes the frame. One thread owns one pixel of one camera of one
    nominal across all slots, so reading slot f+1 before overwriting it is race-free without a
    second buffer.
    """
    nominalid, camid, y, x = wp.tid()
    height = stack_out.shape[2]
    width = stack_out.shape[3]
    packed = rgb_in[nominalid, (camid * height + y) * width + x]
    red = wp.uint8((packed >> wp.uint32(16)) & wp.uint32(0xFF))
    green = wp.uint8((packed >> wp.uint32(8)) & wp.uint32(0xFF))
    blue = wp.uint8(packed & wp.uint32(0xFF))
    per_camera = stack_out.shape[1] // cameras_in
    first = camid * per_camera
    last = first + per_camera - 3
    if refill_in[nominalid * refill_stride_in]:
        for channel in range(first, last + 3, 3):
            stack_out[nominalid, channel + 0, y, x] = red
            stack_out[nominalid, channel + 1, y, x] = green
            stack_out[nominalid, channel + 2, y, x] = blue
    elif shift_in:
        for channel in range(first, last):
            stack_out[nominalid, channel, y, x] = stack_out[nominalid, channel + 3, y, x]
        stack_out[nominalid, last + 0, y, x] = red
        stack_out[nominalid, last + 1, y, x] = green
        stack_out[nominalid, last + 2, y, x] = blue


CUBIC_A = wp.constant(-0.75)
"""The cubic convolution kernel's parameter in bicubic resampling (Keys; Torch's and OpenCV's)."""


@wp.func
def _cubic_weights(t: float) -> wp.vec4:
    """Weights of the taps at offsets -1, 0, 1, 2 around a source coordinate with fraction t in [0, 1]
    (Keys' cubic convolution: (A+2)|x|^3 - (A+3)|x|^2 + 1 within one pixel, A|x|^3 - 5A|x|^2 + 8A|x| - 4A
    within two). At t = 0 they are exactly (0, 1, 0, 0): resampling to the same size copies."""
    a = CUBIC_A
    near0 = t
    near1 = 1.0 - t
    far0 = t + 1.0
    far1 = 2.0 - t
    return wp.vec4(
        ((a * far0 - 5.0 * a) * far0 + 8.0 * a) * far0 - 4.0 * a,
        ((a + 2.0) * near0 - (a + 3.0)) * near0 * near0 + 1.0,
        ((a + 2.0) * near1 - (a + 3.0)) * near1 * near1 + 1.0,
        ((a * far1 - 5.0 * a) * far1 + 8.0 * a) * far1 - 4.0 * a,
    )


@wp.func
def _source_index(dst: int, scale: float, size: int) -> wp.vec2:
    """(first tap's index before the clamp, fraction) of output pixel ``dst`` in a source of ``size``
    pixels, ``scale`` = source / output size: pixel centres aligned, as Torch's bicubic
    ``interpolate`` with align_corners False."""
    real = (float(dst) + 0.5) * scale - 0.5
    index = wp.min(int(wp.floor(real)), size - 1)
    return wp.vec2(float(index), wp.clamp(real - float(index), 0.0, 1.0))


@wp.func
def _depth_value(depth: float, zfar: float, far: float, noise: float) -> float:
    """One ray's depth as the actor sees it: a miss (0) reads the far plane, ``noise`` (m) is added;
    with ``far`` > 0 the depth is then clipped to [0, far] and mapped to [-0.5, 0.5] (a miss reads
    +0.5 without noise)."""
    if far > 0.0:
        if depth <= 0.0:
            depth = far
        return wp.clamp(depth + noise, 0.0, far) / far - 0.5
    if depth <= 0.0:
        depth = zfar
    return depth + noise


@wp.kernel
def _push_depth_frame(
    # In:
    depth_in: wp.array2d(dtype=float),
    cameras_in: int,
    zfar_in: float,
    far_in: float,
    render_height_in: int,
    render_width_in: int,
    crop_in: wp.vec4i,
    resample_in: bool,
    shift_in: bool,
    refill_in: wp.array(dtype=bool),
    refill_stride_in: int,
    noise_in: bool,
    seed_in: int,
    group_size_in: int,
    reset_count_in: wp.array(dtype=int),
    episode_step_in: wp.array(dtype=int),
    depth_sigma_in: wp.array(dtype=float),
    # Out:
    stack_out: wp.array4d(dtype=float),
):
    """Writes one z-depth frame per camera into the [N, K*F, h, w] stack, newest last within each
    camera's F channels (as ``_push_rgb_frame``).

    The rendered frame (render_height x render_width) loses ``crop_in`` = (top, bottom, left, right)
    pixels; with ``resample_in`` the rest is resampled to h x w (bicubic, 4 x 4 taps clamped at the
    border, as Torch's ``interpolate``), else it is h x w already and copied. Each tap is clipped and
    mapped (``_depth_value``) before the weighting, as the authors clip before resizing.
    mujoco_warp writes 0 where a ray hits nothing (or only beyond the far plane); OpenGL, and so
    ``mujoco.Renderer``, reads the far plane there, which is also what a network should see.
    With ``noise_in``, every rendered pixel's depth gets N(0, depth_sigma_in[n]^2) added before
    the clipping (``_depth_noise``: keyed by the nominal's reset count and episode step, so a
    frame's noise is the same for every output pixel that reads that rendered pixel).
    """
    nominalid, camid, y, x = wp.tid()
    height = stack_out.shape[2]
    width = stack_out.shape[3]
    top = crop_in[0]
    left = crop_in[2]
    crop_height = render_height_in - top - crop_in[1]
    crop_width = render_width_in - left - crop_in[3]
    base = camid * render_height_in * render_width_in
    first_pixel = nominalid * cameras_in * render_height_in * render_width_in
    world = nominalid * group_size_in
    sigma = float(0.0)
    if noise_in:
        sigma = depth_sigma_in[nominalid]
    depth = float(0.0)
    if resample_in:
        row = _source_index(y, float(crop_height) / float(height), crop_height)
        col = _source_index(x, float(crop_width) / float(width), crop_width)
        row_weights = _cubic_weights(row[1])
        col_weights = _cubic_weights(col[1])
        for i in range(4):
            source_y = top + wp.clamp(int(row[0]) - 1 + i, 0, crop_height - 1)
            line = float(0.0)
            for j in range(4):
                source_x = left + wp.clamp(int(col[0]) - 1 + j, 0, crop_width - 1)
                pixel = base + source_y * render_width_in + source_x
                noise = float(0.0)
                if noise_in:
                    noise = sigma * _depth_noise(seed_in, reset_count_in[world], episode_step_in[world],
                                                 first_pixel + pixel)
                line += col_weights[j] * _depth_value(depth_in[nominalid, pixel], zfar_in, far_in, noise)
            depth += row_weights[i] * line
    else:
        pixel = base + (top + y) * render_width_in + left + x
        noise = float(0.0)
        if noise_in:
            noise = sigma * _depth_noise(seed_in, reset_count_in[world], episode_step_in[world],
                                         first_pixel + pixel)
        depth = _depth_value(depth_in[nominalid, pixel], zfar_in, far_in, noise)
    per_camera = stack_out.shape[1] // cameras_in
    first = camid * per_camera
    last = first + per_camera - 1
    if refill_in[nominalid * refill_stride_in]:
        for frame in range(first, last + 1):
            stack_out[nominalid, frame, y, x] = depth
    elif shift_in:
        for frame in range(first, last):
            stack_out[nominalid, frame, y, x] = stack_out[nominalid, frame + 1, y, x]
        stack_out[nominalid, last, y, x] = depth


def _float_rows(array: wp.array) -> wp.array:
    """A [rows, floats per row] float32 view of a float-based Warp array (no copy)."""
    floats = array.size * wp.types.type_size_in_bytes(array.dtype) // 4
    return wp.array(ptr=array.ptr, dtype=wp.float32, shape=(array.shape[0], floats // array.shape[0]),
                    device=array.device, copy=False)


class NominalRenderer:
    """Ray-cast frames of the nominal worlds of a batched simulator, stacked for the actor.

    Reads from ``sim``: ``mjm`` (mujoco.MjModel), ``m`` (mjw.Model), ``d`` (mjw.Data with
    ``num_worlds`` = N*(M+1) worlds, world n*(M+1) nominal n), ``num_nominal`` (N), ``num_aux`` (M),
    ``num_worlds``, ``device``; with ``visual`` also ``seed``, ``reset_counts`` and ``episode_steps``
    ([W] Warp arrays). Every launch runs on ``sim.device``, on Warp's current stream there
    (make it Torch's stream, ``wp.stream_from_torch``, so the actor's reads follow the writes).
    The stack starts filled with the frame of the simulator's state at construction.
    The render Model is the simulator's with, where they matter to the image, N-row fields: the
    visual draws (``visual``) and, for cameras or lights that follow a centre of mass, the rows of
    nominal n = world n*(M+1) of the physics fields the simulator batches per world (domain
    randomization), gathered at every render.
    """

    def __init__(
        self,
        sim,
        width: int = 84,
        height: int = 84,
        frames: int = 3,
        modality: str = "rgb",
        camera: Union[str, Sequence[str]] = "track",
        shadows: bool = False,
        graph: bool = False,
        image_crop: Sequence[int] = (),
        image_hw: Sequence[int] = (),
        depth_far: Optional[float] = None,
        visual: Optional[Randomization] = None,
    ):
        """Builds the N-world render Data, the render context (BVHs, rays) and the frame stack.

        Args:
          sim: the batched simulator (attributes above).
          width, height: rendered image size in pixels (the stack's too, unless cropped or resampled).
          frames: frames per stack (F).
          modality: "rgb" (uint8 colour) or "depth" (float32 z-depth in metres).
          camera: name of the model camera to render, or the names of several (their stacks one
            after another along the channel axis, in this order).
          shadows: cast shadow rays towards each light (costs one more ray per light and pixel).
          graph: record :meth:`render_step` once as a Warp graph (a CUDA graph on GPU) and replay
            it on every call; the same frames as eager launches.
          image_crop: depth: (top, bottom, left, right) pixels cut off each rendered frame; () none.
          image_hw: depth: (height, width) the cropped frame is resampled to (bicubic, as Torch's
            ``interpolate``); () the cropped size.
          depth_far: depth: None stacks z-depth in metres (misses read ``zfar``); a distance in
            metres: depth clipped to [0, depth_far] and mapped to [-0.5, 0.5] (misses read 0.5).
          visual: domain randomization whose visual ranges (``Randomization.visual_ranges``) the
            images take, one draw per nominal episode keyed by (``sim.seed``, nominal, its reset
            count); None or no visual range: none (docs/randomization.md, "Pixels").
        """
        for name, value in (("width", width), ("height", height), ("frames", frames)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
        crop = tuple(int(c) for c in image_crop) or (0, 0, 0, 0)
        if modality != "depth" and (image_crop or image_hw or depth_far is not None):
            raise ValueError("image_crop, image_hw and depth_far format depth images only")
        if len(crop) != 4 or min(crop) < 0 or crop[0] + crop[1] >= height or crop[2] + crop[3] >= width:
            raise ValueError(f"image_crop must be 4 counts >= 0 that leave part of the {height} x {width} "
                             f"image, got {tuple(image_crop)}")
        cropped = (height - crop[0] - crop[1], width - crop[2] - crop[3])
        out = tuple(int(v) for v in image_hw) or cropped
        if len(out) != 2 or min(out) < 1:
            raise ValueError(f"image_hw must be a height and a width >= 1, got {tuple(image_hw)}")
        if depth_far is not None and not (np.isfinite(depth_far) and depth_far > 0.0):
            raise ValueError(f"depth_far must be finite and > 0, got {depth_far}")
        mjm = sim.mjm
        names = (camera,) if isinstance(camera, str) else tuple(camera)
        if not names:
            raise ValueError("camera must name at least one model camera")
        camera_ids = [mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_CAMERA, name) for name in names]
        for name, camera_id in zip(names, camera_ids):
            if camera_id < 0:
                raise ValueError(f"the model has no camera named {name!r}")
        if len(set(camera_ids)) != len(camera_ids):
            raise ValueError(f"cameras {names} name one camera twice")
        if sim.num_worlds != sim.num_nominal * (sim.num_aux + 1):
            raise ValueError(f"sim.num_worlds {sim.num_worlds} != num_nominal * (num_aux + 1)")

        wp.init()
        self.sim = sim
        self.width = int(width)
        self.height = int(height)
        self.frames = int(frames)
        self.modality = modality
        self.image_crop = crop
        self.image_height, self.image_width = out
        self.depth_far = None if depth_far is None else float(depth_far)
        self._resample = out != cropped
        self.camera_ids = tuple(camera_ids)
        self.num_cameras = len(camera_ids)
        self.num_nominal = sim.num_nominal
        self.device = wp.get_device(sim.device)
        self._group_size = sim.num_aux + 1
        self._refill_torch = None
        self._needs_subtree_com = any(int(mjm.cam_mode[i]) in _COM_MODES for i in camera_ids) or any(
            int(mode) in _COM_MODES for mode in mjm.light_mode
        )

        rgb = modality == "rgb"
        n = self.num_nominal
        self._visual = (VisualRandomizer(visual, mjm, sim.m, n, self._group_size, camera_ids, sim.seed, self.device)
                        if visual is not None and visual.visual_ranges() else None)
        self._noise = self._visual is not None and self._visual.depth_noise and not rgb
        self._model, self._gathered = self._render_model()
        with wp.ScopedDevice(self.device):
            # Rendering needs poses only: no contacts or constraint rows.
            self._data = mjw.make_data(mjm, nworld=n, nconmax=1, njmax=1)
            self._context = mjw.create_render_context(
                mjm,
                nworld=n,
                cam_res=(self.width, self.height),
                render_rgb=rgb,
                render_depth=not rgb,
                render_seg=False,
                use_shadows=shadows,
                cam_active=list(camera_ids),
                # A drawn field of view needs the rays computed from it at every render.
                use_precomputed_rays=not (self._visual is not None and self._visual.fovy),
            )
            channels = self.num_cameras * (3 * self.frames if rgb else self.frames)
            dtype = wp.uint8 if rgb else wp.float32
            self._stack = wp.zeros((n, channels, self.image_height, self.image_width), dtype=dtype)
            self._no_refill = wp.zeros(n, dtype=bool)
            self._no_counts = wp.zeros(1, dtype=int)
            self._no_sigma = wp.zeros(1, dtype=float)
        self._stack_torch = wp.to_torch(self._stack, requires_grad=False)
        self.reset(torch.ones(n, dtype=torch.bool))
        self._graph = self._capture() if graph else None

    def _render_model(self) -> tuple:
        """The Model the render reads, and the (simulator field, render field) float views to
        gather at each render: the simulator's Model, with the visual draws' [N, ...] fields and,
        when a camera or light follows a centre of mass, [N, ...] copies of its per-world fields."""
        m = self.sim.m
        fields, gathered = {}, []
        if self._needs_subtree_com and self.sim.num_worlds > 1:
            for name in ("body_mass", "body_ipos", "body_subtreemass"):
                array = getattr(m, name)
                if array.shape[0] == self.sim.num_worlds:
                    rows = wp.zeros((self.num_nominal, *array.shape[1:]), dtype=array.dtype, device=self.device)
                    fields[name] = rows
                    gathered.append((_float_rows(array), _float_rows(rows)))
        if self._visual is not None:
            fields.update(self._visual.fields)
        return (dataclasses.replace(m, **fields) if fields else m), gathered

    @property
    def stack(self) -> wp.array:
        """The frame stack Warp writes: [N, K*3*F, H, W] uint8 (rgb) or [N, K*F, H, W] float32 (depth)
        for K cameras, camera k's frames in the k-th block of channels; H, W = ``image_height``,
        ``image_width`` (the rendered size unless a depth frame is cropped or resampled)."""
        return self._stack

    @property
    def zfar(self) -> float:
        """Far clipping distance in metres (model ``vis.map.zfar * stat.extent``); depth of a miss."""
        return float(self._context.zfar)

    def render(self, reset_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Renders the nominal worlds and pushes the frame onto the stack, newest frame last.

        Args:
          reset_mask: optional bool [N] or [W] (nominal entries used): those nominals' whole stack
            is refilled with the new frame instead (``render`` then ``reset`` in one render).

        Returns:
          The stack as a Torch view (no copy), the same tensor on every call:
          [N, K*3*F, H, W] uint8 for rgb, [N, K*F, H, W] float32 z-depth in metres for depth (in
          [-0.5, 0.5] with ``depth_far``).
        """
        with nvtx_range("render"):
            refill, stride = self._refill_array(reset_mask)
            self._render_frame()
            self._write_stack(shift=True, refill=refill, refill_stride=stride)
        return self._stack_torch

    def render_step(self) -> torch.Tensor:
        """:meth:`render` with the simulator's freshly reset nominals (``sim.fresh``) refilled: the
        per-step render of a rollout. Replays the recorded graph when built with ``graph=True``.

        Returns the stack as a Torch view (no copy), as :meth:`render`.
        """
        if self._graph is None:
            return self.render(reset_mask=self.sim.fresh)
        with nvtx_range("render"), wp.ScopedDevice(self.device):
            wp.capture_launch(self._graph)
        return self._stack_torch

    def _capture(self):
        """Records one :meth:`render_step` on Warp's current stream of the device (never Torch's
        legacy default stream, which CUDA cannot capture); every buffer it touches has a fixed
        address. The stack is restored in case recording also ran the work."""
        saved = self._stack_torch.clone()
        with wp.ScopedDevice(self.device):
            with wp.ScopedCapture(device=self.device) as capture:
                self.render(reset_mask=self.sim.fresh)
        self._stack_torch.copy_(saved)
        return capture.graph

    def reset(self, mask: torch.Tensor) -> torch.Tensor:
        """Renders the nominal worlds and refills the masked nominals' whole stack with the frame.

        Args:
          mask: bool [N], or [W] with the nominal entries (every (M+1)-th from 0) used.

        Returns:
          The stack as a Torch view, as :meth:`render`; unmasked nominals are unchanged.
        """
        with nvtx_range("render_reset"):
            refill, stride = self._refill_array(mask)
            self._render_frame()
            self._write_stack(shift=False, refill=refill, refill_stride=stride)
        return self._stack_torch

    def _refill_array(self, mask: torch.Tensor | None) -> tuple[wp.array, int]:
        """A Warp view of a refill mask and the stride between its nominal entries."""
        if mask is None:
            return self._no_refill, 1
        sizes = {self.num_nominal: 1, self.sim.num_worlds: self._group_size}
        if mask.dim() != 1 or mask.shape[0] not in sizes:
            raise ValueError(f"mask must have shape [{self.num_nominal}] or [{self.sim.num_worlds}], got {mask.shape}")
        torch_device = wp.device_to_torch(self.device)
        mask = mask.to(device=torch_device, dtype=torch.bool).contiguous()
        # Kept alive until the launch is queued; the Torch allocator reuses memory stream-ordered.
        self._refill_torch = mask
        return wp.from_torch(mask, dtype=wp.bool), sizes[mask.shape[0]]

    def _render_frame(self) -> None:
        """Gathers the nominal state into the render Data and ray-casts one frame per nominal and camera."""
        sim, data, context, m = self.sim, self._data, self._context, self._model
        n = self.num_nominal
        if self._visual is not None:
            self._visual.draw(sim.reset_counts)
        with nvtx_range("render/gather"):
            for rows_in, rows_out in self._gathered:
                wp.launch(_gather_nominal_rows, dim=rows_out.shape, inputs=[self._group_size, rows_in],
                          outputs=[rows_out], device=self.device)
            wp.launch(
                _gather_nominal_rows,
                dim=(n, sim.mjm.nq),
                inputs=[self._group_size, sim.d.qpos],
                outputs=[data.qpos],
                device=self.device,
            )
            if sim.mjm.nmocap:
                wp.launch(
                    _gather_nominal_mocap,
                    dim=(n, sim.mjm.nmocap),
                    inputs=[self._group_size, sim.d.mocap_pos, sim.d.mocap_quat],
                    outputs=[data.mocap_pos, data.mocap_quat],
                    device=self.device,
                )
        # mujoco_warp launches on the current device, so scope it to the simulator's.
        with wp.ScopedDevice(self.device):
            with nvtx_range("render/kinematics"):
                mjw.kinematics(m, data)
                if self._needs_subtree_com:
                    mjw.com_pos(m, data)
                mjw.camlight(m, data)
                if self._visual is not None:
                    self._visual.move(data)
            with nvtx_range("render/refit_bvh"):
                mjw.refit_bvh(m, data, context)
            with nvtx_range("render/raycast"):
                mjw.render(m, data, context)

    def _write_stack(self, shift: bool, refill: wp.array, refill_stride: int) -> None:
        """Pushes (``shift``) or refills (``refill``) the stack with the frame just rendered."""
        with nvtx_range("render/stack"):
            dim = (self.num_nominal, self.num_cameras, self.image_height, self.image_width)
            if self.modality == "rgb":
                wp.launch(
                    _push_rgb_frame,
                    dim=dim,
                    inputs=[self._context.rgb_data, self.num_cameras, shift, refill, refill_stride],
                    outputs=[self._stack],
                    device=self.device,
                )
            else:
                wp.launch(
                    _push_depth_frame,
                    dim=dim,
                    inputs=[self._context.depth_data, self.num_cameras, self.zfar, self.depth_far or 0.0, self.height,
                            self.width, wp.vec4i(*self.image_crop), self._resample, shift, refill, refill_stride,
                            self._noise, self.sim.seed if self._noise else 0, self._group_size,
                            self.sim.reset_counts if self._noise else self._no_counts,
                            self.sim.episode_steps if self._noise else self._no_counts,
                            self._visual.depth_sigma if self._noise else self._no_sigma],
                    outputs=[self._stack],
                    device=self.device,
                )
