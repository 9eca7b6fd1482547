"""The SDPG epoch loop (DESIGN section 3): rollout -> returns -> estimate -> actor and critic updates,
with per-phase timing, console progress, TensorBoard scalars and exact-resume checkpoints."""

import contextlib
import dataclasses
import os
import time
from typing import Dict, Optional

import numpy as np
import torch
import warp as wp

from sdpg_warp import ops
from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor, Critic
from sdpg_warp.profiling import PhaseTimer, nvtx_range
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sdpg import SDPG
from sdpg_warp.sim import BatchedSim, resolve_device
from sdpg_warp.storage import RolloutStorage

CHECKPOINT_VERSION = 1
CHECKPOINT_KEYS = ("config", "epoch", "algo", "sim", "frame_stack", "episodes", "torch_rng")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, corrupt) or is not an sdpg_warp checkpoint."""


class TrainingDiverged(RuntimeError):
    """A loss or a network weight became NaN or infinite; nothing of that epoch was saved."""

    def __init__(self, epoch: int, quantity: str, value: float):
        super().__init__(f"non-finite {quantity} ({value}) at epoch {epoch}")
        self.epoch, self.quantity, self.value = epoch, quantity, value


def read_checkpoint(path: str) -> dict:
    """The contents of the checkpoint file ``path``, every tensor on the CPU (modules and optimizers
    move what they load to their own device; the RNG states must stay on the CPU).

    Raises FileNotFoundError, or CheckpointError with a one-line message for anything unreadable.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch.load fails in many types on bad bytes (EOFError, UnpicklingError, ...)
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not an sdpg_warp checkpoint of version {CHECKPOINT_VERSION}")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    return state


def build_policy(cfg: TrainConfig, device: str):
    """The simulator, renderer (None for state observations) and SDPG algorithm of a config."""
    torch.manual_seed(cfg.seed)
    sim = BatchedSim(cfg.task, cfg.num_nominal, cfg.num_aux, device=device, seed=cfg.seed, graph=cfg.graph)
    sim.reset()
    renderer = None
    if cfg.obs == "state":
        obs_shape = (sim.obs_dim,)
    else:
        renderer = NominalRenderer(sim, cfg.image_size, cfg.image_size, cfg.frames, cfg.obs)
        obs_shape = tuple(renderer.stack.shape[1:])
    actor = Actor.from_config(cfg, obs_shape, sim.num_actions)
    critic = Critic.from_config(cfg, sim.obs_dim)
    algo = SDPG(actor, critic, cfg, device)
    return sim, renderer, algo


class Runner:
    """Trains SDPG on one task. ``Runner(cfg).train()``; see ``sdpg_warp.train`` for the CLI."""

    def __init__(self, cfg: TrainConfig, run_dir: Optional[str] = None, writer=None):
        cfg.validate()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.run_dir = run_dir
        self.writer = writer
        self.sim, self.renderer, self.algo = build_policy(cfg, self.device)
        N, M, H = cfg.num_nominal, cfg.num_aux, cfg.horizon
        obs_shape = self.algo.actor.obs_shape
        obs_dtype = torch.float32 if cfg.obs != "rgb" else torch.uint8
        self.storage = RolloutStorage.allocate(
            N, M, H, self.sim.num_actions, obs_shape, obs_dtype, self.sim.obs_dim, self.device
        )
        self._mean_target = torch.zeros(N, H, self.sim.num_actions, device=self.device)
        self._logstd_target = torch.zeros_like(self._mean_target)
        self._returns = torch.zeros(self.sim.num_worlds, H, device=self.device)
        self.timer = PhaseTimer(self.device, synchronize=cfg.sync_timing)
        self._render_graph = self._capture_render() if cfg.graph and self.renderer is not None else None
        self.epoch = 0
        # Episode statistics of the nominal worlds, kept on the device (no sync per step).
        self._episode_return = torch.zeros(N, device=self.device)
        self._episode_length = torch.zeros(N, device=self.device)
        self._finished = torch.zeros(3, device=self.device)  # return sum, length sum, count
        self._term_sums = torch.zeros(len(self.sim.task.reward_terms), device=self.device)
        self.history: list[Dict[str, float]] = []

    # ------------------------------------------------------------------------------- rollout

    def _observe(self) -> torch.Tensor:
        """The actor's observation of the nominal worlds: [N, *obs_shape]."""
        if self.renderer is None:
            return self.sim.privileged_obs[:: self.sim.group_size]
        with self.timer.phase("render"):
            if self._render_graph is None:
                return self.renderer.render(reset_mask=self.sim.fresh)
            wp.capture_launch(self._render_graph)
            return self._frames

    def _capture_render(self):
        """Records one render (gather, kinematics, ray cast, frame-stack push with refill of the
        freshly reset nominals) as a Warp graph; every buffer it touches has a fixed address."""
        frames = wp.to_torch(self.renderer.stack)
        saved = frames.clone()
        with wp.ScopedDevice(self.device), self._torch_stream():
            with wp.ScopedCapture(device=self.device) as capture:
                self._frames = self.renderer.render(reset_mask=self.sim.fresh)
        frames.copy_(saved)  # in case recording also ran the work
        return capture.graph

    def _track_episodes(self, reward: torch.Tensor, done: torch.Tensor) -> None:
        nominal_reward = reward[:: self.sim.group_size]
        nominal_done = done[:: self.sim.group_size]
        self._episode_return += nominal_reward
        self._episode_length += 1.0
        self._term_sums += self.sim.reward_terms[:: self.sim.group_size].sum(0)
        self._finished[0] += torch.where(nominal_done, self._episode_return, 0.0).sum()
        self._finished[1] += torch.where(nominal_done, self._episode_length, 0.0).sum()
        self._finished[2] += nominal_done.sum()
        self._episode_return.masked_fill_(nominal_done, 0.0)
        self._episode_length.masked_fill_(nominal_done, 0.0)

    def rollout(self) -> None:
        """H steps of all worlds from the nominal states (DESIGN 3.1-3.2), filling the storage."""
        cfg, sim, s = self.cfg, self.sim, self.storage
        bounds = (-cfg.mean_bound, cfg.mean_bound)
        with self.timer.phase("rollout"):
            sim.reset_aux_from_nominal()
            for t in range(cfg.horizon):
                with nvtx_range("step"):
                    obs = self._observe()
                    s.obs[:, t] = obs
                    s.states[:, t] = sim.privileged_obs
                    with self.timer.phase("actor"), torch.no_grad():
                        mean, logstd = self.algo.actor(obs)
                    s.mean[:, t] = mean
                    s.logstd[:, t] = logstd
                    ops.sample_actions(
                        mean, logstd, cfg.num_aux, cfg.seed, self.epoch * cfg.horizon + t, bounds,
                        squashed_out=sim.action, out=(s.actions[:, t], s.eps[:, t]),
                    )
                    with self.timer.phase("physics"):
                        reward, terminated, truncated = sim.step()
                    s.next_values[:, t] = self.algo.target_values(sim.privileged_obs).masked_fill_(terminated, 0.0)
                    s.rewards[:, t] = reward
                    done = terminated | truncated
                    s.dones[:, t] = done.float()
                    self._track_episodes(reward, done)
                    sim.reset_done_episodes()
            s.dones[:, -1] = 1.0  # the horizon ends every trajectory; bootstrapped by next_values

    # -------------------------------------------------------------------------------- update

    def update(self) -> Dict[str, torch.Tensor]:
        """Returns, estimate, one actor step and the critic passes (DESIGN 3.3-3.6)."""
        cfg, s = self.cfg, self.storage
        self.algo.set_epoch(self.epoch)
        with self.timer.phase("estimate"):
            J = ops.td_lambda_returns(s.rewards, s.dones, s.next_values, cfg.gamma, cfg.lam, out=self._returns)
            ops.sdpg_targets(
                J, s.eps, s.mean, s.logstd, cfg.num_aux,
                mean_bounds=(-cfg.mean_bound, cfg.mean_bound),
                logstd_bounds=(cfg.logstd_min, cfg.logstd_max),
                top_k=cfg.top_k,
                out=(self._mean_target, self._logstd_target),
            )
        with self.timer.phase("actor_update"):
            obs = s.obs.flatten(0, 1)
            self.algo.actor.update_normalizer(obs)
            metrics = self.algo.update_actor(obs, self._mean_target.flatten(0, 1), self._logstd_target.flatten(0, 1))
        with self.timer.phase("critic_update"):
            if cfg.soft_critic:
                bonus = self.algo.entropy_reward(s.logstd.mean((0, 1)))
                J = ops.td_lambda_returns(s.rewards + bonus, s.dones, s.next_values, cfg.gamma, cfg.lam)
            states = s.states.flatten(0, 1)
            self.algo.critic.update_normalizer(states)
            metrics.update(self.algo.update_critic(states, J.flatten()))
        metrics["charts/return_to_go"] = J.mean()
        return metrics

    # --------------------------------------------------------------------------------- train

    # Set outside the epoch loop (signal handler, CLI); read between epochs only.
    stop_signal: Optional[int] = None
    """Signal number given to :meth:`request_stop`, or None."""
    saved_epoch: Optional[int] = None
    """Epoch of the newest checkpoint in ``run_dir`` (written or resumed from), or None."""
    last_episode_return: Optional[float] = None
    """Mean return of the nominal episodes that finished last (the console shows it between finishes)."""

    def request_stop(self, signum: int) -> None:
        """Ends training after the epoch in progress (or the next one, when the request comes
        while an epoch is being logged or saved), with a checkpoint. Only sets a flag, so it is
        safe in a signal handler (nothing is raised inside a Warp graph launch)."""
        self.stop_signal = signum

    @property
    def checkpoint_path(self) -> Optional[str]:
        return None if self.run_dir is None else os.path.join(self.run_dir, "checkpoint.pt")

    def train(self) -> list:
        """Runs epochs until ``cfg.epochs`` or :meth:`request_stop`; logs and checkpoints (every
        ``checkpoint_every`` epochs and at the last one); returns the per-epoch history.

        After every epoch one host read checks that the losses and network weights are finite;
        if not, it logs that epoch and raises :class:`TrainingDiverged` without saving, so the
        newest checkpoint stays the last good one.
        """
        cfg = self.cfg
        env_steps = cfg.horizon * self.sim.num_worlds
        start_epoch = self.epoch
        t_start = time.perf_counter()
        with wp.ScopedDevice(self.device), self._torch_stream():
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                with nvtx_range("epoch"):
                    self.rollout()
                    metrics = self.update()
                self.epoch += 1
                seconds = time.perf_counter() - t0
                bad = self._first_non_finite(metrics)
                stop = self.stop_signal is not None  # read once: a later request stops after the next epoch
                last = self.epoch == cfg.epochs or stop or bad is not None
                if self.epoch % cfg.log_every == 0 or last:
                    self._log(metrics, seconds, env_steps)
                if bad is not None:
                    raise TrainingDiverged(self.epoch, *bad)
                if self.run_dir and (self.epoch % cfg.checkpoint_every == 0 or last):
                    self.save(self.checkpoint_path)
                if stop:
                    break
        if self.epoch > start_epoch:
            print(f"done: {self.epoch - start_epoch} epochs in {time.perf_counter() - t_start:.1f} s", flush=True)
        return self.history

    def _first_non_finite(self, metrics: Dict[str, torch.Tensor]) -> Optional[tuple]:
        """(name, value) of the first of the epoch's losses and networks that is NaN or infinite, else None.

        The networks enter as their largest |weight| (parameters and normalizer statistics); all of it
        is gathered on the device and read back once.
        """
        names = [name for name in metrics if name.startswith("losses/")]
        values = [torch.as_tensor(metrics[name], dtype=torch.float32, device=self.device).reshape(()) for name in names]
        for name in ("actor", "critic", "target_critic"):
            tensors = [t for t in getattr(self.algo, name).state_dict().values() if t.is_floating_point()]
            values.append(torch.stack([torch.linalg.vector_norm(t.detach().float(), float("inf")) for t in tensors]).max())
            names.append(f"{name} weights")
        host = torch.stack(values).cpu().numpy()
        for name, value in zip(names, host):
            if not np.isfinite(value):
                return name, float(value)
        return None

    def _torch_stream(self):
        """On CUDA, Warp launches go on Torch's current stream so that the two stay ordered
        without host synchronization; on the CPU there is nothing to order."""
        if not self.device.startswith("cuda"):
            return contextlib.nullcontext()
        return wp.ScopedStream(wp.stream_from_torch(torch.cuda.current_stream(self.device)))

    def _log(self, metrics: Dict[str, torch.Tensor], seconds: float, env_steps: int) -> None:
        scalars = {name: float(value) for name, value in metrics.items()}
        finished = self._finished.cpu().numpy()
        steps_logged = max(self.epoch - (self.history[-1]["epoch"] if self.history else 0), 1) * self.cfg.horizon
        for name, total in zip(self.sim.task.reward_terms, self._term_sums.cpu().numpy()):
            scalars[f"rewards/{name}"] = float(total) / (steps_logged * self.cfg.num_nominal)
        if finished[2] > 0:
            scalars["charts/episode_return"] = float(finished[0] / finished[2])
            scalars["charts/episode_length"] = float(finished[1] / finished[2])
            self.last_episode_return = scalars["charts/episode_return"]
        scalars["charts/step_reward"] = float(self.storage.rewards[:: self.sim.group_size].mean())
        self._finished.zero_()
        self._term_sums.zero_()
        phases = self.timer.pop()
        scalars["perf/epoch_seconds"] = seconds
        scalars["perf/env_steps_per_s"] = env_steps / seconds
        for name, total in phases.items():
            scalars[f"perf/{name}_seconds"] = total
        scalars["epoch"] = self.epoch
        self.history.append(scalars)
        if self.writer is not None:
            for name, value in scalars.items():
                if name != "epoch":
                    self.writer.add_scalar(name, value, self.epoch)
        # Between finishes the console repeats the last finished episodes' mean (TensorBoard logs
        # a return only when episodes finished).
        ret = self.last_episode_return
        ret_text = f"return {ret:9.2f}" if ret is not None else "return       n/a"
        phase_text = " ".join(f"{k} {v:.2f}s" for k, v in phases.items())
        print(
            f"epoch {self.epoch:5d}/{self.cfg.epochs} | {ret_text} | step reward {scalars['charts/step_reward']:7.3f}"
            f" | std {scalars['charts/policy_std']:.3f} | {scalars['perf/env_steps_per_s']:8.0f} steps/s | {phase_text}",
            flush=True,
        )

    # --------------------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        return {
            "version": CHECKPOINT_VERSION,
            "config": dataclasses.asdict(self.cfg),
            "epoch": self.epoch,
            "algo": self.algo.state_dict(),
            "sim": self.sim.state_dict(),
            "frame_stack": None if self.renderer is None else wp.to_torch(self.renderer.stack).cpu().clone(),
            "episodes": {
                "return": self._episode_return.cpu().clone(),
                "length": self._episode_length.cpu().clone(),
                "last_return": self.last_episode_return,
            },
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.startswith("cuda") else None,
        }

    def save(self, path: str) -> None:
        """Writes the checkpoint atomically (temporary file flushed to disk, then rename)."""
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            torch.save(self.state_dict(), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        self.saved_epoch = self.epoch

    def load(self, path: str) -> None:
        """Restores the checkpoint file ``path`` (see :meth:`load_state_dict`)."""
        self.load_state_dict(read_checkpoint(path), path)

    def load_state_dict(self, state: dict, path: str = "checkpoint") -> None:
        """Restores what :func:`read_checkpoint` read, from a run with a compatible config (same
        task, obs and sizes); raises ValueError (naming ``path``) otherwise."""
        saved = state["config"]
        for key in ("task", "obs", "num_nominal", "num_aux", "horizon", "image_size", "frames",
                    "actor_hidden", "critic_hidden", "encoder_dim"):
            if tuple(np.atleast_1d(saved[key])) != tuple(np.atleast_1d(getattr(self.cfg, key))):
                raise ValueError(f"checkpoint {path} has {key}={saved[key]!r}, this run {getattr(self.cfg, key)!r}")
        self.algo.load_state_dict(state["algo"])
        self.sim.load_state_dict(state["sim"])
        if self.renderer is not None:
            wp.to_torch(self.renderer.stack).copy_(state["frame_stack"])
        self._episode_return.copy_(state["episodes"]["return"])
        self._episode_length.copy_(state["episodes"]["length"])
        self.last_episode_return = state["episodes"].get("last_return")
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.startswith("cuda"):
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.epoch = int(state["epoch"])
        self.saved_epoch = self.epoch
