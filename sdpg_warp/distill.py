"""Teacher-student distillation with DAgger, the paper's distillation baseline (docs/DESIGN.md
section 8), on the same simulator, networks and Runner as SDPG.

A pixel student acts in ``num_envs`` independent, rendered worlds (with probability beta a world
takes the teacher's action instead, DAgger's mixture, decaying to 0); the teacher, a trained
state-observation actor of the same task (SDPG or PPO), labels every visited state with its
deterministic action. Student observations and labels go into a replay buffer on the device; the
student regresses its pre-tanh mean onto the teacher's (MSE) on uniform minibatches of it, as the
authors' teacher-student agent does (Adam betas (0.7, 0.95), learning rate decaying linearly to 1e-5).
"""

from typing import Dict, Union

import torch
import torch.nn.functional as F
from torch import nn

from sdpg_warp.algorithm import Algorithm, make_actor
from sdpg_warp.checkpoint import load_teacher
from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor
from sdpg_warp.storage import ReplayBuffer

Scalar = Union[float, torch.Tensor]

ADAM_BETAS = (0.7, 0.95)
"""The student's Adam betas (the authors' teacher-student config)."""
LR_END = 1e-5
"""The student's learning rate at the end of its linear schedule."""
LOSS_CHECK_EVERY = 50
"""Updates between two reads of the imitation loss against ``distill_loss_threshold``."""


def imitation_loss(student_mean: torch.Tensor, teacher_mean: torch.Tensor) -> torch.Tensor:
    """mse(student pre-tanh mean, teacher pre-tanh mean); both [B, d]."""
    return F.mse_loss(student_mean, teacher_mean.detach())


def beta_at(epoch: int, beta: float, decay_epochs: int) -> float:
    """DAgger's teacher probability at ``epoch``: beta * (1 - epoch / decay_epochs), 0 from
    ``decay_epochs`` on (0 throughout when decay_epochs = 0)."""
    if decay_epochs <= 0:
        return 0.0
    return beta * max(0.0, 1.0 - epoch / decay_epochs)


def student_lr_at(epoch: int, lr: float, schedule_epochs: int) -> float:
    """LR_END + (lr - LR_END) * (1 - epoch / schedule_epochs), LR_END from the schedule's end."""
    return LR_END + (lr - LR_END) * max(0.0, 1.0 - epoch / schedule_epochs)


class Distill(Algorithm):
    """The student (an :class:`Actor` on images), the frozen teacher (an :class:`Actor` on the
    privileged state), the student's Adam, the replay buffer and a generator for the mixture and
    the minibatches.

    Under torchrun (sdpg_warp/distributed.py) every rank fills its own replay buffer and draws its own
    minibatches (generator seeded per rank); each update's gradients are averaged over the ranks, and
    the early stop reads the loss averaged over them, so every rank stops at the same update.
    """

    rank_local_state = ("generator", "buffer_obs", "buffer_labels")
    rank_shard_state = ("buffer_obs", "buffer_labels")  # ~6 GiB per rank at the defaults
    storage_name = "replay buffer"

    def __init__(self, student: Actor, teacher: Actor, cfg: TrainConfig, device: Union[str, torch.device]):
        self.cfg = cfg
        self.device = torch.device(device)
        self.actor = student.to(self.device)
        self.teacher = teacher.to(self.device).eval().requires_grad_(False)
        fused = cfg.fused_adam and self.device.type == "cuda"
        self.optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.distill_lr, betas=ADAM_BETAS, fused=fused)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.epoch = 0
        self.written = 0  # samples ever written to the buffer: a host count, no device read

    @classmethod
    def build(cls, cfg: TrainConfig, sim, obs_shape, obs_dtype: torch.dtype, device: str) -> "Distill":
        student = make_actor(cfg, sim, obs_shape, device)
        _, teacher = load_teacher(cfg)
        algo = cls(student, teacher, cfg, device)
        algo.init_storage(obs_shape, obs_dtype, sim.state_dim, sim.num_actions)
        return algo

    @classmethod
    def allocate_storage(cls, cfg: TrainConfig, obs_shape, obs_dtype: torch.dtype, state_dim: int, num_actions: int,
                         device) -> ReplayBuffer:
        return ReplayBuffer.allocate(cfg.distill_buffer, num_actions, obs_shape, obs_dtype, device)

    @classmethod
    def flags_to_lower(cls, cfg: TrainConfig, sizes: Dict[str, int]) -> str:
        return "--distill-buffer"

    def init_storage(self, obs_shape, obs_dtype: torch.dtype, state_dim: int, num_actions: int) -> None:
        """Allocates the replay buffer of ``distill_buffer`` samples (once)."""
        super().init_storage(obs_shape, obs_dtype, state_dim, num_actions)
        self.obs, self.labels = self.storage.obs, self.storage.labels
        self.num_envs, _ = self.cfg.world_layout()
        self._teacher_acts = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)

    def networks(self) -> Dict[str, nn.Module]:
        return {"actor": self.actor}

    @property
    def size(self) -> int:
        """Samples held by the replay buffer."""
        return min(self.written, self.cfg.distill_buffer)

    # ------------------------------------------------------------------------- rollout side

    @torch.no_grad()
    def act(self, t: int, obs: torch.Tensor, states: torch.Tensor, action_out: torch.Tensor) -> None:
        """The student acts on ``obs`` (the teacher in a beta-fraction of worlds); the teacher's
        deterministic pre-tanh mean on ``states`` is stored as the label of ``obs``."""
        student_mean, _ = self.actor(obs)
        teacher_mean, _ = self.teacher(states)
        rows = (self.written + torch.arange(self.num_envs, device=self.device)) % self.cfg.distill_buffer
        self.obs[rows] = obs
        self.labels[rows] = teacher_mean
        self.written += self.num_envs
        beta = beta_at(self.epoch, self.cfg.distill_beta, self.cfg.distill_beta_epochs)
        if beta > 0.0:
            self._teacher_acts.copy_(torch.rand(self.num_envs, generator=self.generator, device=self.device) < beta)
            student_mean = torch.where(self._teacher_acts[:, None], teacher_mean, student_mean)
        torch.tanh(student_mean, out=action_out)

    def process_env_step(self, t: int, reward: torch.Tensor, next_states: torch.Tensor,
                         terminated: torch.Tensor) -> None:
        """Nothing: DAgger learns from labels, not rewards."""

    def process_dones(self, t: int, done: torch.Tensor) -> None:
        """Nothing: samples are independent."""

    # -------------------------------------------------------------------------- learning side

    def update(self, timer) -> Dict[str, Scalar]:
        """Once the buffer holds ``distill_learning_starts`` samples: up to ``distill_updates``
        Adam steps on uniform minibatches, stopping early below ``distill_loss_threshold``."""
        cfg = self.cfg
        lr = student_lr_at(self.epoch, cfg.distill_lr, cfg.schedule_epochs or cfg.epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        metrics: Dict[str, Scalar] = {"charts/learning_rate": lr,
                                      "charts/beta": beta_at(self.epoch, cfg.distill_beta, cfg.distill_beta_epochs),
                                      "charts/buffer_size": float(self.size)}
        if self.size < cfg.distill_learning_starts:
            return metrics
        losses = []
        with timer.phase("student_update"):
            for step in range(cfg.distill_updates):
                idx = torch.randint(0, self.size, (cfg.distill_batch,), generator=self.generator, device=self.device)
                mean, _ = self.actor(self.obs[idx])
                loss = imitation_loss(mean, self.labels[idx])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.parallel.average_gradients(self.actor.parameters())
                nn.utils.clip_grad_norm_(self.actor.parameters(), cfg.grad_clip)
                self.optimizer.step()
                losses.append(loss.detach())
                if cfg.distill_loss_threshold > 0.0 and (step + 1) % LOSS_CHECK_EVERY == 0:
                    # One device read per LOSS_CHECK_EVERY updates, of the loss averaged over the ranks.
                    if float(self.parallel.average(loss.detach())) < cfg.distill_loss_threshold:
                        break
        metrics["losses/imitation"] = torch.stack(losses).mean()
        metrics["charts/student_updates"] = float(len(losses))
        return metrics

    # ----------------------------------------------------------------------------- checkpoint

    def state_dict(self) -> dict:
        """Student, teacher, optimizer, generator, epoch and the buffer's filled part (resume is exact)."""
        size = self.size
        return {
            "actor": self.actor.state_dict(),
            "teacher": self.teacher.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
            "written": self.written,
            "buffer_obs": self.obs[:size],
            "buffer_labels": self.labels[:size],
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.teacher.load_state_dict(state["teacher"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.epoch = int(state["epoch"])
        self.written = int(state["written"])
        size = self.size
        if tuple(state["buffer_obs"].shape) != (size, *self.obs.shape[1:]):
            raise ValueError(f"replay buffer of {tuple(state['buffer_obs'].shape)} does not fit "
                             f"{(size, *self.obs.shape[1:])}")
        self.obs[:size] = state["buffer_obs"]
        self.labels[:size] = state["buffer_labels"]
