"""The training loop (docs/DESIGN.md section 3): the Runner builds the simulator, renderer and
algorithm, drives rollout and update, and owns timing, logging, the finiteness guard and
exact-resume checkpoints."""

import contextlib
import dataclasses
import json
import os
import shutil
import time
from typing import Dict, Optional

import numpy as np
import torch
import warp as wp

from sdpg_warp.algorithms import algorithm_class
from sdpg_warp.checkpoint import CHECKPOINT_VERSION, read_checkpoint, read_safely, resume_mismatch
from sdpg_warp.config import TrainConfig
from sdpg_warp.device import ExecutionScope, configure_torch, resolve_device
from sdpg_warp.distributed import SINGLE_PROCESS, DataParallel
from sdpg_warp.log_writers import LogWriter, make_writers
from sdpg_warp.logger import EpisodeStatistics, Logger
from sdpg_warp.profiling import PhaseTimer, nvtx_range
from sdpg_warp.render.ego import config_image_observation
from sdpg_warp.run_files import BEST_CHECKPOINT, NUMBERED_CHECKPOINT, numbered_checkpoint
from sdpg_warp.sim import OVERFLOW_BITS, BatchedSim, overflow_warnings
from sdpg_warp.tasks import make_task


class CheckpointNotWritten(RuntimeError):
    """Writing a checkpoint failed (a full disk, a lost mount); its temporary file is removed and the
    previous checkpoint, if any, is untouched. Raised on every rank alike."""


class TrainingDiverged(RuntimeError):
    """A loss or a network weight became NaN or infinite; nothing of that epoch was saved."""

    def __init__(self, epoch: int, quantity: str, value: float):
        super().__init__(f"non-finite {quantity} ({value}) at epoch {epoch}")
        self.epoch, self.quantity, self.value = epoch, quantity, value


def build_components(cfg: TrainConfig, device: str):
    """The simulator, renderer (None for state observations) and algorithm (``cfg.algo``, built by
    its registered class) of a config."""
    torch.manual_seed(cfg.seed)
    nominal, aux = cfg.world_layout()
    sim = BatchedSim(make_task(cfg.task, **cfg.task_settings()), nominal, aux, device=device, seed=cfg.seed, graph=cfg.graph,
                     deterministic=cfg.deterministic, randomize=cfg.randomization() or False,
                     curriculum=cfg.curriculum)
    sim.reset()
    renderer = None
    if cfg.obs != "state":
        renderer = config_image_observation(sim, cfg, cfg.graph)
    # Ego-centric tasks: the actor sees its proprioception next to the images.
    proprio_dim = sim.task.proprio_dim if cfg.obs != "state" else 0
    obs_shape = cfg.actor_obs_shape(sim.state_dim, proprio_dim)
    obs_dtype = torch.uint8 if cfg.obs == "rgb" else torch.float32
    algo = algorithm_class(cfg.algo).build(cfg, sim, obs_shape, obs_dtype, device)
    return sim, renderer, algo


class Runner:
    """Trains SDPG (or a baseline, ``cfg.algo``) on one task. ``Runner(cfg).train()``; see
    ``sdpg_warp.train`` for the CLI.

    ``parallel``: the ranks of a torchrun job (sdpg_warp/distributed.py). Each rank builds its own
    simulator with its rank's seed and starts from rank 0's networks; logged metrics are averaged and
    episode statistics summed over the ranks; checkpoints hold every rank's simulator and RNG state
    and are written by rank 0 alone. Every rank must call :meth:`train` (or the methods it calls) alike.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Optional[str] = None, writer: Optional[LogWriter] = None,
                 parallel: DataParallel = SINGLE_PROCESS):
        cfg.validate()
        self.cfg = cfg
        self.parallel = parallel
        self.device = resolve_device(parallel.rank_device(cfg.device))
        self.run_dir = run_dir
        self.logger = Logger(writer, cfg.console)
        configure_torch(self.device, cfg.deterministic, cfg.tf32, cfg.cudnn_benchmark)
        # Every launch and Torch op of the run, graph recordings included, goes through this scope.
        self.scope = ExecutionScope(self.device)
        with self.scope:
            self._build()

    def _build(self) -> None:
        cfg = self.cfg
        rank_cfg = dataclasses.replace(cfg, seed=self.parallel.rank_seed(cfg.seed))
        with self.parallel.local_rank_zero_first("building the simulator and compiling its kernels"):
            self.sim, self.renderer, self.algo = build_components(rank_cfg, self.device)
        self.algo.parallel = self.parallel
        self.parallel.broadcast_modules(self.algo.networks().values())
        self.timer = PhaseTimer(self.device, synchronize=cfg.sync_timing_on(self.device))
        self.episodes = EpisodeStatistics(self.sim.num_nominal, self.sim.task.reward_terms, self.device,
                                          self.sim.task.metric_names)
        self.epoch = 0
        self.elapsed_before = 0.0
        """Training seconds of the run before this process's :meth:`train` (from its checkpoint)."""
        self.best_return: Optional[float] = None
        """The highest logged episode return among the saved checkpoints (``keep_checkpoints``)."""

    @property
    def writer(self) -> Optional[LogWriter]:
        """Where the logged scalars go besides the console: the constructor's ``writer``, or
        :meth:`open_writer`'s (None: nowhere)."""
        return self.logger.writer

    def open_writer(self, run_dir: str, resumed: bool) -> LogWriter:
        """Opens the writers of ``cfg.logger`` in ``run_dir`` and logs through them from now on;
        the caller closes the returned writer. A fresh run gets its config as text; a resumed one
        drops the events after its checkpoint's epoch (written before a crash)."""
        writer = make_writers(self.cfg.logger, run_dir, purge_step=self.epoch + 1 if resumed else None)
        if not resumed:
            writer.add_text("config", "```\n" + json.dumps(dataclasses.asdict(self.cfg), indent=2) + "\n```", 0)
        self.logger.writer = writer
        return writer

    @property
    def history(self) -> list:
        """The scalars of every logged epoch."""
        return self.logger.history

    # ------------------------------------------------------------------------------- rollout

    def _observe(self) -> torch.Tensor:
        """The actor's observation of the nominal worlds: [N, *obs_shape]."""
        if self.renderer is None:
            return self.sim.states[:: self.sim.group_size]
        with self.timer.phase("render"):
            return self.renderer.render_step()

    def rollout(self) -> None:
        """H steps of every world (docs/DESIGN.md section 3, steps 1-2); the algorithm keeps what it
        needs of each."""
        sim, algo, g = self.sim, self.algo, self.sim.group_size
        algo.epoch = self.epoch
        with self.scope, self.timer.phase("rollout"):
            algo.start_rollout(sim)
            for t in range(self.cfg.horizon):
                with nvtx_range("step"):
                    obs = self._observe()
                    with self.timer.phase("actor"):
                        algo.act(t, obs, sim.states, action_out=sim.action)
                    with self.timer.phase("physics"):
                        reward, terminated, truncated = sim.step()
                    algo.process_env_step(t, reward, sim.states, terminated)
                    self.episodes.track(reward[::g], (terminated | truncated)[::g], sim.reward_terms[::g],
                                        sim.metrics[::g])
                    sim.reset_done_episodes()
                    algo.process_dones(t, sim.done)

    def update(self) -> Dict[str, torch.Tensor]:
        """The algorithm learns from the epoch's rollout (docs/DESIGN.md section 3, steps 3-7)."""
        self.algo.epoch = self.epoch
        with self.scope:
            return self.algo.update(self.timer)

    # --------------------------------------------------------------------------------- train

    # Set outside the epoch loop (signal handler, CLI); read between epochs only.
    stop_signal: Optional[int] = None
    """Signal number given to :meth:`request_stop`, or None."""
    saved_epoch: Optional[int] = None
    """Epoch of the newest checkpoint in ``run_dir`` (written or resumed from), or None."""
    epoch_ends_at: Optional[float] = None
    """When the epoch in progress should end (``time.perf_counter``), from the previous epoch's
    duration; None in a run's first epoch. A plain number, for the signal handler's message."""

    out_of_time: bool = False
    """Whether the run has trained its ``max_minutes`` (training stopped there, not by a signal)."""

    def request_stop(self, signum: int) -> None:
        """Ends training after the epoch in progress (or the next one, when the request comes
        while an epoch is being logged or saved), with a checkpoint. Only sets a flag, so it is
        safe in a signal handler (nothing is raised inside a Warp graph launch)."""
        self.stop_signal = signum

    @property
    def checkpoint_path(self) -> Optional[str]:
        return None if self.run_dir is None else os.path.join(self.run_dir, "checkpoint.pt")

    def train(self) -> list:
        """Runs epochs until ``cfg.epochs`` or :meth:`request_stop`; logs and checkpoints (after the
        first epoch when no checkpoint exists yet, every ``checkpoint_every`` epochs, once
        ``checkpoint_minutes`` have passed since the last one, and at the last epoch); returns the
        per-epoch history; stops as well once the run has trained ``max_minutes`` (a run resumed
        past them trains no epoch). The clock is read between epochs only, and under torchrun the
        ranks agree on it in the collective that already shares stop requests.

        Wherever it logs or saves, one host read checks that the losses and network weights are finite;
        if not, it logs that epoch and raises :class:`TrainingDiverged` without saving, so the
        newest checkpoint stays the last good one.
        """
        cfg = self.cfg
        env_steps = cfg.horizon * self.sim.num_worlds * self.parallel.world_size
        start_epoch = self.epoch
        self.out_of_time = self._out_of_time(self.elapsed_before)  # the checkpoint's: the same on every rank
        if self.epoch < cfg.epochs and not self.out_of_time:
            self._load_kernels()
        t_start = self._saved_at = self._t_start = time.perf_counter()
        self._start_epoch = start_epoch
        seconds = None
        with self.scope:
            while self.epoch < cfg.epochs and not self.out_of_time:
                t0 = time.perf_counter()
                self.epoch_ends_at = None if seconds is None else t0 + seconds
                with nvtx_range("epoch"):
                    self.rollout()
                    metrics = self.update()
                self.epoch += 1
                if self._video_due():  # counted in the epoch's time, as its "video" phase
                    with self.timer.phase("video"):
                        self._record_video()
                seconds = time.perf_counter() - t0
                # Read once (a later request stops after the next epoch), and on every rank alike.
                stops, due, late = self.parallel.sum_host([self.stop_signal is not None, self._checkpoint_due(),
                                                           self._out_of_time(self.elapsed())])
                self.out_of_time = late > 0
                stop = stops > 0 or self.out_of_time
                last = self.epoch == cfg.epochs or stop
                log = self.epoch % cfg.log_every == 0 or last
                # The first checkpoint comes after epoch 1, so that no crash leaves a run that cannot resume.
                save = self.run_dir is not None and (self.epoch % cfg.checkpoint_every == 0 or last or due > 0
                                                     or self.saved_epoch is None)
                # The finiteness check reads the device, so it runs only where logging or saving
                # reads it anyway: no checkpoint is ever written unchecked. It reads the metrics
                # averaged over the ranks (and networks identical on all), so every rank agrees.
                if log or save:
                    metrics = self.parallel.average_metrics({**metrics, **self.sim.curriculum_metrics()}, self.device)
                bad = self._first_non_finite(metrics) if log or save else None
                if log or bad is not None:
                    self._log(metrics, seconds, env_steps)
                if bad is not None:
                    raise TrainingDiverged(self.epoch, *bad)
                if save:
                    self.save(self.checkpoint_path)
                if stop:
                    break
        self.epoch_ends_at = None
        if self.epoch > start_epoch:
            print(f"done: {self.epoch - start_epoch} epochs in {time.perf_counter() - t_start:.1f} s", flush=True)
        return self.history

    def _video_due(self) -> bool:
        """``video_every``: rank 0 of a run with a folder records at every video_every-th epoch."""
        every = self.cfg.video_every
        return every > 0 and self.epoch % every == 0 and self.run_dir is not None and self.parallel.is_main

    def _record_video(self) -> None:
        """The epoch's episode video (sdpg_warp/video.py), from a simulator of its own."""
        from sdpg_warp.video import record_epoch_video

        self._video = record_epoch_video(getattr(self, "_video", None), self.cfg, self.device,
                                         self.algo.networks()["actor"], self.run_dir, self.epoch, self.writer)

    def _load_kernels(self) -> None:
        """The algorithm's kernels, compiled (or read from Warp's cache) and timed on their own, so
        that the first epoch's phase times and steps/s hold no compilation."""
        t0 = time.perf_counter()
        with self.scope:
            self.algo.load_kernels()
        print(f"compiled kernels in {time.perf_counter() - t0:.1f} s (once; later runs read Warp's cache)", flush=True)

    def _report_physics(self, metrics: Dict[str, torch.Tensor]) -> None:
        """Once per logging step (one device read): the solver's iterations per physics step into
        ``metrics``, and a line per overflow bit that any world of any rank set since the last log
        (the worlds' count and the budget to raise)."""
        stats = self.sim.pop_physics_stats()
        names = [name for name, _ in OVERFLOW_BITS]
        summed = self.parallel.sum_host([stats["overflow"].get(name, 0) for name in names]
                                        + [stats["solver_niter_mean"]])
        metrics["perf/solver_niter_mean"] = summed[-1] / self.parallel.world_size
        metrics["perf/solver_niter_max"] = self.parallel.max_host([stats["solver_niter_max"]])[0]
        worlds = self.sim.num_worlds * self.parallel.world_size
        for line in overflow_warnings(dict(zip(names, summed)), self.sim.task, worlds):
            print(line, flush=True)

    def _checkpoint_due(self) -> bool:
        """Whether ``checkpoint_minutes`` (0: never) have passed since the last checkpoint or the
        start of :meth:`train`."""
        minutes = self.cfg.checkpoint_minutes
        return self.run_dir is not None and minutes > 0 and time.perf_counter() - self._saved_at >= 60.0 * minutes

    def _out_of_time(self, seconds: float) -> bool:
        """Whether ``seconds`` of training reach ``max_minutes`` (0: no budget)."""
        minutes = self.cfg.max_minutes
        return minutes > 0 and seconds >= 60.0 * minutes

    def _first_non_finite(self, metrics: Dict[str, torch.Tensor]) -> Optional[tuple]:
        """(name, value) of the first of the epoch's losses and networks that is NaN or infinite, else None.

        The networks enter as their largest |weight| (parameters and normalizer statistics); all of it
        is gathered on the device and read back once.
        """
        names = [name for name in metrics if name.startswith("losses/")]
        values = [torch.as_tensor(metrics[name], dtype=torch.float32, device=self.device).reshape(()) for name in names]
        for name, module in self.algo.networks().items():
            tensors = [t for t in module.state_dict().values() if t.is_floating_point()]
            values.append(torch.stack([torch.linalg.vector_norm(t.detach().float(), float("inf")) for t in tensors]).max())
            names.append(f"{name} weights")
        host = torch.stack(values).cpu().numpy()
        for name, value in zip(names, host):
            if not np.isfinite(value):
                return name, float(value)
        return None

    def elapsed(self) -> float:
        """Training seconds of the run so far, resumes included."""
        running = getattr(self, "_t_start", None)
        return self.elapsed_before + (0.0 if running is None else time.perf_counter() - running)

    def _log(self, metrics: Dict[str, torch.Tensor], seconds: float, env_steps: int) -> None:
        metrics = dict(metrics)
        self._report_physics(metrics)
        episodes = self.episodes.pop(self.parallel.sum_)
        # The ETA extrapolates this process's epochs (kernels compiled before the clock started).
        done = self.epoch - self._start_epoch
        eta = (time.perf_counter() - self._t_start) / done * (self.cfg.epochs - self.epoch)
        self.logger.log(self.epoch, self.cfg.epochs, metrics, episodes, self.episodes.last_return,
                        self.timer.pop(), seconds, env_steps, elapsed=self.elapsed(), eta=eta)

    # --------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """This rank's checkpoint (rank 0's is the one written): config, epoch, the algorithm, and
        this rank's simulator, frame stack, episodes and RNG states."""
        return {
            "version": CHECKPOINT_VERSION,
            "config": dataclasses.asdict(self.cfg),
            "epoch": self.epoch,
            "world_size": self.parallel.world_size,
            "algo": self.algo.state_dict(),
            "elapsed_seconds": self.elapsed(),
            "best_return": self.best_return,
            **self._own_state(),
        }

    def _own_state(self) -> dict:
        """What differs between ranks apart from the algorithm's ``rank_local_state``."""
        return {
            "sim": self.sim.state_dict(),
            "frame_stack": None if self.renderer is None else wp.to_torch(self.renderer.stack).cpu().clone(),
            # Ego-centric tasks: the proprioception steps the actor sees besides the current one.
            "proprio_history": self.renderer.history.cpu().clone() if hasattr(self.renderer, "history") else None,
            "episodes": self.episodes.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.startswith("cuda") else None,
        }

    def save(self, path: str) -> None:
        """Writes the checkpoint atomically (temporary file flushed to disk, then rename). A failed
        write (a full disk) removes the temporary file, leaves the previous checkpoint as it was and
        raises :class:`CheckpointNotWritten`.

        Several ranks: every rank calls it; the others' own state (simulator, frame stack, episodes,
        RNGs, the algorithm's ``rank_local_state``) goes to rank 0, whose checkpoint holds it under
        ``ranks`` (rank 1 first), and rank 0 alone writes, then tells the others whether it could.
        """
        sharded = self.algo.rank_shard_state if self.parallel.distributed else ()
        failure = None
        # Decided before the state is taken, so that the checkpoint holds its own best return.
        best = self.cfg.keep_checkpoints > 0 and self.episodes.last_return is not None and (
            self.best_return is None or self.episodes.last_return > self.best_return)
        if best:
            self.best_return = self.episodes.last_return
        if sharded:
            shard, failure = self._write_shard(path, sharded)
        if self.parallel.distributed:
            own = None
            if not self.parallel.is_main:
                algo = self.algo.state_dict()
                local = {key: algo[key].cpu() if isinstance(algo[key], torch.Tensor) else algo[key]
                         for key in self.algo.rank_local_state if key not in sharded}
                own = {**self._own_state(), "algo": local}
            # Also the barrier after which every rank's shard is on disk.
            ranks = self.parallel.gather_objects((own, shard if sharded else None, failure))
        if self.parallel.is_main:
            if self.parallel.distributed:
                failure = next((failed for _, _, failed in ranks if failed is not None), None)
            if failure is None:
                state = self.state_dict()
                if self.parallel.distributed:
                    state["ranks"] = [own for own, _, _ in ranks[1:]]
                if sharded:
                    state["algo"] = {key: value for key, value in state["algo"].items() if key not in sharded}
                    state["shards"] = [name for _, name, _ in ranks]
                failure = _write_atomically(state, path)
                if failure is None and self.cfg.keep_checkpoints and not sharded:
                    failure = self._keep_copies(path, best)
        if self.parallel.distributed:  # also the barrier after which the checkpoint names the new shards
            failure = self.parallel.broadcast_object(failure)
        if failure is not None:
            raise CheckpointNotWritten(failure)
        self.saved_epoch = self.epoch
        self._saved_at = time.perf_counter()
        if sharded:  # the checkpoint now names this epoch's shards: the older ones go
            for name in self._shards[:-1]:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(os.path.dirname(path), name))
            self._shards = self._shards[-1:]

    def _keep_copies(self, path: str, best: bool) -> Optional[str]:
        """``keep_checkpoints``: the checkpoint just written at ``path`` also as
        checkpoint_epochXXXXXX.pt (the oldest numbered ones beyond ``keep_checkpoints`` removed) and,
        when its return is the ``best`` so far, as checkpoint_best.pt. Each copy is a hard link
        (a copy where the filesystem has none) put in place by rename; None, or why it failed."""
        folder = os.path.dirname(path)
        targets = [numbered_checkpoint(folder, self.epoch)] + ([os.path.join(folder, BEST_CHECKPOINT)] if best else [])
        try:
            for target in targets:
                _copy_atomically(path, target)
            numbered = sorted(name for name in os.listdir(folder) if NUMBERED_CHECKPOINT.fullmatch(name))
            for name in numbered[:-self.cfg.keep_checkpoints]:
                os.remove(os.path.join(folder, name))
        except OSError as e:
            return f"cannot keep a copy of checkpoint {path} ({e.strerror or e})"
        return None

    def _write_shard(self, path: str, keys) -> tuple:
        """This rank's ``keys`` of the algorithm's state, beside the checkpoint ``path`` (written
        atomically; the epoch in its name, so that the checkpoint in place keeps naming its own
        shards until it is replaced); returns (the file name, why it could not be written or None)."""
        name = f"{os.path.basename(path)}.rank{self.parallel.rank}-epoch{self.epoch}"
        algo = self.algo.state_dict()
        failure = _write_atomically({key: algo[key] for key in keys}, os.path.join(os.path.dirname(path), name))
        if failure is None:
            self._shards = [n for n in getattr(self, "_shards", []) if n != name] + [name]
        return name, failure

    def load(self, path: str) -> None:
        """Restores the checkpoint file ``path`` (see :meth:`load_state_dict`)."""
        self.load_state_dict(read_checkpoint(path), path)

    def load_state_dict(self, state: dict, path: str = "checkpoint") -> None:
        """Restores what :func:`read_checkpoint` read, from a run with a compatible config (same
        task, obs and sizes) and as many ranks; raises ValueError (naming ``path``) otherwise. Rank
        r > 0 takes its own simulator, RNG and rank-local algorithm state from ``state["ranks"]``."""
        mismatch = resume_mismatch(state, self.cfg, self.parallel.world_size, path)
        if mismatch:
            raise ValueError(mismatch)
        if self.parallel.rank > 0:
            own = state["ranks"][self.parallel.rank - 1]
            state = {**state, **own, "algo": {**state["algo"], **own["algo"]}}
        if "shards" in state:  # this rank's shard, beside the checkpoint
            name = state["shards"][self.parallel.rank]
            if not isinstance(name, str) or os.path.basename(name) != name:
                raise ValueError(f"checkpoint {path} names a shard outside its folder: {name!r}")
            shard_path = os.path.join(os.path.dirname(path), name)
            if not os.path.isfile(shard_path):
                raise ValueError(f"checkpoint shard {name} of rank {self.parallel.rank} is missing beside {path}")
            shard = read_safely(shard_path)  # a CheckpointError is a ValueError
            state = {**state, "algo": {**state["algo"], **shard}}
            self._shards = [name]
        self.algo.load_state_dict(state["algo"])
        self.sim.load_state_dict(state["sim"])
        if self.renderer is not None:
            wp.to_torch(self.renderer.stack).copy_(state["frame_stack"])
        # A checkpoint from before the history keeps none: its runs saw one step, which the next
        # observation overwrites.
        if hasattr(self.renderer, "history") and state.get("proprio_history") is not None:
            self.renderer.history.copy_(state["proprio_history"])
        self.episodes.load_state_dict(state["episodes"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.startswith("cuda"):
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch = int(state["epoch"])
        self.saved_epoch = self.epoch
        self.elapsed_before = float(state.get("elapsed_seconds", 0.0))
        self.best_return = state.get("best_return")


def _copy_atomically(source: str, target: str) -> None:
    """``source`` as ``target``: a hard link (or a copy) made under ``target.tmp``, then renamed."""
    tmp = f"{target}.tmp"
    with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def _write_atomically(state: dict, path: str) -> Optional[str]:
    """Writes ``state`` to ``path`` through ``path.tmp``; None, or why it failed (a full disk, a
    lost mount), with the temporary file removed: a partial file would keep a full disk full."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return None
    except BaseException as e:  # also a second Ctrl-C in the middle of the write
        try:
            os.remove(tmp)
        except OSError:
            pass
        cause = _os_error(e)
        if cause is None:
            raise
        return f"cannot write checkpoint {path} ({cause.strerror or cause})"


def _os_error(e: Optional[BaseException]) -> Optional[OSError]:
    """The OSError behind ``e``: torch.save reports a failed write of its zip file as a RuntimeError
    raised while it handles the OSError of the write itself."""
    while e is not None and not isinstance(e, OSError):
        e = e.__cause__ or e.__context__
    return e
