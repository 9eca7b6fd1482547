"""The SDPG algorithm (docs/DESIGN.md sections 3-4): perturbed acting during the rollout, then the
update: actor regression onto the estimator's targets with an entropy bonus, temperature
auto-tuning, critic regression onto TD(lambda) returns, Polyak target network, learning-rate
schedules. The loop lives in runner.py, the kernels behind ``ops`` in kernels/.

One equation, one pure function (tensors and floats in, no config); :class:`SDPG` holds the networks,
optimizers and the random state of the minibatch shuffles, and is checkpointed whole by ``state_dict``.
"""

import copy
import math
from typing import Dict, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from sdpg_warp import ops
from sdpg_warp.algorithm import Algorithm, build_actor_critic
from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor, Critic
from sdpg_warp.storage import RolloutStorage

Scalar = Union[float, torch.Tensor]

CRITIC_LR_END = 0.1
"""The linear critic schedule ends at this fraction of ``critic_lr`` (the authors' end factor)."""


# ---------------------------------------------------------------------------------------------------
# Losses (pure)


def actor_loss(mean: torch.Tensor, logstd: torch.Tensor, mean_target: torch.Tensor,
               logstd_target: torch.Tensor, alpha: Scalar,
               row_weight: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
    """actor = mse(mu, mu_target) + mse(logstd, logstd_target) - alpha * mean(logstd).

    mean, mean_target, logstd_target: [B, d]; logstd: [d] (state-independent, broadcast over B) or
    [B, d]; alpha: the temperature, a constant here (a tensor is detached: the actor loss does not
    train it). row_weight: optional [B] weights of the rows in both mse terms (each term is then
    mean(row_weight[:, None] * squared error)). Returns (scalar loss, parts: ``mean``, ``logstd``
    (the two mse terms) and ``entropy`` (-alpha * mean(logstd)), all detached).
    """
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach()
    logstd = logstd.expand_as(logstd_target)
    if row_weight is None:
        mean_loss = F.mse_loss(mean, mean_target)
        logstd_loss = F.mse_loss(logstd, logstd_target)
    else:
        mean_loss = (row_weight[:, None] * (mean - mean_target).square()).mean()
        logstd_loss = (row_weight[:, None] * (logstd - logstd_target).square()).mean()
    entropy_loss = -alpha * logstd.mean()
    loss = mean_loss + logstd_loss + entropy_loss
    parts = {"mean": mean_loss.detach(), "logstd": logstd_loss.detach(), "entropy": entropy_loss.detach()}
    return loss, parts


def temperature_loss(log_alpha: torch.Tensor, logstd: torch.Tensor, target_std: float) -> torch.Tensor:
    """temp = alpha * mean(exp(logstd).detach() - target_std), alpha = exp(log_alpha).

    log_alpha: scalar parameter; logstd: [d] or [B, d] (detached here). Sign: d temp / d log_alpha =
    alpha * (mean std - target_std), so gradient descent raises alpha while the policy std is below
    the target (a larger alpha strengthens the actor's -alpha * mean(logstd) term, which pushes the
    std up) and lowers it while the std is above: the std is steered toward ``target_std``.
    """
    alpha = log_alpha.exp()
    return alpha * (logstd.detach().exp() - target_std).mean()


def critic_loss(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """critic = mse(V(s), J) over the finite targets; values, targets: [S] (targets carry no gradient).

    A non-finite J (a blown-up world's return, left out of its group's estimate too) contributes
    neither loss nor gradient: its target is replaced by the value itself before the square, since
    masking (V - NaN)^2 afterwards would still send NaN * 0 = NaN through the gradient. All targets
    finite: the plain mean squared error.
    """
    targets = targets.detach()
    finite = torch.isfinite(targets)
    safe = torch.where(finite, targets, values.detach())
    return (values - safe).square().sum() / finite.sum().clamp(min=1)


def entropy_reward(logstd: torch.Tensor, alpha: Scalar, target_std: float) -> torch.Tensor:
    """Soft-critic reward bonus r_ent = alpha * mean(logstd - log(target_std)) over the action dim.

    logstd: [..., d] -> [...] (a 0-dim tensor for the state-independent log-std [d]). Zero at the
    target std. With a state-independent log-std it is the same offset for every state.
    """
    if isinstance(alpha, torch.Tensor):
        alpha = alpha.detach()
    return alpha * (logstd.detach() - math.log(target_std)).mean(dim=-1)


def critic_minibatch_size(num_states: int, largest: int, fewest_minibatches: int) -> int:
    """The critic's minibatch: at most ``largest`` samples, and small enough that one pass over
    ``num_states`` takes at least ``fewest_minibatches`` steps (never below one sample)."""
    return max(1, min(largest, -(-num_states // fewest_minibatches)))


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak update p_target = tau * p_target + (1 - tau) * p, in place, for every parameter.

    Note the convention: ``tau`` weighs the OLD target (tau = 0 copies the source, tau = 1 freezes
    the target). Buffers (normalizer statistics) are not learned weights: they are copied.
    """
    for (name_t, p_t), (name_s, p_s) in zip(target.named_parameters(), source.named_parameters(), strict=True):
        if name_t != name_s:
            raise ValueError(f"soft_update: parameter {name_t!r} of target faces {name_s!r} of source")
        p_t.mul_(tau).add_(p_s, alpha=1.0 - tau)
    for b_t, b_s in zip(target.buffers(), source.buffers(), strict=True):
        b_t.copy_(b_s)


# ---------------------------------------------------------------------------------------------------
# Learning-rate schedules


def schedule_length(cfg: TrainConfig) -> int:
    """Epochs the learning-rate schedules span: ``cfg.schedule_epochs``, or ``cfg.epochs`` when unset
    (the CLI fixes it when a run starts, so resuming with more epochs keeps the curve)."""
    return cfg.schedule_epochs if cfg.schedule_epochs is not None else cfg.epochs


def actor_lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Actor learning rate at ``epoch`` (0-based).

    Linear warm-up lr = actor_lr * epoch / W for epoch < W = actor_warmup_epochs (so epoch 0 has lr 0),
    then cosine lr = lr_min + (actor_lr - lr_min) * (1 + cos(pi * (epoch - W) / (S - W))) / 2,
    reaching lr_min = actor_lr_min at S = ``schedule_length(cfg)``. Past S the rate stays at its value
    at S: lr_min, or, when the warm-up is longer than the schedule (W > S), actor_lr * S / W, where
    the warm-up had got to (a resumed run with more epochs must not warm up on past its schedule).
    """
    length = schedule_length(cfg)
    epoch = min(epoch, length)
    warmup = cfg.actor_warmup_epochs
    if epoch < warmup:
        return cfg.actor_lr * epoch / warmup
    span = length - warmup
    progress = min(1.0, (epoch - warmup) / span) if span > 0 else 1.0
    return cfg.actor_lr_min + (cfg.actor_lr - cfg.actor_lr_min) * 0.5 * (1.0 + math.cos(math.pi * progress))


def critic_lr_at(epoch: int, cfg: TrainConfig) -> float:
    """Critic learning rate at ``epoch``: constant ``critic_lr``, or (``critic_lr_schedule="linear"``)
    critic_lr * (1 - (1 - CRITIC_LR_END) * epoch / S), reaching CRITIC_LR_END * critic_lr at
    S = ``schedule_length(cfg)`` and staying there."""
    if cfg.critic_lr_schedule == "constant":
        return cfg.critic_lr
    if cfg.critic_lr_schedule == "linear":
        return cfg.critic_lr * (1.0 - (1.0 - CRITIC_LR_END) * min(1.0, epoch / schedule_length(cfg)))
    raise ValueError(f"unknown critic_lr_schedule {cfg.critic_lr_schedule!r}; choose constant or linear")


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def _actor_param_groups(actor: Actor, encoder_lr_scale: float) -> list:
    """The image encoder learns at ``encoder_lr_scale`` times the actor's rate (default 1).

    A knob for large-fan-in encoders under noisy targets: Adam moves every weight by about the
    learning rate whatever the gradient's size, which can let the image-independent part of the
    encoder's output grow and the LayerNorm squeeze out what tells images apart.
    """
    encoder = list(actor.encoder.parameters()) if hasattr(actor, "encoder") else []
    encoder_ids = {id(p) for p in encoder}
    rest = [p for p in actor.parameters() if id(p) not in encoder_ids]
    groups = [{"params": rest, "lr_scale": 1.0}]
    if encoder:
        groups.append({"params": encoder, "lr_scale": encoder_lr_scale})
    return groups


# ---------------------------------------------------------------------------------------------------
# The algorithm


class SDPG(Algorithm):
    """Holds the actor, critic, target critic, their Adam optimizers, the log-temperature and the
    rollout storage (after :meth:`init_storage`).

    The Runner drives it through the :class:`~sdpg_warp.algorithm.Algorithm` calls; :meth:`update`
    runs the epoch's learning (docs/DESIGN.md section 3, steps 3-7): TD(lambda) returns, the
    per-nominal estimate, ``update_actor`` once on the N*H nominal observations, ``update_critic``
    once on all N*(M+1)*H privileged states, then the normalizer statistics (frozen until then).
    The target critic shares the critic's normalizer, so both see the same normalized states.

    Metrics come back as detached 0-dim tensors (no host sync; ``float()`` them when logging) under
    CleanRL-style names ``losses/...`` and ``charts/...``; learning rates as floats.

    Under torchrun (sdpg_warp/distributed.py) each step's gradients of actor, critic and temperature
    are averaged over the ranks before clipping, and the normalizers merge every rank's batch; the
    shuffle generator, seeded per rank, is the rank's own.
    """

    rank_local_state = ("generator",)

    def __init__(self, actor: Actor, critic: Critic, cfg: TrainConfig, device: Union[str, torch.device]):
        self.cfg = cfg
        self.device = torch.device(device)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.target_critic.obs_rms = self.critic.obs_rms
        fused = cfg.fused_adam and self.device.type == "cuda"
        self.actor_optimizer = torch.optim.Adam(_actor_param_groups(self.actor, cfg.encoder_lr_scale), lr=cfg.actor_lr,
                                                fused=fused)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr, fused=fused)
        self.actor_chunk = cfg.actor_chunk_on(str(self.device))
        # alpha = 0 disables the entropy term outright (log 0 cannot be tuned).
        self.log_alpha: Optional[nn.Parameter] = None
        self.alpha_optimizer: Optional[torch.optim.Optimizer] = None
        if cfg.auto_alpha and cfg.alpha > 0.0:
            self.log_alpha = nn.Parameter(torch.tensor(math.log(cfg.alpha), device=self.device))
            self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self._fixed_alpha = torch.tensor(float(cfg.alpha), device=self.device)
        # Own generator: minibatch order depends only on cfg.seed and is checkpointed with the rest.
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.storage: Optional[RolloutStorage] = None
        self.epoch = 0
        self.set_epoch(0)

    def load_kernels(self) -> None:
        ops.load_kernels(self.device)

    @classmethod
    def resume_lines(cls, saved: TrainConfig, cfg: TrainConfig, checkpoint_epoch: int) -> list:
        """The actor's and critic's learning-rate schedules after the resume."""
        length, old_length = schedule_length(cfg), schedule_length(saved)
        if length != old_length:
            return [f"learning-rate schedules now span {length} epochs (were {old_length}): the actor lr of epoch "
                    f"{checkpoint_epoch + 1} goes from {actor_lr_at(checkpoint_epoch, saved):.3g} to "
                    f"{actor_lr_at(checkpoint_epoch, cfg):.3g}, the critic's from "
                    f"{critic_lr_at(checkpoint_epoch, saved):.3g} to {critic_lr_at(checkpoint_epoch, cfg):.3g}"]
        if cfg.epochs > length:
            return [f"learning-rate schedules keep their length of {length} epochs (--schedule-epochs changes it): "
                    f"past epoch {length} the actor lr stays at {actor_lr_at(length, cfg):.3g} and the critic lr "
                    f"at {critic_lr_at(length, cfg):.3g}"]
        return []

    @classmethod
    def build(cls, cfg: TrainConfig, sim, obs_shape, obs_dtype: torch.dtype, device: str) -> "SDPG":
        return build_actor_critic(cls, cfg, sim, obs_shape, obs_dtype, device)

    @classmethod
    def allocate_storage(cls, cfg: TrainConfig, obs_shape, obs_dtype: torch.dtype, state_dim: int, num_actions: int,
                         device) -> RolloutStorage:
        num_nominal, num_aux = cfg.world_layout()
        return RolloutStorage.allocate(num_nominal, num_aux, cfg.horizon, num_actions, obs_shape, obs_dtype, state_dim,
                                       device)

    @classmethod
    def flags_to_lower(cls, cfg: TrainConfig, sizes: Dict[str, int]) -> str:
        if sizes["storage_obs"] >= sizes["storage_other"]:
            return "--num-nominal or --horizon" + (" (or --image-size)" if cfg.obs != "state" else "")
        return "--num-aux, --num-nominal or --horizon"

    def init_storage(self, obs_shape, obs_dtype: torch.dtype, state_dim: int, num_actions: int) -> None:
        """Allocates the rollout storage and the estimate's outputs (once; addresses stay fixed)."""
        super().init_storage(obs_shape, obs_dtype, state_dim, num_actions)
        num_nominal, self.num_aux = self.cfg.world_layout()
        H = self.cfg.horizon
        self.mean_target = torch.zeros(num_nominal, H, num_actions, device=self.device)
        self.logstd_target = torch.zeros_like(self.mean_target)
        self.returns = torch.zeros(num_nominal * (self.num_aux + 1), H, device=self.device)
        self.non_finite = torch.zeros(num_nominal, H, dtype=torch.int32, device=self.device)

    def networks(self) -> Dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic, "target_critic": self.target_critic}

    # ------------------------------------------------------------------------- rollout side

    def start_rollout(self, sim) -> None:
        """Every auxiliary world takes its nominal's state (docs/DESIGN.md section 3, step 1)."""
        sim.reset_aux_from_nominal()

    @torch.no_grad()
    def act(self, t: int, obs: torch.Tensor, states: torch.Tensor, action_out: torch.Tensor) -> None:
        """Nominal worlds act with the actor's mean, auxiliaries with perturbed actions (step 2.3);
        ``tanh`` of them goes straight into ``action_out``."""
        s, cfg = self.storage, self.cfg
        s.obs[:, t] = obs
        s.states[:, t] = states
        mean, logstd = self.actor(obs)
        s.mean[:, t] = mean
        s.logstd[:, t] = logstd
        # From the storage's slices, not the actor's fresh tensors: the same addresses every epoch,
        # so the sampler replays its recorded launch for step t (ops._RecordedLaunches).
        ops.sample_actions(s.mean[:, t], s.logstd[:, t], self.num_aux, cfg.seed, self.epoch * cfg.horizon + t,
                           (-cfg.mean_bound, cfg.mean_bound), squashed_out=action_out,
                           out=(s.actions[:, t], s.eps[:, t]))

    @torch.no_grad()
    def process_env_step(self, t: int, reward: torch.Tensor, next_states: torch.Tensor,
                         terminated: torch.Tensor) -> None:
        """Reward and the target critic's value of the next state, 0 where terminated (step 2.5)."""
        self.storage.rewards[:, t] = reward
        self.storage.next_values[:, t] = self.target_values(next_states).masked_fill_(terminated, 0.0)

    def process_dones(self, t: int, done: torch.Tensor) -> None:
        """Trajectory ends after the resets (step 2.6); the horizon ends every trajectory."""
        if t == self.cfg.horizon - 1:
            self.storage.dones[:, t] = 1.0  # bootstrapped by next_values
        else:
            self.storage.dones[:, t] = done

    # -------------------------------------------------------------------------- learning side

    def update(self, timer) -> Dict[str, Scalar]:
        """Returns, estimate, one actor step, the critic passes, then the normalizer statistics
        (docs/DESIGN.md section 3, steps 3-7)."""
        cfg, s = self.cfg, self.storage
        self.set_epoch(self.epoch)
        with timer.phase("estimate"):
            J = ops.td_lambda_returns(s.rewards, s.dones, s.next_values, cfg.gamma, cfg.lam, out=self.returns)
            ops.sdpg_targets(
                J, s.eps, s.mean, s.logstd, self.num_aux,
                mean_bounds=(-cfg.mean_bound, cfg.mean_bound),
                logstd_bounds=(cfg.logstd_min, cfg.logstd_max),
                top_k=cfg.top_k,
                out=(self.mean_target, self.logstd_target),
                non_finite_out=self.non_finite,
            )
            # A step whose nominal return is not finite has no estimate: no weight in the loss.
            kept = torch.isfinite(J[:: self.num_aux + 1]).flatten()
        obs, states = s.obs.flatten(0, 1), s.states.flatten(0, 1)
        with timer.phase("actor_update"):
            metrics = self.update_actor(obs, self.mean_target.flatten(0, 1), self.logstd_target.flatten(0, 1), kept)
        with timer.phase("critic_update"):
            if cfg.soft_critic:
                bonus = self.entropy_reward(s.logstd.mean((0, 1)))
                J = ops.td_lambda_returns(s.rewards + bonus, s.dones, s.next_values, cfg.gamma, cfg.lam)
            metrics.update(self.update_critic(states, J.flatten()))
        # Frozen through the epoch (rollout, targets and both updates saw one normalization).
        self.actor.update_normalizer(obs, self.parallel.combine_moments)
        self.critic.update_normalizer(states, self.parallel.combine_moments)
        metrics["charts/return_to_go"] = J.mean()
        metrics["charts/step_reward"] = s.rewards[:: self.num_aux + 1].mean()  # the nominal worlds
        metrics["sdpg/non_finite_samples"] = self.non_finite.sum()
        return metrics

    @property
    def alpha(self) -> torch.Tensor:
        """Current entropy temperature, a detached 0-dim tensor (cfg.alpha when not auto-tuned)."""
        if self.log_alpha is not None:
            return self.log_alpha.detach().exp()
        return self._fixed_alpha

    def set_epoch(self, epoch: int) -> None:
        """Sets the actor and critic learning rates of ``epoch`` from the schedules."""
        self.epoch = epoch
        _set_lr(self.actor_optimizer, actor_lr_at(epoch, self.cfg))
        _set_lr(self.critic_optimizer, critic_lr_at(epoch, self.cfg))

    @torch.no_grad()
    def target_values(self, states: torch.Tensor) -> torch.Tensor:
        """V_target(s): states [B, state_dim] -> [B], no gradient."""
        return self.target_critic(states)

    def entropy_reward(self, logstd: torch.Tensor) -> torch.Tensor:
        """Soft-critic reward bonus at the current temperature: logstd [..., d] -> [...]
        (add it to the critic's rewards when ``cfg.soft_critic``)."""
        return entropy_reward(logstd, self.alpha, self.cfg.target_std)

    def update_actor(self, obs: torch.Tensor, mean_target: torch.Tensor, logstd_target: torch.Tensor,
                     kept: Optional[torch.Tensor] = None) -> Dict[str, Scalar]:
        """One Adam step of the actor loss on the whole batch, then one temperature step (auto alpha).

        obs [B, ...] (the actor's observations), mean_target [B, d], logstd_target [B, d].
        kept: optional [B] bool, False for rows without an estimate (a non-finite nominal return):
        the regression terms are then the mean over the kept rows only, so a skipped row neither
        moves the actor nor dilutes the others' step (rows weighted B / #kept, on the device).
        The batch goes through the network in chunks of ``actor_chunk`` rows whose gradients
        add up to the whole batch's (the loss is a mean, so chunk i is weighted b_i / B; the actor
        has no batch-coupled layer): the same step, with activation memory bounded by one chunk.
        """
        alpha = self.alpha
        batch = obs.shape[0]
        row_weight = None
        if kept is not None:
            row_weight = kept.float() * (batch / kept.sum().clamp(min=1).float())
        self.actor_optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros((), device=self.device)
        parts = {"mean": 0.0, "logstd": 0.0, "entropy": 0.0}
        for start in range(0, batch, self.actor_chunk):
            rows = slice(start, min(start + self.actor_chunk, batch))
            weight = (rows.stop - rows.start) / batch
            mean, logstd = self.actor(obs[rows])
            chunk_loss, chunk_parts = actor_loss(mean, logstd, mean_target[rows], logstd_target[rows], alpha,
                                                 None if row_weight is None else row_weight[rows])
            (weight * chunk_loss).backward()
            loss = loss + weight * chunk_loss.detach()
            parts = {name: parts[name] + weight * value for name, value in chunk_parts.items()}
        self.parallel.average_gradients(self.actor.parameters())
        grad_norm = nn.utils.clip_grad_norm_(self.actor.parameters(), self.cfg.grad_clip)
        self.actor_optimizer.step()
        self.actor.project_logstd_()
        metrics: Dict[str, Scalar] = {
            "losses/actor": loss.detach(),
            "losses/actor_mean": parts["mean"],
            "losses/actor_logstd": parts["logstd"],
            "losses/actor_entropy": parts["entropy"],
            "charts/actor_grad_norm": grad_norm.detach(),
            "charts/policy_std": logstd.detach().exp().mean(),
            "charts/alpha": alpha,
            "charts/actor_lr": self.actor_optimizer.param_groups[0]["lr"],
        }
        if self.log_alpha is not None:
            temp_loss = temperature_loss(self.log_alpha, logstd, self.cfg.target_std)
            self.alpha_optimizer.zero_grad(set_to_none=True)
            temp_loss.backward()
            self.parallel.average_gradients([self.log_alpha])
            self.alpha_optimizer.step()
            metrics["losses/temperature"] = temp_loss.detach()
        return metrics

    def update_critic(self, states: torch.Tensor, targets: torch.Tensor) -> Dict[str, Scalar]:
        """``critic_iterations`` passes over shuffled minibatches (``critic_minibatch_size``; the last
        one of a pass may be smaller), one clipped Adam step each; then one soft update of the target.

        states [S, state_dim], targets [S] (TD(lambda) returns J).
        """
        num_states = states.shape[0]
        minibatch = critic_minibatch_size(num_states, self.cfg.critic_minibatch, self.cfg.critic_minibatches)
        losses, grad_norms = [], []
        for _ in range(self.cfg.critic_iterations):
            order = torch.randperm(num_states, generator=self.generator, device=self.device)
            for start in range(0, num_states, minibatch):
                idx = order[start:start + minibatch]
                loss = critic_loss(self.critic(states[idx]), targets[idx])
                self.critic_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.parallel.average_gradients(self.critic.parameters())
                grad_norms.append(nn.utils.clip_grad_norm_(self.critic.parameters(), self.cfg.grad_clip))
                self.critic_optimizer.step()
                losses.append(loss.detach())
        soft_update(self.target_critic, self.critic, self.cfg.tau)
        return {
            "losses/critic": torch.stack(losses).mean(),
            "charts/critic_grad_norm": torch.stack(grad_norms).mean().detach(),
            "charts/critic_lr": self.critic_optimizer.param_groups[0]["lr"],
        }

    def state_dict(self) -> dict:
        """Everything an exact resume needs: networks (with normalizers), target critic, optimizers,
        log-temperature and its optimizer, shuffle generator, epoch. Tensors may alias live state
        (as ``nn.Module.state_dict`` does): save or deep-copy it before training on."""
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "target_critic": self.target_critic.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "log_alpha": None if self.log_alpha is None else self.log_alpha.detach().clone(),
            "alpha_optimizer": None if self.alpha_optimizer is None else self.alpha_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores what :meth:`state_dict` saved (into networks of the same architecture)."""
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.target_critic.load_state_dict(state["target_critic"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        if (self.log_alpha is None) != (state["log_alpha"] is None):
            raise ValueError("checkpoint and config disagree on temperature auto-tuning (auto_alpha, alpha)")
        if self.log_alpha is not None:
            with torch.no_grad():
                self.log_alpha.copy_(state["log_alpha"])
            self.alpha_optimizer.load_state_dict(state["alpha_optimizer"])
        self.generator.set_state(state["generator"].cpu())
        self.set_epoch(state["epoch"])
