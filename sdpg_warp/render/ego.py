"""The actor's observation in the ego-centric tasks: the camera's frame stack and the proprioception,
packed into one tensor per nominal world so that storage, chunking and checkpoints handle it as
any other observation.

Layout of a row (``pack``/``unpack``): the frame stack's C*H*W values, then the P proprioception
values (the first P entries of the privileged state). RGB stacks are uint8, so there the
proprioception's float32 values are stored as their 4*P bytes; depth stacks are float32, which
holds them as they are.
"""

import math

import torch
import warp as wp

from sdpg_warp.profiling import nvtx_range
from sdpg_warp.render.nominal import NominalRenderer


def packed_size(image_shape, proprio_dim: int, modality: str) -> int:
    """Entries of one packed row: C*H*W + P (depth) or C*H*W + 4*P bytes (rgb)."""
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
    proprioception, packed (module docstring) into one fixed [N, packed_size] buffer.

    Used by the Runner in place of the renderer: ``render_step()`` renders, packs and returns the
    buffer (the same tensor on every call); ``stack`` and ``modality`` are the renderer's.
    """

    def __init__(self, sim, renderer):
        self.sim = sim
        self.renderer = renderer
        self.proprio_dim = sim.task.proprio_dim
        if self.proprio_dim < 1:
            raise ValueError(f"task {sim.task.name} has no proprioception (proprio_dim 0)")
        stack = wp.to_torch(renderer.stack)
        self.image_shape = tuple(stack.shape[1:])
        self._image_size = math.prod(self.image_shape)
        self._obs = torch.zeros(
            (sim.num_nominal, packed_size(self.image_shape, self.proprio_dim, renderer.modality)),
            dtype=stack.dtype, device=stack.device)

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

    def render_step(self) -> torch.Tensor:
        """Renders the nominal worlds (:meth:`NominalRenderer.render_step`) and packs the new stack
        with their current proprioception: [N, packed_size], uint8 (rgb) or float32 (depth)."""
        stack = self.renderer.render_step()
        with nvtx_range("observation/pack"):
            proprio = self.sim.states[:: self.sim.group_size, : self.proprio_dim].contiguous()
            self._obs[:, : self._image_size].copy_(stack.flatten(1))
            if self._obs.dtype == torch.uint8:
                proprio = proprio.view(torch.uint8)
            self._obs[:, self._image_size:].copy_(proprio)
        return self._obs


def image_observation(sim, modality: str, size: int, frames: int, graph: bool):
    """The actor's image observation of ``sim``'s task: a :class:`NominalRenderer` of the task's
    cameras (``task.cameras``), wrapped in :class:`ProprioImageObservation` when the task has
    proprioception. Either way ``render_step()`` returns the actor's input."""
    renderer = NominalRenderer(sim, size, size, frames, modality, camera=sim.task.cameras, graph=graph)
    return ProprioImageObservation(sim, renderer) if sim.task.proprio_dim else renderer
