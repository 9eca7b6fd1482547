"""The modules ``sdpg_warp.export`` writes to ONNX: a trained actor's deterministic action (kept apart
from the command, so that its argument checks answer before Torch is imported)."""

import torch
from torch import nn


class DeterministicPolicy(nn.Module):
    """obs -> tanh(mean): the action a trained actor takes at evaluation time."""

    def __init__(self, actor: nn.Module):
        super().__init__()
        self.actor = actor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean, _ = self.actor(obs)
        return torch.tanh(mean)


class EgoPolicy(nn.Module):
    """(images, proprio) -> tanh(mean) for an ego-centric actor, its packed row taken apart (an RGB
    row carries the proprioception's float32 bytes in uint8, a bit cast ONNX does not have);
    proprio [B, P], or [B, T, P] for a history of T steps."""

    def __init__(self, actor: nn.Module):
        super().__init__()
        self.actor = actor

    def forward(self, images: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:
        mean, _ = self.actor.from_features(self.actor.encoder.encode(images, proprio))
        return torch.tanh(mean)
