"""Run an exported policy in C MuJoCo and compare it with the training simulator (docs/deploy.md).

  python -m sdpg_warp.deploy runs/hopper__state__0__20261206-120000 --episodes 5
  python -m sdpg_warp.deploy go2.onnx --task go2_terrain --episodes 2 --video go2.mp4

Given a run folder or checkpoint it exports RUN/policy.onnx first (``--epoch E`` / ``--best``: a
kept checkpoint of the run, exported to RUN/policy_epochE.onnx / RUN/policy_best.onnx). Prints each
episode's return, the policy's inference latency (median, p99), missed control deadlines, and last
``sim2sim: mujoco <mean return> warp <mean return>``, the second the same policy in the training
simulator (``play``) over as many episodes from the same seed.
"""

import argparse
import json
import os
import sys
from typing import Optional, Sequence


def _checkpoint_config(path: str) -> dict:
    """The run configuration beside a checkpoint (RUN/config.json), read before Torch loads."""
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    config = os.path.join(folder, "config.json")
    if not os.path.isfile(config):
        from sdpg_warp.deploy.policy import DeployError

        raise DeployError(f"{path}: no run folder or checkpoint with a config.json beside it")
    with open(config) as f:
        return json.load(f)


def check(args):
    """Everything that can be wrong with the input, before anything heavy loads: returns (onnx path
    or None when the run must be exported first, run config); raises DeployError (one line)."""
    from sdpg_warp.config import MAX_SEED
    from sdpg_warp.deploy.policy import DeployError, read_spec
    from sdpg_warp.tasks import task_info, task_names
    from sdpg_warp.tasks.menagerie import RobotNotFound, check_robot

    if args.episodes < 1:
        raise DeployError(f"--episodes must be >= 1, got {args.episodes}")
    if args.seed is not None and not 0 <= args.seed <= MAX_SEED:
        raise DeployError(f"--seed must be in [0, {MAX_SEED}], got {args.seed}")
    if args.randomize_set and not args.randomize:
        raise DeployError("--randomize-set needs --randomize")
    if not os.path.exists(args.policy):
        raise DeployError(f"no run folder, checkpoint or ONNX file {args.policy}")
    if args.policy.endswith(".onnx"):
        if args.epoch is not None or args.best:
            raise DeployError("--epoch and --best pick a checkpoint of a run folder, not of an ONNX file")
        onnx_path, config = args.policy, read_spec(args.policy).config
    else:
        from sdpg_warp.run_files import checkpoint_file

        checkpoint_file(args.policy, args.epoch, args.best)  # ValueError for a choice the run lacks
        onnx_path, config = None, _checkpoint_config(args.policy)
    if config.get("task") not in task_names():
        raise DeployError(f"{args.policy}: unknown task {config.get('task')!r}")
    if args.task is not None and args.task != config["task"]:
        raise DeployError(f"--task {args.task} but {args.policy} is a {config['task']} policy")
    if args.video:
        from sdpg_warp.play import check_video_path

        check_video_path(args.video)
    if args.randomize:
        from sdpg_warp.randomization import with_overrides

        given = with_overrides(None, (*config.get("randomize_set", ()), *args.randomize_set))
        if given.problems():
            raise DeployError(f"--randomize-set: {given.problems()[0]}")
        if given.empty and not task_info(config["task"]).randomized:
            raise DeployError(f"--randomize: task {config['task']} has no randomization ranges; give some with "
                              f"--randomize-set name=min,max (docs/randomization.md)")
    try:
        check_robot(task_info(config["task"]))
    except RobotNotFound as e:
        raise DeployError(str(e)) from None
    from sdpg_warp.deploy.observations import covers

    if not covers(config["task"], config.get("obs")):
        raise DeployError(f"deploy does not cover task {config['task']} with obs {config.get('obs')}: an ego-centric "
                          f"task's privileged state is no robot's sensor reading; deploy a run with --obs rgb or depth")
    return onnx_path, config


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdpg_warp.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("policy", help="run folder, checkpoint, or ONNX file written by sdpg_warp.export")
    parser.add_argument("--task", default=None, help="the task the policy must be for (checked against the file)")
    parser.add_argument("--episodes", type=int, default=5, help="episodes in each simulator")
    parser.add_argument("--seed", type=int, default=None, help="seed of the start poses (default: the run's + 1)")
    parser.add_argument("--video", default=None, help="write a video of the C MuJoCo episodes here")
    parser.add_argument("--no-warp", action="store_true", help="skip the training simulator's evaluation")
    parser.add_argument("--randomize", action="store_true",
                        help="draw each episode's physics from the task's randomization ranges (with the run's "
                             "--randomize-set), in both simulators (docs/randomization.md)")
    parser.add_argument("--randomize-set", nargs="+", default=(), metavar="NAME=MIN,MAX",
                        help="with --randomize: ranges over the task's and the run's")
    from sdpg_warp.run_files import add_checkpoint_choice

    add_checkpoint_choice(parser)
    args = parser.parse_args(argv)
    from sdpg_warp.export import MissingDependency

    try:
        onnx_path, config = check(args)
        seed = config["seed"] + 1 if args.seed is None else args.seed
        if onnx_path is None:
            from sdpg_warp.export import export_onnx
            from sdpg_warp.run_files import checkpoint_file

            checkpoint = checkpoint_file(args.policy, args.epoch, args.best)
            name = ("policy_best.onnx" if args.best else
                    f"policy_epoch{args.epoch}.onnx" if args.epoch is not None else "policy.onnx")
            onnx_path = os.path.join(os.path.dirname(os.path.abspath(checkpoint)), name)
            export_onnx(checkpoint, onnx_path)
            print(f"exported {onnx_path}")
        from sdpg_warp.deploy.policy import read_spec
        from sdpg_warp.deploy.run import deploy, warp_mean_return

        spec = read_spec(onnx_path)
        ranges = None
        if args.randomize:
            from sdpg_warp.play import evaluation_randomization

            ranges = (*spec.config.get("randomize_set", ()), *args.randomize_set)
            randomization = evaluation_randomization(spec.task, ranges)
        result = deploy(onnx_path, spec, args.episodes, seed, args.video,
                        randomization=randomization if args.randomize else None)
    except (OSError, KeyError, ValueError, MissingDependency) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    print(f"latency: median {result['latency_median_ms']:.3f} ms, p99 {result['latency_p99_ms']:.3f} ms "
          f"(onnxruntime, 1 thread)")
    print(f"deadlines: {result['missed_deadlines']} of {result['ticks']} ticks missed the "
          f"{result['control_period_ms']:.1f} ms control period")
    if args.video:
        print(f"video: {args.video}")
    warp = "skipped"
    if not args.no_warp:
        if os.path.isfile(spec.checkpoint):
            warp = f"{warp_mean_return(spec.checkpoint, args.episodes, seed, ranges):.3f}"
        else:
            warp = f"n/a (no checkpoint {spec.checkpoint})"
    print(f"sim2sim: mujoco {result['mean_return']:.3f} warp {warp}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
