"""A grid of training runs: ``python -m sdpg_warp.sweep --task T --obs O --seeds 0 1 2 --set name=v1,v2
[--set ...] --jobs J [any train flag]``.

Every combination of the ``--set`` values, once per seed, trains as its own ``python -m
sdpg_warp.train`` process, J at a time (one Torch thread each; with several GPUs one process per
GPU). The runs are normal run folders inside the sweep folder ``--log-dir/--name`` (default name: the
task, the obs and a hash of the command, so that the same command finds the same folder); each
process's console goes to ``logs/RUN.log`` there. At the end the sweep folder holds ``summary.md``
and ``summary.json`` (a row per run: settings, seed, status, exit code, final return and task
metrics, wall time: ``wall_s`` training as logged, resumes included, ``process_s`` this
invocation's process with its start-up) and ``curves.png`` (mean and range over the seeds of each setting, against env
steps and wall time). A run that fails is a row with its status; the sweep goes on.

Running the same command again skips the finished runs (and those another process is training),
resumes those with a checkpoint (``train --resume``) and starts again those that never wrote one.
"""

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from sdpg_warp import train
from sdpg_warp.run_lock import RunLock, RunLocked

OWN_FLAGS = ("--seed", "--run-name", "--resume")
"""Train flags the sweep sets itself for each run."""

STATUS = {0: "done", train.EXIT_USAGE: "usage error", train.EXIT_DIVERGED: "diverged",
          train.EXIT_RANK_FAILED: "rank failed"}
"""Exit status of a run's process -> its status in the summary (128 + n: stopped by a signal;
anything else: failed)."""


@dataclasses.dataclass
class Job:
    """One run of the grid: its name, settings (flag name -> value as given), seed and train arguments."""

    name: str
    settings: Dict[str, str]
    seed: int
    args: List[str]
    status: str = "pending"
    exit_code: Optional[int] = None
    wall_s: float = 0.0


def parse(argv: Sequence[str]):
    """(sweep options, train arguments) of the command line; raises train.UsageError (one line)."""
    parser = argparse.ArgumentParser(prog="python -m sdpg_warp.sweep", description=__doc__, allow_abbrev=False,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds of every setting (default: 0)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2",
                        help="a train flag and its values (repeatable: the grid is every combination)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (default 1)")
    parser.add_argument("--name", default=None, help="the sweep folder's name under --log-dir")
    opts, rest = parser.parse_known_args(list(argv))
    if opts.jobs < 1:
        raise train.UsageError(f"--jobs must be >= 1, got {opts.jobs}")
    for flag in OWN_FLAGS:
        if any(arg == flag or arg.startswith(flag + "=") for arg in rest):
            raise train.UsageError(f"{flag} is set by the sweep for each run; use --seeds (and rerun the sweep to resume)")
    grid = {}
    for item in opts.set:
        name, _, values = item.partition("=")
        flag = "--" + name.replace("_", "-")
        if not name or not values or any(not v for v in values.split(",")):
            raise train.UsageError(f"--set {item}: give NAME=V1,V2,... (e.g. --set actor_lr=1e-3,2e-3)")
        if name in grid or any(arg == flag or arg.startswith(flag + "=") for arg in rest):
            raise train.UsageError(f"--set {item}: {flag} is given twice")
        grid[name] = values.split(",")
    return opts, grid, rest


def make_jobs(opts, grid: Dict[str, List[str]], rest: List[str], sweep_dir: str) -> List[Job]:
    """The runs of the grid, each checked by train's own parser (a bad value: UsageError)."""
    jobs = []
    rest = _without_flag(rest, "--log-dir")
    for values in itertools.product(*grid.values()):
        settings = dict(zip(grid, values))
        for seed in opts.seeds:
            label = "__".join(f"{name}={value}" for name, value in settings.items())
            name = f"{label}__seed{seed}" if label else f"seed{seed}"
            flags = [arg for name_, value in settings.items()
                     for arg in ("--" + name_.replace("_", "-"), *value.split())]
            args = [*rest, *flags, "--seed", str(seed), "--log-dir", sweep_dir, "--run-name", name]
            train.parse_config(args)
            jobs.append(Job(name, settings, seed, args))
    return jobs


def _without_flag(args: List[str], flag: str) -> List[str]:
    """``args`` less ``flag`` and its value."""
    out, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == flag:
            skip = True
        elif not arg.startswith(flag + "="):
            out.append(arg)
    return out


def sweep_folder(opts, rest: List[str], argv: Sequence[str]) -> str:
    """``--log-dir`` (default ``runs``) / the sweep's name (default: from a hash of the command
    without ``--jobs``, so that a rerun with other jobs finds the same folder)."""
    log_dir = train._flag_value(rest, "--log-dir") or "runs"
    name = opts.name
    if name is None:
        digest = hashlib.sha1(json.dumps(_without_flag(list(argv), "--jobs")).encode()).hexdigest()[:8]
        name = f"sweep__{train._flag_value(rest, '--task') or 'hopper'}__{train._flag_value(rest, '--obs') or 'default'}__{digest}"
    return os.path.join(log_dir, name)


def plan(job: Job, sweep_dir: str) -> tuple:
    """(the train arguments that carry ``job`` on, or None; the status when None): a new run,
    ``--resume`` of its checkpoint, None when it is complete (its epochs or its ``--max-minutes``
    trained) or another process trains it. A run
    folder without a checkpoint (stopped before its first one) and without a live holder of its
    lock is removed, so that the run starts again."""
    run_dir = os.path.join(sweep_dir, job.name)
    checkpoint = os.path.join(run_dir, "checkpoint.pt")
    if not os.path.isfile(checkpoint):
        if os.path.isdir(run_dir):
            lock = RunLock()
            try:
                lock.acquire(run_dir)
            except RunLocked:
                return None, "in use (skipped)"
            lock.release()
            shutil.rmtree(run_dir, ignore_errors=True)
        return job.args, None
    from sdpg_warp.checkpoint import read_checkpoint

    cfg = train.parse_config(job.args)
    try:
        state = read_checkpoint(checkpoint)
        if int(state["epoch"]) >= cfg.epochs or 0 < 60.0 * cfg.max_minutes <= state.get("elapsed_seconds", 0.0):
            return None, "done (skipped)"
    except (OSError, ValueError):
        pass  # train --resume reports it
    return ["--resume", run_dir, "--epochs", str(cfg.epochs), "--max-minutes", str(cfg.max_minutes)], None


def devices(rest: List[str], jobs: int) -> List[Optional[str]]:
    """The ``--device`` of each job slot: None (the run's own) on the CPU or one GPU; with several
    GPUs and no --device given, one slot per GPU."""
    if train._flag_value(rest, "--device") not in (None, "auto"):
        return [None] * jobs
    import torch

    count = torch.cuda.device_count()
    if count < 2:
        return [None] * jobs
    return [f"cuda:{i}" for i in range(min(jobs, count))]


def run_all(jobs: List[Job], sweep_dir: str, slots: List[Optional[str]]) -> None:
    """Runs the jobs' processes, ``len(slots)`` at a time, each with its slot's device."""
    os.makedirs(os.path.join(sweep_dir, "logs"), exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pending = list(jobs)
    running: Dict[int, tuple] = {}  # slot -> (job, process, start, log file)
    while pending or running:
        for slot, device in enumerate(slots):
            if slot in running or not pending:
                continue
            job = pending.pop(0)
            args, skipped = plan(job, sweep_dir)
            if args is None:
                job.status = skipped
                print(f"{skipped}: {job.name}", flush=True)
                continue
            if device is not None:
                args = [*args, "--device", device]
            log = open(os.path.join(sweep_dir, "logs", f"{job.name}.log"), "a")
            print(f"start {job.name}{' (resume)' if args[0] == '--resume' else ''}", flush=True)
            process = subprocess.Popen([sys.executable, "-m", "sdpg_warp.train", *args], stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
            running[slot] = (job, process, time.perf_counter(), log)
        for slot, (job, process, start, log) in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            log.close()
            job.exit_code, job.wall_s = code, time.perf_counter() - start
            job.status = STATUS.get(code, "stopped" if code > 128 else "failed")
            print(f"{job.status}: {job.name} (exit {code}, {job.wall_s:.1f} s)", flush=True)
            del running[slot]
        time.sleep(0.2)


def summarize(jobs: List[Job], sweep_dir: str, argv: Sequence[str]) -> List[dict]:
    """summary.json, summary.md and curves.png in the sweep folder; returns the rows."""
    from sdpg_warp import plot

    rows, runs = [], []
    for job in jobs:
        run_dir = os.path.join(sweep_dir, job.name)
        run = plot.read_run(run_dir) if plot.is_run(run_dir) else None
        final = dict(run.rows[-1]) if run is not None and run.rows else {}
        returns = run.column("charts/episode_return") if run is not None else []
        minutes = final.get("perf/wall_minutes")
        rows.append({"run": job.name, "settings": job.settings, "seed": job.seed, "status": job.status,
                     "exit_code": job.exit_code, "epoch": int(final["epoch"]) if final else 0,
                     "final_return": returns[-1][1] if returns else None,
                     "task": {tag[len("task/"):]: run.column(tag)[-1][1] for tag in final if tag.startswith("task/")},
                     "wall_s": round(60.0 * minutes if minutes is not None else job.wall_s, 3),
                     "process_s": round(job.wall_s, 3)})
        if run is not None and run.rows:
            runs.append(run)
    with open(os.path.join(sweep_dir, "summary.json"), "w") as f:
        json.dump({"command": ["python", "-m", "sdpg_warp.sweep", *argv], "runs": rows}, f, indent=2)
    metrics = sorted({name for row in rows for name in row["task"]})
    lines = ["| run | seed | status | exit | epoch | final return | " + " | ".join(metrics) + (" | " if metrics else "")
             + "train s | process s |", "|---" * (8 + len(metrics)) + "|"]
    for row in rows:
        ret = "" if row["final_return"] is None else f"{row['final_return']:.4g}"
        task = "".join(f" {row['task'][m]:.4g} |" if m in row["task"] else " |" for m in metrics)
        lines.append(f"| {row['run']} | {row['seed']} | {row['status']} | {row['exit_code']} | {row['epoch']} | {ret} |"
                     f"{task} {row['wall_s']} | {row['process_s']} |")
    with open(os.path.join(sweep_dir, "summary.md"), "w") as f:
        f.write(f"# Sweep {os.path.basename(sweep_dir)}\n\n`python -m sdpg_warp.sweep {' '.join(argv)}`\n\n"
                + "\n".join(lines) + "\n")
    if runs:
        plot.plot_runs(runs, ["steps", "minutes"], os.path.join(sweep_dir, "curves.png"), os.path.basename(sweep_dir))
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        opts, grid, rest = parse(argv)
        sweep_dir = sweep_folder(opts, rest, argv)
        jobs = make_jobs(opts, grid, rest, sweep_dir)
    except train.UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return train.EXIT_USAGE
    except SystemExit as e:  # a bad train flag or value: tyro has printed why
        return int(e.code or 0)
    slots = devices(rest, opts.jobs)
    print(f"sweep {sweep_dir}: {len(jobs)} runs, {len(slots)} at a time", flush=True)
    os.makedirs(sweep_dir, exist_ok=True)
    run_all(jobs, sweep_dir, slots)
    rows = summarize(jobs, sweep_dir, argv)
    failed = [row["run"] for row in rows if not row["status"].startswith("done")]
    print(f"summary: {os.path.join(sweep_dir, 'summary.md')} ({len(rows) - len(failed)} done"
          f"{', not done: ' + ', '.join(failed) if failed else ''})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
