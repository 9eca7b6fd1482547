"""Evaluate a checkpoint: run the deterministic policy (tanh of the mean), report the mean episode
return, and write an MP4 of the actor's camera next to a larger third-person render.

  python -m sdpg_warp.play runs/reacher__rgb__0__20261122-040000 --video reacher.mp4
"""

import argparse
import sys
from typing import Optional, Sequence

import numpy as np


def _upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of an [h, w, 3] image to [size, size, 3]."""
    rows = np.arange(size) * image.shape[0] // size
    cols = np.arange(size) * image.shape[1] // size
    return image[rows][:, cols]


def evaluate(path: str, num_worlds: int = 4, steps: Optional[int] = None, video: Optional[str] = None,
             video_size: int = 256, device: str = "auto") -> dict:
    """Runs ``num_worlds`` nominal worlds for ``steps`` (default: one episode length).

    Returns {"mean_return", "episodes", "steps"}: the mean over finished episodes, or over the
    partial returns of all worlds when none finished.
    """
    import warp as wp

    wp.config.log_level = wp.LOG_WARNING
    from sdpg_warp.checkpoint import load_policy
    from sdpg_warp.device import ExecutionScope, resolve_device
    from sdpg_warp.render import NominalRenderer
    from sdpg_warp.render.ego import config_image_observation
    from sdpg_warp.sim import BatchedSim

    cfg, actor = load_policy(path)
    device = resolve_device(device)
    actor.to(device)
    with ExecutionScope(device):
        # One auxiliary world per nominal (the simulator needs M >= 1); it follows its nominal.
        sim = BatchedSim(cfg.task, num_worlds, 1, device=device, seed=cfg.seed + 1, graph=True)
        sim.reset()
        renderer = None
        if cfg.obs != "state":
            renderer = config_image_observation(sim, cfg, graph=True)
        view = NominalRenderer(sim, video_size, video_size, 1, "rgb") if video else None
        return _rollout(sim, renderer, view, actor, steps, video, video_size)


def _rollout(sim, renderer, view, actor, steps, video, video_size) -> dict:
    """The deterministic policy on every nominal world for ``steps`` steps (see :func:`evaluate`)."""
    import torch

    g = sim.group_size
    steps = steps or sim.task.episode_length
    episode_return = torch.zeros(sim.num_nominal, device=sim.reward.device)
    finished = []
    frames = []
    with torch.no_grad():
        for _ in range(steps):
            obs = sim.states[::g] if renderer is None else renderer.render_step()
            mean, _ = actor(obs)
            sim.step(torch.tanh(mean).repeat_interleave(g, dim=0))
            if view is not None:
                frames.append(_video_frame(renderer, view, video_size))
            done = (sim.terminated | sim.truncated)[::g]
            episode_return += sim.reward[::g]
            finished.extend(episode_return[done].tolist())
            episode_return[done] = 0.0
            sim.reset_done_episodes()
    returns = finished if finished else episode_return.tolist()
    if video:
        import imageio

        imageio.mimwrite(video, frames, fps=int(round(1.0 / (sim.mjm.opt.timestep * sim.task.frame_skip))))
    return {"mean_return": float(np.mean(returns)), "episodes": len(finished), "steps": steps}


def _video_frame(renderer, view, size: int) -> np.ndarray:
    """World 0: the actor's newest frame of each camera (upscaled; grey depth) beside the
    third-person view."""
    import warp as wp

    big = view.render()[0].permute(1, 2, 0).cpu().numpy()
    if renderer is None:
        return big
    cameras = np.split(wp.to_torch(renderer.stack)[0].cpu().numpy(), renderer.num_cameras)
    small = []
    for stack in cameras:
        if renderer.modality == "rgb":
            small.append(stack[-3:].transpose(1, 2, 0))
        else:
            depth = np.clip(stack[-1] / max(float(stack[-1].max()), 1e-6), 0.0, 1.0)
            small.append(np.repeat((255 * (1.0 - depth)).astype(np.uint8)[..., None], 3, axis=2))
    return np.concatenate([_upscale(image, size) for image in small] + [big], axis=1)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint file")
    parser.add_argument("--num-worlds", type=int, default=4, help="evaluation worlds (episodes in parallel)")
    parser.add_argument("--steps", type=int, default=None, help="steps to run (default: one episode length)")
    parser.add_argument("--video", default=None, help="write an MP4 of world 0 here")
    parser.add_argument("--video-size", type=int, default=256, help="height of the third-person view in pixels")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    if args.num_worlds < 1 or (args.steps is not None and args.steps < 1) or args.video_size < 16:
        print("error: --num-worlds and --steps must be >= 1, --video-size >= 16", file=sys.stderr)
        return 2
    try:
        result = evaluate(args.run, args.num_worlds, args.steps, args.video, args.video_size, args.device)
    except (FileNotFoundError, KeyError, ValueError) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"mean_return: {result['mean_return']:.3f} ({result['episodes']} finished episodes, {result['steps']} steps)")
    if args.video:
        print(f"video: {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
