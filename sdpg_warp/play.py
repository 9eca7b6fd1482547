"""Evaluate a checkpoint: run its policy (deterministic, tanh of the mean, or ``--stochastic``),
report the mean episode return, and write a video of the actor's camera next to a larger
third-person render, frame by frame as the rollout goes.

  python -m sdpg_warp.play runs/reacher__rgb__0__20261122-040000 --video reacher.mp4
  python -m sdpg_warp.play runs/reacher__rgb__0__20261122-040000 --episodes 20 --stochastic --seed 3
"""

import argparse
import os
import sys
from typing import Optional, Sequence

from sdpg_warp.run_files import add_checkpoint_choice, checkpoint_file

import numpy as np

VIDEO_FORMATS = (".mp4", ".mkv", ".mov", ".avi", ".gif")
"""Video files play writes: the FFmpeg containers of imageio-ffmpeg, and GIF (Pillow)."""
PROGRESS_LINES = 10
"""Progress lines printed over a rollout of known length."""


class PlayError(ValueError):
    """Invalid input to play, reported as one line (exit status 2)."""


def check_video_path(video: str) -> None:
    """Raises PlayError unless ``video`` is a writable file path with a known video extension:
    checked before the build and the rollout, which take minutes."""
    extension = os.path.splitext(video)[1].lower()
    if extension not in VIDEO_FORMATS:
        raise PlayError(f"--video {video}: unknown video extension {extension or '(none)'!r}; use one of "
                        f"{', '.join(VIDEO_FORMATS)}")
    from sdpg_warp.export import check_out_path

    try:
        check_out_path(video, "--video", "play.mp4")
    except ValueError as e:
        raise PlayError(str(e)) from None


def _upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of an [h, w, 3] image to [size, size, 3]."""
    rows = np.arange(size) * image.shape[0] // size
    cols = np.arange(size) * image.shape[1] // size
    return image[rows][:, cols]


def evaluate(path: str, num_worlds: int = 4, steps: Optional[int] = None, video: Optional[str] = None,
             video_size: int = 256, device: str = "auto", episodes: Optional[int] = None, seed: Optional[int] = None,
             stochastic: bool = False, progress: bool = False, randomize: bool = False,
             randomize_set: Sequence[str] = ()) -> dict:
    """Runs ``num_worlds`` nominal worlds for ``steps`` (default: one episode length), or until
    ``episodes`` episodes have finished; ``seed`` (default: the run's seed + 1) keys the worlds'
    resets and, with ``stochastic``, the policy's noise. The physics is the nominal model's unless
    ``randomize``: then every world draws its own physics (and images) per episode from the task's
    ranges with the run's ``randomize_set`` and then ``randomize_set`` over them
    (docs/randomization.md), so that a return under randomization can be set against the nominal one.

    Returns {"mean_return", "episodes", "steps"}: the mean over finished episodes (the first
    ``episodes`` of them when given), or over the partial returns of all worlds when none finished.
    """
    import torch
    import warp as wp

    wp.config.log_level = wp.LOG_WARNING
    from sdpg_warp.checkpoint import load_policy
    from sdpg_warp.device import ExecutionScope, resolve_device
    from sdpg_warp.render import NominalRenderer
    from sdpg_warp.render.ego import config_image_observation
    from sdpg_warp.sim import BatchedSim
    from sdpg_warp.tasks import make_task

    if video:
        check_video_path(video)
    cfg, actor = load_policy(path)
    spec = evaluation_randomization(cfg.task, (*cfg.randomize_set, *randomize_set)) if randomize else False
    seed = cfg.seed + 1 if seed is None else seed
    device = resolve_device(device)
    actor.to(device)
    with ExecutionScope(device):
        # One auxiliary world per nominal (the simulator needs M >= 1); it follows its nominal.
        sim = BatchedSim(make_task(cfg.task, **cfg.task_settings()), num_worlds, 1, device=device, seed=seed,
                         graph=True, randomize=spec)
        sim.reset()
        renderer = None
        if cfg.obs != "state":
            renderer = config_image_observation(sim, cfg, graph=True)
        view = NominalRenderer(sim, video_size, video_size, 1, "rgb") if video else None
        noise = None
        if stochastic:
            noise = torch.Generator(device=device)
            noise.manual_seed(seed)
        writer = _open_video(video, sim) if video else None
        try:
            result = _rollout(sim, renderer, view, actor, steps, episodes, writer, video_size, noise, progress)
        except BaseException:
            if writer is not None:
                writer.close()
                os.remove(video)  # a partial video is no result
            raise
        if writer is not None:
            writer.close()
        return result


def evaluation_randomization(task: str, items: Sequence[str]):
    """The task's randomization ranges with ``items`` (``name=min,max``) over them; ValueError when
    nothing is left to draw."""
    from sdpg_warp.randomization import with_overrides
    from sdpg_warp.tasks import task_class

    spec = with_overrides(task_class(task).randomization, items)
    problems = spec.problems()
    if problems:
        raise ValueError(f"--randomize-set: {problems[0]}")
    if spec.empty:
        raise ValueError(f"--randomize: task {task} has no randomization ranges; give some with "
                         f"--randomize-set name=min,max (docs/randomization.md)")
    return spec


def _open_video(video: str, sim):
    import imageio

    fps = int(round(1.0 / (sim.mjm.opt.timestep * sim.task.frame_skip)))
    if video.lower().endswith(".gif"):
        return imageio.get_writer(video, duration=1000.0 / fps, loop=0)
    # Frames are multiples of 16 px wide and high only by chance: keep their size as it is.
    return imageio.get_writer(video, fps=fps, macro_block_size=1)


def _rollout(sim, renderer, view, actor, steps, episodes, writer, video_size, noise, progress) -> dict:
    """The policy on every nominal world for ``steps`` steps or ``episodes`` finished episodes (see
    :func:`evaluate`); each video frame goes to ``writer`` as soon as it is rendered."""
    import torch

    g = sim.group_size
    if steps is None:
        steps = None if episodes else sim.task.episode_length
    episode_return = torch.zeros(sim.num_nominal, device=sim.reward.device)
    finished = []
    step = 0
    every = max(1, (steps or sim.task.episode_length) // PROGRESS_LINES)
    with torch.no_grad():
        while (steps is None or step < steps) and (episodes is None or len(finished) < episodes):
            obs = sim.states[::g] if renderer is None else renderer.render_step()
            mean, logstd = actor(obs)
            if noise is not None:
                mean = mean + logstd.exp() * torch.randn(mean.shape, generator=noise, device=mean.device)
            sim.step(torch.tanh(mean).repeat_interleave(g, dim=0))
            if writer is not None:
                writer.append_data(_video_frame(renderer, view, video_size))
            done = (sim.terminated | sim.truncated)[::g]
            episode_return += sim.reward[::g]
            finished.extend(episode_return[done].tolist())
            episode_return[done] = 0.0
            sim.reset_done_episodes()
            step += 1
            if progress and step % every == 0:
                total = f"/{steps}" if steps is not None else ""
                wanted = f"/{episodes}" if episodes is not None else ""
                print(f"step {step}{total}: {len(finished)}{wanted} episodes finished", flush=True)
    if episodes is not None:
        finished = finished[:episodes]
    returns = finished if finished else episode_return.tolist()
    return {"mean_return": float(np.mean(returns)), "episodes": len(finished), "steps": step}


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


def _check_arguments(args) -> None:
    """Raises PlayError for a bad flag, before anything is loaded or built."""
    from sdpg_warp.config import MAX_SEED

    if args.num_worlds < 1 or (args.steps is not None and args.steps < 1) or args.video_size < 16:
        raise PlayError("--num-worlds and --steps must be >= 1, --video-size >= 16")
    if args.episodes is not None and args.episodes < 1:
        raise PlayError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise PlayError(f"--seed must be in [0, {MAX_SEED}], got {args.seed}")
    if args.randomize_set and not args.randomize:
        raise PlayError("--randomize-set needs --randomize")
    if args.video:
        check_video_path(args.video)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdpg_warp.play", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint file")
    add_checkpoint_choice(parser)
    parser.add_argument("--num-worlds", type=int, default=4, help="evaluation worlds (episodes in parallel)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps to run (default: one episode length, or until --episodes have finished)")
    parser.add_argument("--episodes", type=int, default=None,
                        help="run until this many episodes have finished (at most --steps steps when given)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the resets and the noise (default: run's + 1)")
    parser.add_argument("--stochastic", action="store_true",
                        help="sample the policy's actions, tanh(mean + std * noise), instead of tanh(mean)")
    parser.add_argument("--video", default=None, help=f"write a video of world 0 here ({', '.join(VIDEO_FORMATS)})")
    parser.add_argument("--video-size", type=int, default=256, help="height of the third-person view in pixels")
    parser.add_argument("--randomize", action="store_true",
                        help="draw each world's physics per episode from the task's randomization ranges "
                             "(with the run's --randomize-set): the return under randomization")
    parser.add_argument("--randomize-set", nargs="+", default=(), metavar="NAME=MIN,MAX",
                        help="with --randomize: ranges over the task's and the run's (docs/randomization.md)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    from sdpg_warp.tasks.menagerie import RobotNotFound

    try:
        _check_arguments(args)
        result = evaluate(checkpoint_file(args.run, args.epoch, args.best), args.num_worlds, args.steps, args.video, args.video_size, args.device,
                          episodes=args.episodes, seed=args.seed, stochastic=args.stochastic, progress=True,
                          randomize=args.randomize, randomize_set=args.randomize_set)
    except (OSError, KeyError, ValueError, RobotNotFound) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    policy = "stochastic" if args.stochastic else "deterministic"
    physics = "randomized physics" if args.randomize else "nominal physics"
    print(f"mean_return: {result['mean_return']:.3f} ({result['episodes']} finished episodes, {result['steps']} "
          f"steps, {policy} policy, {physics})")
    if args.video:
        print(f"video: {args.video}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
