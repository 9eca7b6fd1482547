"""Export a checkpoint's deterministic policy to ONNX, for deployment without Torch or Warp.

The graph takes the actor's observation as training fed it (input ``obs``: uint8 image stacks
[B, 3*frames, H, W], float32 depth stacks, or float32 states [B, state_dim]; normalizers included)
and returns the action in [-1, 1], tanh of the policy mean. Ego-centric tasks, whose training rows
pack the camera's frame stack with the proprioception, take the two apart: input ``images`` (the
frame stack as above; a multi-camera task's stacks one after another along the channel axis, in
the task's camera order) and input ``proprio`` (float32 [B, proprio_dim]), what a robot's cameras
and state estimator deliver separately. An actor that sees T > 1 steps of proprioception
(``proprio_history``, go2_terrain's 20) takes input ``proprio_history`` (float32 [B, T, proprio_dim],
oldest first, the current step last) instead: the deployment keeps that buffer, shifting it by one
step per control step, with zeros before an episode's first step as in training. Depth images come
in the format the run rendered them in: metres, or with ``depth_far`` clipped and mapped to
[-0.5, 0.5] at ``image_hw`` (go2_terrain: 58 x 87, the authors' RealSense format).

The file's metadata (``metadata_props``) names what a deployment needs to feed it: ``sdpg_warp.config``,
the run's configuration as JSON (task, observation, image format, frames, proprioception history),
and ``sdpg_warp.checkpoint``, the absolute path of the checkpoint it came from
(``python -m sdpg_warp.deploy`` reads both).

  python -m sdpg_warp.export runs/reacher__rgb__0__20261122-043858 --out reacher.onnx
"""

import argparse
import os
import sys
import warnings
from typing import Optional, Sequence

from sdpg_warp.run_files import add_checkpoint_choice, checkpoint_file


CONFIG_KEY = "sdpg_warp.config"
"""Metadata key of the run's configuration (``TrainConfig.to_json``) in an exported file."""
CHECKPOINT_KEY = "sdpg_warp.checkpoint"
"""Metadata key of the absolute path of the checkpoint an exported file came from."""


def load_policy_config(path: str):
    """(policy module on the CPU in eval mode, example inputs, input_names, the run's TrainConfig)
    of a checkpoint (see :func:`load_policy`)."""
    from sdpg_warp.checkpoint import load_policy

    cfg, actor = load_policy(path)
    return (*_policy_module(cfg, actor), cfg)


def load_policy(path: str):
    """(policy module on the CPU in eval mode, example inputs: a tuple of batches of one, named as
    ``input_names``, input_names) of a checkpoint."""
    return load_policy_config(path)[:3]


def _policy_module(cfg, actor):
    import torch

    from sdpg_warp.onnx_policy import DeterministicPolicy, EgoPolicy
    from sdpg_warp.tasks import task_info

    task = task_info(cfg.task)
    proprio_dim = task.proprio_dim if cfg.obs != "state" else 0
    image_dtype = torch.uint8 if cfg.obs == "rgb" else torch.float32
    if proprio_dim:
        images = torch.zeros(1, *cfg.actor_obs_shape(0), dtype=image_dtype)
        if cfg.proprio_history > 1:
            history = torch.zeros(1, cfg.proprio_history, proprio_dim)
            return EgoPolicy(actor).eval(), (images, history), ("images", "proprio_history")
        return EgoPolicy(actor).eval(), (images, torch.zeros(1, proprio_dim)), ("images", "proprio")
    example = torch.zeros(1, *cfg.actor_obs_shape(task.state_dim), dtype=image_dtype)
    return DeterministicPolicy(actor).eval(), (example,), ("obs",)


class MissingDependency(Exception):
    """A package the export needs is not installed (reported as one line naming it)."""


def export_onnx(path: str, out: str) -> None:
    """Writes the ONNX graph of the checkpoint at ``path`` (run folder or file) to ``out``."""
    try:
        import onnx  # torch.onnx.export needs it too; importing first gives a clear message
    except ImportError:
        raise MissingDependency("ONNX export needs the onnx package: pip install onnx") from None
    import torch

    policy, example, names, cfg = load_policy_config(path)
    # The TorchScript-based exporter needs only the onnx package (the newer one also onnxscript).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            policy, example, out, input_names=list(names), output_names=["action"],
            dynamic_axes={name: {0: "batch"} for name in (*names, "action")}, dynamo=False,
        )
    model = onnx.load(out)
    for key, value in ((CONFIG_KEY, cfg.to_json()), (CHECKPOINT_KEY, os.path.abspath(checkpoint_file(path)))):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, out)


def check_out_path(out: str, flag: str = "--out", example: str = "policy.onnx") -> None:
    """Raises ValueError unless ``out`` names a file that can be written (not a folder; its folder
    exists and is writable): checked before a checkpoint is loaded (also ``play --video``)."""
    if os.path.isdir(out):
        raise ValueError(f"{flag} {out} is a folder; give the file's name, e.g. {os.path.join(out, example)}")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ValueError(f"{flag} {out}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {out}: folder {folder} is not writable")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdpg_warp.export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint file")
    add_checkpoint_choice(parser)
    parser.add_argument("--out", default="policy.onnx", help="ONNX file to write")
    args = parser.parse_args(argv)
    from sdpg_warp.tasks.menagerie import RobotNotFound

    try:
        check_out_path(args.out)
        export_onnx(checkpoint_file(args.run, args.epoch, args.best), args.out)
    except (OSError, KeyError, ValueError, MissingDependency, RobotNotFound) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
