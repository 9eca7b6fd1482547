"""Train SDPG: ``python -m sdpg_warp.train --task humanoid`` (``--help`` lists every setting).

The task's defaults (``sdpg_warp/tasks/defaults.py``) apply first; flags override them. Each run
gets a folder under ``--log-dir`` with config.json, TensorBoard events and checkpoint.pt; an
existing run is never overwritten: continue it with ``--resume RUN_DIR``.
"""

import contextlib
import dataclasses
import errno
import itertools
import os
import signal
import sys
import time
from typing import Annotated, Optional, Sequence

import tyro

from sdpg_warp.algorithms import algorithm_class, algorithm_entry, foreign_fields
from sdpg_warp.config import MAX_SEED, SECTIONS, TrainConfig, task_defaults
from sdpg_warp.run_lock import RunLock, RunLocked
from sdpg_warp.tasks import task_names

# Settings a resumed run may change; every other flag must agree with the saved run.
RESUMABLE_OVERRIDES = ("epochs", "schedule_epochs", "device", "resume", "log_every", "checkpoint_every",
                       "checkpoint_minutes", "max_minutes", "threads", "sync_timing", "collective_timeout", "teacher",
                       "logger", "console", "keep_checkpoints", "video_every", "video_steps")
PROG = "python -m sdpg_warp.train"
"""How --help's usage line names the command (tyro would show the file's path)."""

# Exit statuses (docs/cli.md "Exit codes"): 0 done, 2 invalid input, an unreadable checkpoint, a run folder
# in use by another job, or a checkpoint or config.json that could not be written (a full disk),
# 3 training diverged (non-finite loss or weight), 4 (torchrun) a collective failed: another rank
# failed or timed out, 128 + signal number after a clean stop.
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_RANK_FAILED = 4


class UsageError(Exception):
    """Invalid input: reported as one line, exit status 2."""


class ReportedByRankZero(UsageError):
    """Rank 0's usage error as the other ranks of a torchrun job see it: exit status 2, silently
    (rank 0 reports it)."""


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


def _repeated_flag(args: Sequence[str]) -> Optional[str]:
    """The first flag given twice (``--graph`` and ``--no-graph`` count as one flag), or None."""
    seen = set()
    for arg in args:
        if arg.startswith("--") and len(arg) > 2:
            flag = arg.split("=", 1)[0]
            name = flag[2:].replace("_", "-")
            name = name[3:] if name.startswith("no-") else name
            if name in seen:
                return flag
            seen.add(name)
    return None


def parse_config(args: Sequence[str]) -> TrainConfig:
    """The config of the command line (tyro exits 2 on a bad flag): the task's defaults, or with
    ``--resume`` the saved run's config (so its algorithm's flags are its own), then the flags."""
    repeated = _repeated_flag(args)
    if repeated:
        raise UsageError(f"{repeated} is given more than once; give each flag once")
    resume = _flag_value(args, "--resume")
    if resume is not None:
        defaults = _saved_config(_resume_paths(resume)[0])
        algo = defaults.algo
    else:
        task = _flag_value(args, "--task") or TrainConfig.task
        if task not in task_names():
            raise UsageError(f"unknown task {task!r}; choose one of {', '.join(task_names())}")
        algo = _flag_value(args, "--algo") or TrainConfig.algo
        try:
            algorithm_entry(algo)
        except ValueError as e:
            raise UsageError(str(e)) from None
        defaults = task_defaults(task, _flag_value(args, "--obs"), algo)
    foreign = foreign_fields(algo, _given_flags(args))
    if foreign:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in foreign)
        raise UsageError(f"{flags}: not a setting of --algo {algo} (see --help for each algorithm's settings)")
    parsed = tyro.cli(_CLI_ARGS, default=_CLI_ARGS(**defaults.sections()), args=list(args), description=__doc__,
                      prog=PROG)
    cfg = TrainConfig.from_sections(vars(parsed).values())
    _validate(cfg)
    return cfg


_CLI_ARGS = dataclasses.make_dataclass(
    "TrainArgs", [(name, Annotated[section, tyro.conf.OmitArgPrefixes]) for name, section in SECTIONS.items()],
    frozen=True)
"""The command line: one group of flags per config section (--help shows them apart), each flag
named as its field (``--critic-lr``, not ``--sdpg.critic-lr``)."""


def _check_teacher(cfg: TrainConfig) -> None:
    """A distillation teacher that cannot serve is a usage error, before anything is created."""
    from sdpg_warp.checkpoint import load_teacher

    try:
        load_teacher(cfg)
    except ValueError as e:
        raise UsageError(str(e)) from None


def _validate(cfg: TrainConfig) -> None:
    try:
        cfg.validate()
    except ValueError as e:
        raise UsageError(str(e)) from None


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


def _saved_config(run_dir: str) -> TrainConfig:
    """The config.json of a run folder. A run saved before ``schedule_epochs`` existed gets its
    schedule length from its ``epochs``."""
    try:
        with open(os.path.join(run_dir, "config.json")) as f:
            saved = TrainConfig.from_json(f.read())
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UsageError(f"--resume: unreadable config.json in {run_dir} ({type(e).__name__})") from None
    return dataclasses.replace(saved, schedule_epochs=saved.schedule_epochs or saved.epochs)


def resumed_config(cfg: TrainConfig, run_dir: str, given: set) -> TrainConfig:
    """The saved run's config with the allowed overrides; a conflicting flag is a usage error."""
    saved = _saved_config(run_dir)
    for name in sorted(given - set(RESUMABLE_OVERRIDES)):
        if name in {f.name for f in dataclasses.fields(TrainConfig)} and getattr(cfg, name) != getattr(saved, name):
            raise UsageError(
                f"--{name.replace('_', '-')} {getattr(cfg, name)!r} conflicts with the resumed run's {getattr(saved, name)!r}"
            )
    overrides = {name: getattr(cfg, name) for name in RESUMABLE_OVERRIDES if name in given}
    resumed = dataclasses.replace(saved, **overrides)
    _validate(resumed)
    return resumed


def resume_plan(saved: TrainConfig, cfg: TrainConfig, checkpoint_epoch: int) -> list:
    """What resuming ``saved`` at ``checkpoint_epoch`` as ``cfg`` does, as console lines; raises
    UsageError when ``--epochs`` lies below the checkpoint's epoch."""
    if cfg.epochs < checkpoint_epoch:
        raise UsageError(f"--epochs {cfg.epochs} is below the checkpoint's epoch {checkpoint_epoch}; "
                         f"pass --epochs > {checkpoint_epoch} to train on (nothing was changed)")
    lines = []
    if cfg.epochs != saved.epochs:
        lines.append(f"the run now ends at epoch {cfg.epochs} (was {saved.epochs})")
    return lines + algorithm_class(cfg.algo).resume_lines(saved, cfg, checkpoint_epoch)


def _run_name(cfg: TrainConfig) -> str:
    algo = f"{cfg.algo}__" if algorithm_entry(cfg.algo).in_run_name else ""
    return cfg.run_name or f"{cfg.task}__{cfg.obs}__{algo}{cfg.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(log_dir: str, name: str, exact: bool) -> str:
    """Creates and returns a new run folder ``log_dir/name``. The creation is exclusive (``os.mkdir``),
    so two runs never share a folder: on a collision an ``exact`` name is a usage error, otherwise
    the next free of ``name-1``, ``name-2``, ... is taken."""
    try:
        os.makedirs(log_dir, exist_ok=True)
        for suffix in itertools.count():
            run_dir = os.path.join(log_dir, name if suffix == 0 else f"{name}-{suffix}")
            try:
                os.mkdir(run_dir)
                return run_dir
            except FileExistsError:
                if exact:
                    raise UsageError(
                        f"run directory {run_dir} already exists; use --resume {run_dir} or another --run-name"
                    ) from None
    except OSError as e:
        raise UsageError(f"cannot create a run folder under {log_dir}: {e.strerror}") from None


def lock_run_dir(lock: RunLock, run_dir: str) -> None:
    """Takes ``run_dir``'s lock for the rest of the process (README "Resume"), then removes the
    temporary files a killed write left (no one else writes there now, and on a full disk they
    keep it full). Another live holder is a usage error naming it."""
    try:
        took_over = lock.acquire(run_dir)
    except RunLocked as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise UsageError(f"cannot lock {run_dir}: {e.strerror}") from None
        print(f"warning: {run_dir} is on a filesystem without locks ({e.strerror}); nothing stops a second job "
              f"from training this run at the same time")
        return
    if took_over:
        print(took_over)
    kept = [name for name in os.listdir(run_dir) if name.startswith("checkpoint_") and name.endswith(".pt.tmp")]
    for name in ("checkpoint.pt.tmp", "config.json.tmp", "metrics.csv.tmp", *sorted(kept)):
        try:
            os.remove(os.path.join(run_dir, name))
            print(f"removed {os.path.join(run_dir, name)}, left by an interrupted write")
        except FileNotFoundError:
            pass


def _new_run_dir(cfg: TrainConfig, name: str, lock: RunLock) -> str:
    run_dir = create_run_dir(cfg.log_dir, name, exact=cfg.run_name is not None)
    lock_run_dir(lock, run_dir)
    return run_dir


def _write_config(run_dir: str, cfg: TrainConfig) -> None:
    """config.json, written atomically (temporary file, then rename); raises OSError with the
    temporary file removed."""
    path = os.path.join(run_dir, "config.json")
    try:
        with open(f"{path}.tmp", "w") as f:
            f.write(cfg.to_json())
        os.replace(f"{path}.tmp", path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(f"{path}.tmp")
        raise


def _install_stop_handlers(runner) -> dict:
    """SIGINT and SIGTERM ask the runner to stop after the epoch in progress (it then saves a
    checkpoint); a second SIGINT aborts at once. Returns the previous handlers."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        stdout = sys.stdout.fileno()
    except (OSError, ValueError):  # a replaced sys.stdout (tests) has no file descriptor
        stdout = None

    def stop(signum, frame):
        runner.request_stop(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if stdout is None:
            return
        # os.write, not print: the handler may run while a print is half done.
        os.write(stdout, stop_message(signum, runner.epoch_ends_at, time.perf_counter()).encode())

    for signum in previous:
        signal.signal(signum, stop)
    return previous


def stop_message(signum: int, epoch_ends_at: Optional[float], now: float) -> str:
    """What a stop request prints: when the epoch in progress should end (from the previous epoch's
    duration; a cluster's grace period must cover it and the checkpoint)."""
    left = "" if epoch_ends_at is None else f" (in about {max(epoch_ends_at - now, 0.0):.1f} s)"
    return (f"\n{signal.Signals(signum).name}: stopping after the epoch in progress{left}, with a checkpoint "
            f"(Ctrl-C again aborts without saving)\n")


def _launcher(world_size: int, environ=os.environ) -> str:
    """How to start training again, to paste: plain python, or torchrun with this job's layout
    (torchrun's environment: nodes of LOCAL_WORLD_SIZE ranks, the rendezvous at MASTER_ADDR:MASTER_PORT)."""
    if world_size == 1:
        return "python"
    per_node = int(environ.get("LOCAL_WORLD_SIZE", world_size))
    nodes = max(1, world_size // max(per_node, 1))
    if nodes == 1:
        return f"torchrun --standalone --nproc-per-node {per_node}"
    endpoint = f"{environ.get('MASTER_ADDR', 'HOST')}:{environ.get('MASTER_PORT', '29500')}"
    return (f"torchrun --nnodes {nodes} --nproc-per-node {per_node} --rdzv-backend c10d --rdzv-endpoint {endpoint} "
            f"--rdzv-id {environ.get('TORCHELASTIC_RUN_ID', 'resume')}")


def _print_next_steps(run_dir: str, log_dir: str, epoch: int, world_size: int) -> None:
    print(f"checkpoint: {os.path.join(run_dir, 'checkpoint.pt')} (epoch {epoch})")
    print(f"evaluate:   python -m sdpg_warp.play {run_dir} --video {os.path.join(run_dir, 'play.mp4')}")
    print(f"export:     python -m sdpg_warp.export {run_dir} --out {os.path.join(run_dir, 'policy.onnx')}")
    print(f"curves:     tensorboard --logdir {log_dir}  (or python -m sdpg_warp.plot {run_dir})")
    print(f"train on:   {_launcher(world_size)} -m sdpg_warp.train --resume {run_dir} --epochs N", flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if "WORLD_SIZE" in os.environ:  # started by torchrun
            return _main_ranks(args)
        return _main(args)
    except UsageError as e:
        if not isinstance(e, ReportedByRankZero):
            rank = os.environ.get("RANK", "0")
            print(f"error: {'' if rank == '0' else f'rank {rank}: '}{e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\naborted: nothing saved since the last checkpoint", file=sys.stderr)
        return 128 + signal.SIGINT


def _plan(args: list, lock: RunLock, world_size: int = 1):
    """(config, run folder or its name, checkpoint state and path, resume plan lines) of the command
    line, all checked before anything is created or built; None when a resume has nothing left to
    train. A resumed run folder is locked (``lock``) before its checkpoint is read. ``world_size``:
    the ranks of the job (torchrun), which a resumed checkpoint must match."""
    cfg = parse_config(args)
    if world_size > 1:  # one process: validate() bounds the seed, and Torch need not load yet
        from sdpg_warp.distributed import RANK_SEED_STRIDE

        if cfg.seed + (world_size - 1) * RANK_SEED_STRIDE > MAX_SEED:
            raise UsageError(f"--seed {cfg.seed}: rank {world_size - 1}'s seed, seed + {world_size - 1} * "
                             f"{RANK_SEED_STRIDE}, exceeds {MAX_SEED}; use a smaller --seed")
    _check_robot(cfg.task)
    if not cfg.resume:
        cfg = dataclasses.replace(cfg, schedule_epochs=cfg.schedule_epochs or cfg.epochs)
        if algorithm_entry(cfg.algo).teacher:
            _check_teacher(cfg)
        name = _run_name(cfg)
        run_dir = os.path.join(cfg.log_dir, name)
        if cfg.run_name and os.path.exists(run_dir):
            raise UsageError(f"run directory {run_dir} already exists; use --resume {run_dir} or another --run-name")
        _check_log_dir(cfg.log_dir)
        return cfg, name, None, None, []
    from sdpg_warp.checkpoint import read_checkpoint, resume_mismatch

    run_dir, checkpoint = _resume_paths(cfg.resume)
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise UsageError(f"--resume: the run folder {run_dir} is not writable (the checkpoint, config.json and "
                         f"TensorBoard events go there)")
    lock_run_dir(lock, run_dir)
    saved = resumed_config(cfg, run_dir, set())
    cfg = resumed_config(cfg, run_dir, _given_flags(args))
    try:
        state = read_checkpoint(checkpoint)
    except (ValueError, OSError) as e:
        raise UsageError(str(e).splitlines()[0]) from None
    mismatch = resume_mismatch(state, cfg, world_size, checkpoint)
    if mismatch:
        raise UsageError(f"cannot resume: {mismatch}")
    if algorithm_entry(cfg.algo).teacher:
        _check_resumed_teacher(cfg, state)
    epoch = int(state["epoch"])
    plan = resume_plan(saved, cfg, epoch)
    if cfg.epochs == epoch:
        print(f"{run_dir} is complete at epoch {epoch}; nothing to train (pass --epochs N > {epoch} to go on)")
        return None
    return cfg, run_dir, state, checkpoint, plan


def _check_robot(task: str) -> None:
    """A Menagerie robot that is missing, or a copy of it without its meshes, is a usage error."""
    from sdpg_warp.tasks import task_info
    from sdpg_warp.tasks.menagerie import RobotNotFound, check_robot

    try:
        check_robot(task_info(task))
    except RobotNotFound as e:
        raise UsageError(str(e)) from None


def _check_log_dir(log_dir: str) -> None:
    """``--log-dir`` must be a writable folder, or creatable: its nearest existing ancestor a
    writable folder."""
    path = os.path.abspath(log_dir)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UsageError(f"--log-dir {log_dir}: {path} is a file, not a folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"--log-dir {log_dir}: {path} is not writable; choose another --log-dir")


def _check_resumed_teacher(cfg: TrainConfig, state: dict) -> None:
    """A resumed distillation run's teacher (the saved ``--teacher``, or a new one given on resume)
    must load, be of the task, and have the shapes of the teacher the checkpoint holds (whose
    weights the run goes on with)."""
    from sdpg_warp.checkpoint import load_teacher

    try:
        _, teacher = load_teacher(cfg)
    except ValueError as e:
        raise UsageError(f"{e} (a moved teacher: pass --teacher with its new place)") from None
    saved = {name: tuple(value.shape) for name, value in state["algo"].get("teacher", {}).items()}
    shapes = {name: tuple(value.shape) for name, value in teacher.state_dict().items()}
    if saved != shapes:
        raise UsageError(f"--teacher {cfg.teacher} has another network than the teacher the run was trained "
                         f"with (its layers or sizes differ)")


def _check_memory(cfg: TrainConfig, device: str) -> None:
    """The run's storage must fit the device's free memory (an estimate from the config alone)."""
    from sdpg_warp.memory import fits
    from sdpg_warp.tasks import make_task

    task = make_task(cfg.task)
    # The actions' share is small; 0 of them makes the estimate a lower bound without the model.
    reason = fits(cfg, device, task.state_dim, 0, task.proprio_dim if cfg.obs != "state" else 0)
    if reason:
        raise UsageError(reason)


def _is_allocation_failure(error: BaseException) -> bool:
    """MemoryError, torch.OutOfMemoryError, Torch's CPU allocator and Warp's allocators failing."""
    import torch

    if isinstance(error, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(error)
    return "Failed to allocate" in text or "can't allocate memory" in text


def _main_ranks(args: list) -> int:
    """One rank of a torchrun job: joins the others, trains as :func:`_main`, leaves. Ranks other
    than 0 print nothing on stdout (their errors still reach stderr); a failed or timed-out
    collective ends the rank with one line and exit status 4."""
    from sdpg_warp import distributed

    try:
        parallel = distributed.from_environment(os.environ, parse_config(args).collective_timeout)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not parallel.is_main:
        sys.stdout = open(os.devnull, "w")
    try:
        with distributed.joined(parallel) as parallel:
            return _main(args, parallel)
    except distributed.RankFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_RANK_FAILED


def _from_rank_zero(parallel, work):
    """``work()``, done once: by the one process, or by rank 0 of a torchrun job and its result sent
    to every rank. A UsageError there ends every rank, reported by rank 0 alone."""
    if parallel is None:
        return work()
    outcome = None
    if parallel.is_main:
        try:
            outcome = work()
        except UsageError as e:
            outcome = e
    outcome = parallel.broadcast_object(outcome)
    if isinstance(outcome, UsageError):
        raise outcome if parallel.is_main else ReportedByRankZero(str(outcome))
    return outcome


def _main(args: list, parallel=None) -> int:
    """Plans, builds, trains; ``parallel`` is the torchrun job's ranks (None: one plain process).
    The run folder stays locked by this process (rank 0) until it returns or raises."""
    lock = RunLock()
    try:
        return _run(args, parallel, lock)
    finally:
        lock.release()


def _run(args: list, parallel, lock: RunLock) -> int:
    # Everything is checked before the run folder exists, so a failure leaves nothing behind.
    planned = _from_rank_zero(parallel, lambda: _plan(args, lock, 1 if parallel is None else parallel.world_size))
    if planned is None:
        return 0
    cfg, run_dir, state, checkpoint, plan = planned

    import torch
    import warp as wp  # heavy imports after the arguments are known to be good

    wp.config.log_level = wp.LOG_WARNING
    from sdpg_warp.device import cuda_status, resolve_device
    from sdpg_warp.distributed import SINGLE_PROCESS
    from sdpg_warp.memory import flags_to_lower
    from sdpg_warp.runner import Runner
    from sdpg_warp.tasks.menagerie import RobotNotFound

    parallel = parallel or SINGLE_PROCESS
    try:
        rank_device = parallel.rank_device(cfg.device)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        device = resolve_device(rank_device)
    except ValueError as e:
        reason = str(e).splitlines()[0].split(": ")[-1]
        raise UsageError(f"--device {cfg.device} is not available here ({reason}); use --device auto or cpu") from None
    if device == "cpu" and cfg.device == "auto":
        print(f"--device auto: running on the CPU, as {cuda_status()} (slow; fine for the small reacher task).")
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    nominal, aux = cfg.world_layout()
    per_rank = f" per rank, {parallel.world_size} ranks" if parallel.distributed else ""
    print(f"building {cfg.task} ({nominal}x{aux + 1} worlds{per_rank}, {cfg.obs}, {cfg.algo}) on {device}; Warp "
          f"compiles its kernels on first use (a minute or two, once; cached in {wp.config.kernel_cache_dir})",
          flush=True)
    _check_memory(cfg, device)
    try:
        runner = Runner(cfg, parallel=parallel)
    except RobotNotFound as e:  # a Menagerie robot that is neither downloadable nor under MENAGERIE_ROOT
        raise UsageError(str(e)) from None
    except (MemoryError, RuntimeError) as e:  # torch.OutOfMemoryError is a RuntimeError
        if not _is_allocation_failure(e):
            raise
        raise UsageError(f"cannot allocate the run's buffers on {device} ({str(e).splitlines()[0] or type(e).__name__}); "
                         f"lower {flags_to_lower(cfg, {'storage_obs': 1, 'storage_other': 0})}") from None
    print(f"simulator step: {runner.sim.capture_mode}", flush=True)
    print(f"domain randomization: {runner.sim.randomization}", flush=True)
    if state is not None:
        try:
            with runner.scope:  # the restored arrays land on the run's device and stream
                runner.load_state_dict(state, checkpoint)
        except (ValueError, KeyError, RuntimeError) as e:
            raise UsageError(f"cannot resume from {checkpoint}: {str(e).splitlines()[0]}") from None
        for line in plan:
            print(line)
        print(f"resumed {run_dir} at epoch {runner.epoch}")
    else:
        name = run_dir
        run_dir = _from_rank_zero(parallel, lambda: _new_run_dir(cfg, name, lock))
    runner.run_dir = run_dir  # on every rank (they save together); rank 0 alone writes into it
    writer = None

    def open_run() -> None:
        nonlocal writer
        try:
            _write_config(run_dir, cfg)
        except OSError as e:
            path = os.path.join(run_dir, "config.json")
            if state is not None:
                raise UsageError(f"cannot write {path} ({e.strerror}); the checkpoint (epoch {runner.epoch}) is "
                                 f"intact at {checkpoint}") from None
            lock.release()
            with contextlib.suppress(OSError):
                os.rmdir(run_dir)  # holds nothing yet
            raise UsageError(f"cannot write {path} ({e.strerror}); nothing was trained or kept") from None
        # On resume, events of epochs after the checkpoint (written before a crash) are dropped.
        writer = runner.open_writer(run_dir, resumed=state is not None)

    _from_rank_zero(parallel, open_run)
    worlds = " ".join(f"{label}={getattr(cfg, name)}" for label, name in algorithm_entry(cfg.algo).worlds)
    print(f"run: {run_dir} | {cfg.algo} | task {cfg.task} | obs {cfg.obs} | {worlds} "
          f"H={cfg.horizon} | world size {parallel.world_size} | device {device} | "
          f"torch threads {torch.get_num_threads()}", flush=True)
    return _train(runner, cfg, run_dir, writer)


def _train(runner, cfg, run_dir: str, writer) -> int:
    """Trains with the stop handlers installed; the exit status (docs/cli.md "Exit codes")."""
    from sdpg_warp.runner import CheckpointNotWritten, TrainingDiverged

    previous = _install_stop_handlers(runner)
    try:
        runner.train()
    except TrainingDiverged as e:
        kept = (f"the last good checkpoint (epoch {runner.saved_epoch}) is kept in {run_dir}"
                if runner.saved_epoch is not None else "no checkpoint was saved")
        if runner.parallel.is_main:  # every rank diverges alike; one says so
            print(f"error: training diverged: {e}; stopped, {kept}", file=sys.stderr)
        return EXIT_DIVERGED
    except CheckpointNotWritten as e:
        kept = (f"the previous checkpoint (epoch {runner.saved_epoch}) is intact at {runner.checkpoint_path}"
                if runner.saved_epoch is not None else "no checkpoint was saved before")
        if runner.parallel.is_main:  # every rank raises it; rank 0, which wrote, says so
            print(f"error: {e}; stopped at epoch {runner.epoch}, {kept}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if writer is not None:
            writer.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if runner.out_of_time:
        print(f"stopped after epoch {runner.epoch}: the run has trained its --max-minutes {cfg.max_minutes:g}; "
              f"checkpoint saved", flush=True)
        return 0
    if runner.epoch < cfg.epochs:  # stopped by a signal; under torchrun a rank without one stops with the rest
        signum = runner.stop_signal or signal.SIGTERM
        print(f"stopped by {signal.Signals(signum).name} after epoch {runner.epoch}; checkpoint saved")
        print(f"resume: {_launcher(runner.parallel.world_size)} -m sdpg_warp.train --resume {run_dir}", flush=True)
        return 128 + signum
    _print_next_steps(run_dir, cfg.log_dir, runner.epoch, runner.parallel.world_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
