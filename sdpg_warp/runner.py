"""The SDPG epoch loop (DESIGN section 3): rollout -> returns -> estimate -> actor and critic updates,
with per-phase timing, console progress, TensorBoard scalars and exact-resume checkpoints."""

import dataclasses
import os
import time
from typing import Dict, Optional

import numpy as np
import torch
import warp as wp

from sdpg_warp.config import TrainConfig
from sdpg_warp.device import ExecutionScope, configure_torch, resolve_device
from sdpg_warp.networks import Actor, Critic
from sdpg_warp.profiling import PhaseTimer, nvtx_range
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sdpg import SDPG
from sdpg_warp.sim import BatchedSim

CHECKPOINT_VERSION = 1


def build_policy(cfg: TrainConfig, device: str):
    """The simulator, renderer (None for state observations) and SDPG algorithm of a config."""
    torch.manual_seed(cfg.seed)
    sim = BatchedSim(cfg.task, cfg.num_nominal, cfg.num_aux, device=device, seed=cfg.seed, graph=cfg.graph,
                     deterministic=cfg.deterministic)
    sim.reset()
    renderer = None
    if cfg.obs == "state":
        obs_shape = (sim.obs_dim,)
    else:
        renderer = NominalRenderer(sim, cfg.image_size, cfg.image_size, cfg.frames, cfg.obs, graph=cfg.graph)
        obs_shape = tuple(renderer.stack.shape[1:])
    actor = Actor.from_config(cfg, obs_shape, sim.num_actions)
    critic = Critic.from_config(cfg, sim.obs_dim)
    if cfg.channels_last and device.startswith("cuda") and cfg.obs != "state":
        actor.encoder.use_channels_last()
    algo = SDPG(actor, critic, cfg, device)
    algo.init_storage(cfg.num_nominal, cfg.num_aux, obs_shape, torch.uint8 if cfg.obs == "rgb" else torch.float32,
                      sim.obs_dim, sim.num_actions)
    return sim, renderer, algo


class Runner:
    """Trains SDPG on one task. ``Runner(cfg).train()``; see ``sdpg_warp.train`` for the CLI."""

    def __init__(self, cfg: TrainConfig, run_dir: Optional[str] = None, writer=None):
        cfg.validate()
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self.run_dir = run_dir
        self.writer = writer
        configure_torch(self.device, cfg.deterministic, cfg.tf32, cfg.cudnn_benchmark)
        # Every launch and Torch op of the run, graph recordings included, goes through this scope.
        self.scope = ExecutionScope(self.device)
        with self.scope:
            self._build()

    def _build(self) -> None:
        cfg = self.cfg
        self.sim, self.renderer, self.algo = build_policy(cfg, self.device)
        N = cfg.num_nominal
        self.timer = PhaseTimer(self.device, synchronize=cfg.sync_timing_on(self.device))
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
            return self.renderer.render_step()

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
        """H steps of every world (docs/DESIGN.md section 3, steps 1-2); the algorithm keeps what it
        needs of each."""
        sim, algo = self.sim, self.algo
        algo.epoch = self.epoch
        with self.scope, self.timer.phase("rollout"):
            algo.start_rollout(sim)
            for t in range(self.cfg.horizon):
                with nvtx_range("step"):
                    obs = self._observe()
                    with self.timer.phase("actor"):
                        algo.act(t, obs, sim.privileged_obs, action_out=sim.action)
                    with self.timer.phase("physics"):
                        reward, terminated, truncated = sim.step()
                    algo.process_env_step(t, reward, sim.privileged_obs, terminated)
                    self._track_episodes(reward, terminated | truncated)
                    sim.reset_done_episodes()
                    algo.process_dones(t, sim.done)

    def update(self) -> Dict[str, torch.Tensor]:
        """The algorithm learns from the epoch's rollout (docs/DESIGN.md section 3, steps 3-7)."""
        self.algo.epoch = self.epoch
        with self.scope:
            return self.algo.update(self.timer)

    # --------------------------------------------------------------------------------- train

    def train(self) -> list:
        """Runs epochs until ``cfg.epochs``; logs, checkpoints; returns the per-epoch history."""
        cfg = self.cfg
        env_steps = cfg.horizon * self.sim.num_worlds
        start_epoch = self.epoch
        t_start = time.perf_counter()
        with self.scope:
            while self.epoch < cfg.epochs:
                t0 = time.perf_counter()
                with nvtx_range("epoch"):
                    self.rollout()
                    metrics = self.update()
                self.epoch += 1
                seconds = time.perf_counter() - t0
                if self.epoch % cfg.log_every == 0 or self.epoch == cfg.epochs:
                    self._log(metrics, seconds, env_steps)
                if self.run_dir and (self.epoch % cfg.checkpoint_every == 0 or self.epoch == cfg.epochs):
                    self.save(os.path.join(self.run_dir, "checkpoint.pt"))
        if self.epoch > start_epoch:
            print(f"done: {self.epoch - start_epoch} epochs in {time.perf_counter() - t_start:.1f} s")
        return self.history

    def _warn_overflow(self) -> None:
        """Once per logging step (a device read): worlds that lost contacts to the budget."""
        count = self.sim.pop_overflow()
        if count:
            task = self.sim.task
            print(f"warning: {count} world(s) overflowed task {self.cfg.task}'s contact/constraint budget "
                  f"(max_contacts={task.max_contacts}, max_constraints={task.max_constraints} per world) since "
                  f"the last log; contacts were dropped at random. Raise the budget in the task's class "
                  f"(sdpg_warp/tasks/).", flush=True)

    def _log(self, metrics: Dict[str, torch.Tensor], seconds: float, env_steps: int) -> None:
        self._warn_overflow()
        scalars = {name: float(value) for name, value in metrics.items()}
        finished = self._finished.cpu().numpy()
        steps_logged = max(self.epoch - (self.history[-1]["epoch"] if self.history else 0), 1) * self.cfg.horizon
        for name, total in zip(self.sim.task.reward_terms, self._term_sums.cpu().numpy()):
            scalars[f"rewards/{name}"] = float(total) / (steps_logged * self.cfg.num_nominal)
        if finished[2] > 0:
            scalars["charts/episode_return"] = float(finished[0] / finished[2])
            scalars["charts/episode_length"] = float(finished[1] / finished[2])
        scalars["charts/step_reward"] = float(self.algo.storage.rewards[:: self.sim.group_size].mean())
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
        ret = scalars.get("charts/episode_return")
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
            },
            "torch_rng": torch.get_rng_state(),
        }

    def save(self, path: str) -> None:
        """Writes the checkpoint atomically (temporary file, then rename)."""
        tmp = f"{path}.tmp"
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)

    def load(self, path: str) -> None:
        """Restores a checkpoint of a run with a compatible config (same task, obs and sizes)."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{path} is not an sdpg_warp checkpoint of version {CHECKPOINT_VERSION}")
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
        torch.set_rng_state(state["torch_rng"])
        self.epoch = int(state["epoch"])
