"""Export a checkpoint's deterministic policy to ONNX, for deployment without Torch or Warp.

The graph takes the actor's observation exactly as training fed it (uint8 image stacks
[B, 3*frames, H, W], float32 depth stacks, or float32 states [B, state_dim]; normalizers included)
and returns the action in [-1, 1], tanh of the policy mean.

  python -m sdpg_warp.export runs/reacher__rgb__0__20261122-043858 --out reacher.onnx
"""

import argparse
import sys
import warnings
from typing import Optional, Sequence

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


def load_policy(path: str):
    """(DeterministicPolicy on the CPU in eval mode, example observation batch) of a checkpoint."""
    from sdpg_warp.checkpoint import load_policy
    from sdpg_warp.tasks import make_task

    cfg, actor = load_policy(path)
    task = make_task(cfg.task)
    proprio_dim = task.proprio_dim if cfg.obs != "state" else 0
    if proprio_dim and cfg.obs == "rgb":
        # ONNX has no bit cast, which the packed row's float32 bytes in uint8 need.
        raise ValueError(f"ONNX export of an ego-centric rgb actor ({cfg.task}) is not supported: its packed "
                         f"input carries float32 bytes in uint8; depth actors export")
    shape = cfg.actor_obs_shape(task.state_dim, proprio_dim)
    example = torch.zeros(1, *shape, dtype=torch.uint8 if cfg.obs == "rgb" else torch.float32)
    return DeterministicPolicy(actor).eval(), example


class MissingDependency(Exception):
    """A package the export needs is not installed (reported as one line naming it)."""


def export_onnx(path: str, out: str) -> None:
    """Writes the ONNX graph of the checkpoint at ``path`` (run folder or file) to ``out``."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it; importing first gives a clear message)
    except ImportError:
        raise MissingDependency("ONNX export needs the onnx package: pip install onnx") from None
    policy, example = load_policy(path)
    # The TorchScript-based exporter needs only the onnx package (the newer one also onnxscript).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            policy, (example,), out, input_names=["obs"], output_names=["action"],
            dynamic_axes={"obs": {0: "batch"}, "action": {0: "batch"}}, dynamo=False,
        )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="run folder or checkpoint file")
    parser.add_argument("--out", default="policy.onnx", help="ONNX file to write")
    args = parser.parse_args(argv)
    try:
        export_onnx(args.run, args.out)
    except (FileNotFoundError, KeyError, ValueError, MissingDependency) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
