"""The actor's observation in the ego-centric tasks: the camera's frame stack and the proprioception,
packed into one tensor per nominal world so that storage, chunking and checkpoints handle it as
any other observation.

Layout of a row (``pack``/``unpack``): the frame stack's C*H*W values, then the T*P proprioception
values: the last T (``proprio_history``) steps of the P-value proprioception (the first P entries of
the privileged state), oldest first, the current step last. RGB stacks are uint8, so there the
proprioception's float32 values are stored as their 4*T*P bytes; depth stacks are float32, which
holds them as they are.
"""

import math

import numpy as np
import torch
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.render.nominal import NominalRenderer

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.kernel
def _push_proprio(
    # In:
    states_in: wp.array2d(dtype=float),
    group_size_in: int,
    fresh_in: wp.array(dtype=bool),
    # Out:
    history_out: wp.array3d(dtype=float),
):
    """Appends each nominal's current proprioception (the first P state entries of world
    n*group_size) to its [T, P] history, oldest first: the older steps move one slot towards the
    front; a nominal that starts an episode (``fresh_in`` [W] at its world) gets zeros there
    instead (no steps before its first). One thread owns one value of one nominal across all slots,
    so reading slot t+1 before overwriting it is race-free without a second buffer."""
    nominalid, valueid = wp.tid()
    last = history_out.shape[1] - 1
    fresh = fresh_in[nominalid * group_size_in]
    for slot in range(last):
        if fresh:
            history_out[nominalid, slot, valueid] = 0.0
        else:
            history_out[nominalid, slot, valueid] = history_out[nominalid, slot + 1, valueid]
    history_out[nominalid, last, valueid] = states_in[nominalid * group_size_in, valueid]


def np_push_proprio(history: np.ndarray, states: np.ndarray, group_size: int, fresh: np.ndarray) -> np.ndarray:
    """NumPy twin of :func:`_push_proprio`: the new [N, T, P] history from the old one, the states
    [W, >= P] and the fresh mask [W] (its nominal entries read)."""
    out = np.concatenate([history[:, 1:], states[::group_size, None, : history.shape[2]]], axis=1)
    out[fresh[::group_size], :-1] = 0.0
    return out


def packed_size(image_shape, proprio_dim: int, modality: str) -> int:
    """Entries of one packed row of ``proprio_dim`` proprioception values (T*P for a history of T
    steps): C*H*W + P (depth) or C*H*W + 4*P bytes (rgb)."""
    return math.prod(image_shape) + proprio_dim * (4 if modality == "rgb" else 1)


def unpack(obs: torch.Tensor, image_shape, proprio_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed rows [B, packed_size] -> (images [B, *image_shape] of obs's dtype, proprio [B, P] float32)."""
    n = math.prod(image_shape)
    images = obs[:, :n].reshape(obs.shape[0], *image_shape)
    proprio = obs[:, n:].contiguous()
    if obs.dtype == torch.uint8:
        proprio = proprio.view(torch.float32)
    return images, proprio


class ProprioImageObservation:
    """Frame stack of a :class:`~sdpg_warp.render.NominalRenderer` plus the nominal worlds'
    proprioception history, packed (module docstring) into one fixed [N, packed_size] buffer.

    Used by the Runner in place of the renderer: ``render_step()`` renders, appends the current
    proprioception to ``history`` (:func:`_push_proprio`, zeros before a new episode's first step),
    packs and returns the buffer (the same tensor on every call); ``stack`` and ``modality`` are the
    renderer's. ``history`` [N, proprio_history, P] float32 is rollout state: checkpoints keep it.
    """

    def __init__(self, sim, renderer, proprio_history: int = 1):
        self.sim = sim
        self.renderer = renderer
        self.proprio_dim = sim.task.proprio_dim
        if self.proprio_dim < 1:
            raise ValueError(f"task {sim.task.name} has no proprioception (proprio_dim 0)")
        if isinstance(proprio_history, bool) or not isinstance(proprio_history, int) or proprio_history < 1:
            raise ValueError(f"proprio_history must be an integer >= 1, got {proprio_history!r}")
        self.proprio_history = proprio_history
        stack = wp.to_torch(renderer.stack)
        self.image_shape = tuple(stack.shape[1:])
        self._image_size = math.prod(self.image_shape)
        self._obs = torch.zeros(
            (sim.num_nominal, packed_size(self.image_shape, self.proprio_dim * proprio_history, renderer.modality)),
            dtype=stack.dtype, device=stack.device)
        device = renderer.device
        self._history = wp.zeros((sim.num_nominal, proprio_history, self.proprio_dim), dtype=float, device=device)
        self.history = wp.to_torch(self._history, requires_grad=False)
        self._states = wp.from_torch(sim.states)
        # All zeros: the first render_step appends the simulator's start, every nominal's first step.
        self._fresh = wp.from_torch(sim.fresh, dtype=wp.bool)

    @property
    def stack(self):
        """The renderer's frame stack (a Warp array)."""
        return self.renderer.stack

    @property
    def modality(self) -> str:
        return self.renderer.modality

    @property
    def num_cameras(self) -> int:
        return self.renderer.num_cameras

    def _push(self) -> None:
        wp.launch(
            _push_proprio,
            dim=(self.sim.num_nominal, self.proprio_dim),
            inputs=[self._states, self.sim.group_size, self._fresh],
            outputs=[self._history],
            device=self.renderer.device,
        )

    def render_step(self) -> torch.Tensor:
        """Renders the nominal worlds (:meth:`NominalRenderer.render_step`), appends their current
        proprioception to the history (restarted where ``sim.fresh`` marks a new episode) and packs
        both: [N, packed_size], uint8 (rgb) or float32 (depth)."""
        stack = self.renderer.render_step()
        with nvtx_range("observation/pack"):
            self._push()
            proprio = self.history.flatten(1)
            self._obs[:, : self._image_size].copy_(stack.flatten(1))
            if self._obs.dtype == torch.uint8:
                proprio = proprio.view(torch.uint8)
            self._obs[:, self._image_size:].copy_(proprio)
        return self._obs


def image_observation(sim, modality: str, size: int, frames: int, graph: bool, render_hw=(), image_crop=(),
                      image_hw=(), depth_far=None, proprio_history: int = 1):
    """The actor's image observation of ``sim``'s task: a :class:`NominalRenderer` of the task's
    cameras (``task.cameras``) rendering ``render_hw`` (height, width), or ``size`` square, formatted
    by ``image_crop``, ``image_hw`` and ``depth_far`` (see :class:`NominalRenderer`), wrapped in
    :class:`ProprioImageObservation` with ``proprio_history`` steps when the task has
    proprioception. Either way ``render_step()`` returns the actor's input."""
    height, width = tuple(render_hw) or (size, size)
    renderer = NominalRenderer(sim, width, height, frames, modality, camera=sim.task.cameras, graph=graph,
                               image_crop=image_crop, image_hw=image_hw, depth_far=depth_far,
                               visual=sim.randomization_spec)
    return ProprioImageObservation(sim, renderer, proprio_history) if sim.task.proprio_dim else renderer


def config_image_observation(sim, cfg, graph: bool):
    """:func:`image_observation` of a ``TrainConfig``'s observation settings."""
    return image_observation(sim, cfg.obs, cfg.image_size, cfg.frames, graph, cfg.render_hw, cfg.image_crop,
                             cfg.image_hw, cfg.depth_far, cfg.proprio_history)
