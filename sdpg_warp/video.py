"""``--video-every``: an episode of the current policy, recorded from a simulator of its own, so
that training's worlds, renders and random streams are untouched by it."""

import os
from typing import Optional

import numpy as np
import torch

from sdpg_warp.play import _rollout  # play's rollout loop, frames as play --video draws them
from sdpg_warp.render import NominalRenderer
from sdpg_warp.render.ego import config_image_observation
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task

VIEW_SIZE = 128
"""Height of the third-person view in pixels (the actor's cameras are upscaled to it beside it)."""


class _Frames(list):
    """The frames of a rollout, collected as play's video writer would receive them."""

    append_data = list.append


class EpisodeVideo:
    """One nominal world (with the one auxiliary world the simulator needs), seeded with the run's
    seed + 1 as ``play`` is, its actor observation when the run sees pixels, and a third-person view.
    Built on first use, on the run's device; every :meth:`record` starts from a reset."""

    def __init__(self, cfg, device: str):
        self.sim = BatchedSim(make_task(cfg.task, **cfg.task_settings()), 1, 1, device=device, seed=cfg.seed + 1,
                              graph=cfg.graph)
        self.sim.reset()
        self.renderer = config_image_observation(self.sim, cfg, cfg.graph) if cfg.obs != "state" else None
        self.view = NominalRenderer(self.sim, VIEW_SIZE, VIEW_SIZE, 1, "rgb")
        self.fps = int(round(1.0 / (self.sim.mjm.opt.timestep * self.sim.task.frame_skip)))

    def record(self, actor, steps: int) -> np.ndarray:
        """[T, H, W, 3] uint8 frames of ``actor``'s deterministic policy, tanh(mean), for ``steps``
        (at most one episode) from a fresh episode. ``actor`` is only read (no gradients, no
        normalizer update, no random numbers)."""
        self.sim.reset()
        self.sim.fresh.fill_(True)  # the first render refills the frame stack and the proprio history
        frames = _Frames()
        _rollout(self.sim, self.renderer, self.view, actor, min(steps, self.sim.task.episode_length), None, frames,
                 VIEW_SIZE, None, False)
        return np.stack(frames)


def write_video(path: str, frames: np.ndarray, fps: int) -> None:
    """``frames`` [T, H, W, 3] uint8 as an MP4 at ``path`` (its folder created)."""
    import imageio

    os.makedirs(os.path.dirname(path), exist_ok=True)
    imageio.mimwrite(path, list(frames), fps=fps, macro_block_size=1)


def video_path(run_dir: str, epoch: int) -> str:
    return os.path.join(run_dir, "videos", f"epoch_{epoch:06d}.mp4")


def record_epoch_video(video: Optional[EpisodeVideo], cfg, device: str, actor, run_dir: str, epoch: int, writer):
    """Records ``epoch``'s video into the run folder and hands it to ``writer`` (None: nowhere);
    returns the :class:`EpisodeVideo` (built when ``video`` is None) for the next one."""
    video = video or EpisodeVideo(cfg, device)
    with torch.no_grad():
        frames = video.record(actor, cfg.video_steps)
    write_video(video_path(run_dir, epoch), frames, video.fps)
    if writer is not None:
        writer.add_video("videos/rollout", frames, epoch, video.fps)
    return video
