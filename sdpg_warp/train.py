"""Train SDPG: ``python -m sdpg_warp.train --task humanoid`` (``--help`` lists every setting).

The task's defaults (``sdpg_warp.config.TASK_DEFAULTS``) apply first; flags override them. Each run
gets a folder under ``--log-dir`` with config.json, TensorBoard events and checkpoint.pt; an
existing run is never overwritten: continue it with ``--resume RUN_DIR``.
"""

import dataclasses
import json
import os
import sys
import time
from typing import Optional, Sequence

import tyro

from sdpg_warp.config import TrainConfig, task_defaults
from sdpg_warp.tasks import task_names

# Settings a resumed run may change; every other flag must agree with the saved run.
RESUMABLE_OVERRIDES = ("epochs", "device", "resume", "log_every", "checkpoint_every", "sync_timing")


class UsageError(Exception):
    """Invalid input: reported as one line, exit status 2."""


def _flag_value(args: Sequence[str], flag: str) -> Optional[str]:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _given_flags(args: Sequence[str]) -> set:
    """Config fields named on the command line (``--num-aux 3`` -> ``num_aux``)."""
    names = set()
    for arg in args:
        if arg.startswith("--"):
            name = arg[2:].split("=", 1)[0].replace("-", "_")
            names.add(name[3:] if name.startswith("no_") else name)
    return names


def parse_config(args: Sequence[str]) -> TrainConfig:
    """The config of the command line: task defaults, then flags (tyro exits 2 on a bad flag)."""
    task = _flag_value(args, "--task") or TrainConfig.task
    if task not in task_names():
        raise UsageError(f"unknown task {task!r}; choose one of {', '.join(task_names())}")
    defaults = task_defaults(task, _flag_value(args, "--obs"))
    cfg = tyro.cli(TrainConfig, default=defaults, args=list(args), description=__doc__)
    try:
        cfg.validate()
    except ValueError as e:
        raise UsageError(str(e)) from None
    return cfg


def _resume_paths(resume: str) -> tuple[str, str]:
    """(run_dir, checkpoint) of --resume, which names a run folder or a checkpoint file."""
    if os.path.isdir(resume):
        run_dir, checkpoint = resume, os.path.join(resume, "checkpoint.pt")
    else:
        run_dir, checkpoint = os.path.dirname(os.path.abspath(resume)), resume
    if not os.path.isfile(checkpoint):
        raise UsageError(f"--resume: no checkpoint at {checkpoint}")
    if not os.path.isfile(os.path.join(run_dir, "config.json")):
        raise UsageError(f"--resume: no config.json in {run_dir}")
    return run_dir, checkpoint


def resumed_config(cfg: TrainConfig, run_dir: str, given: set) -> TrainConfig:
    """The saved run's config with the allowed overrides; a conflicting flag is a usage error."""
    with open(os.path.join(run_dir, "config.json")) as f:
        saved = TrainConfig.from_json(f.read())
    for name in sorted(given - set(RESUMABLE_OVERRIDES)):
        if name in {f.name for f in dataclasses.fields(TrainConfig)} and getattr(cfg, name) != getattr(saved, name):
            raise UsageError(
                f"--{name.replace('_', '-')} {getattr(cfg, name)!r} conflicts with the resumed run's {getattr(saved, name)!r}"
            )
    overrides = {name: getattr(cfg, name) for name in RESUMABLE_OVERRIDES if name in given}
    return dataclasses.replace(saved, **overrides)


def new_run_dir(cfg: TrainConfig) -> str:
    name = cfg.run_name or f"{cfg.task}__{cfg.obs}__{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir = os.path.join(cfg.log_dir, name)
    if os.path.exists(run_dir):
        raise UsageError(f"run directory {run_dir} already exists; use --resume {run_dir} or another --run-name")
    return run_dir


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        cfg = parse_config(args)
        if cfg.resume:
            run_dir, checkpoint = _resume_paths(cfg.resume)
            cfg = resumed_config(cfg, run_dir, _given_flags(args))
        else:
            run_dir, checkpoint = new_run_dir(cfg), None
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    import warp as wp  # heavy imports after the arguments are known to be good

    wp.config.log_level = wp.LOG_WARNING
    from torch.utils.tensorboard import SummaryWriter

    from sdpg_warp.runner import Runner
    from sdpg_warp.sim import resolve_device

    device = resolve_device(cfg.device)
    if device == "cpu" and cfg.device == "auto":
        print("No CUDA device found: running on the CPU (slow; fine for the small reacher task).")
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.json"), "w") as f:
        f.write(cfg.to_json())
    writer = SummaryWriter(run_dir)
    if checkpoint is None:
        writer.add_text("config", "```\n" + json.dumps(dataclasses.asdict(cfg), indent=2) + "\n```")
    runner = Runner(cfg, run_dir=run_dir, writer=writer)
    if checkpoint is not None:
        try:
            runner.load(checkpoint)
        except (ValueError, KeyError, RuntimeError) as e:
            print(f"error: cannot resume from {checkpoint}: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        print(f"resumed {run_dir} at epoch {runner.epoch}")
    print(f"run: {run_dir} | task {cfg.task} | obs {cfg.obs} | N={cfg.num_nominal} M={cfg.num_aux} "
          f"H={cfg.horizon} | device {device}")
    runner.train()
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
