"""PPO, the paper's end-to-end baseline (docs/DESIGN.md section 8), on the same simulator, networks
and Runner as SDPG.

Every one of ``num_envs`` independent worlds is a rollout world and, for rgb/depth, rendered. The
policy is a Gaussian over the pre-tanh action u with a state-independent log-std, and the world
gets tanh(u), as SDPG's worlds do: the tanh's Jacobian does not depend on the policy, so the
probability ratio and the KL of u are those of the actions. The critic sees the privileged state
(asymmetric, as SDPG's). Advantages are GAE(gamma, lambda): the TD(lambda) return kernel that SDPG
uses (kernels/returns.py) minus the value, with the next state's value bootstrapped at every trajectory
end, time-outs included (unless ``ppo_bootstrap_timeouts`` is off). The update is rsl_rl's: clipped
surrogate, clipped value loss, entropy bonus, ``ppo_epochs`` passes of ``ppo_minibatches`` minibatches
(each through the networks in chunks of ``ppo_chunk`` samples whose gradients add up to the
minibatch's), gradient clipping, and a learning rate adapted from each minibatch's KL, kept on the
device so an epoch never reads it back.

One equation, one pure function (tensors in, no config); :class:`PPO` holds networks, optimizer,
normalizers and the rollout storage.
"""

import math
from typing import Dict, Tuple, Union

import torch
from torch import nn

from sdpg_warp import ops
from sdpg_warp.algorithm import Algorithm, build_actor_critic
from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor, Critic, RunningMeanStd
from sdpg_warp.storage import PPOStorage

Scalar = Union[float, torch.Tensor]

LR_MIN = 1e-6
"""Lower bound of the KL-adaptive learning rate."""
LR_MAX = 1e-2
"""Upper bound of the KL-adaptive learning rate."""
LR_FACTOR = 1.5
"""The KL-adaptive rate is divided or multiplied by this."""

# ---------------------------------------------------------------------------------------------------
# Pure functions


def gaussian_log_prob(u: torch.Tensor, mean: torch.Tensor, logstd: torch.Tensor) -> torch.Tensor:
    """log N(u; mean, exp(logstd)^2) summed over the action dimension: [..., d] -> [...]."""
    return (-0.5 * ((u - mean) / logstd.exp()).square() - logstd - 0.5 * math.log(2.0 * math.pi)).sum(-1)


def gaussian_entropy(logstd: torch.Tensor) -> torch.Tensor:
    """Entropy of a diagonal Gaussian, summed over the action dimension: [..., d] -> [...]."""
    return (logstd + 0.5 * math.log(2.0 * math.pi * math.e)).sum(-1)


def gaussian_kl(mean_old: torch.Tensor, logstd_old: torch.Tensor, mean_new: torch.Tensor,
                logstd_new: torch.Tensor) -> torch.Tensor:
    """KL(old || new) of diagonal Gaussians, summed over the action dimension: [..., d] -> [...]."""
    var_ratio = (2.0 * (logstd_old - logstd_new)).exp()
    return (logstd_new - logstd_old + 0.5 * (var_ratio + ((mean_old - mean_new) / logstd_new.exp()).square())
            - 0.5).sum(-1)


def gae(rewards: torch.Tensor, dones: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        gamma: float, lam: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """GAE(gamma, lambda) advantages and returns of every world and step.

    rewards, dones, values, next_values: [E, H]; values V(s_t); next_values V(s_{t+1}), 0 where the
    episode terminated; dones 1 where the trajectory ended at t (the trace stops there, the next
    value bootstraps; 1 at t = H-1). The lambda-return R_t = r_t + gamma*((1 - lambda*(1-d_t))*v'_t
    + lambda*(1-d_t)*R_{t+1}) is the TD(lambda) kernel's; A_t = R_t - V(s_t) equals the recursion
    A_t = delta_t + gamma*lambda*(1-d_t)*A_{t+1}, delta_t = r_t + gamma*v'_t - V(s_t), when
    v'_t = V(s_{t+1}) along a trajectory. Returns (advantages [E, H], returns [E, H]).
    """
    returns = ops.td_lambda_returns(rewards, dones, next_values, gamma, lam)
    return returns - values, returns


def surrogate_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor,
                   clip: float) -> torch.Tensor:
    """Clipped surrogate -mean(min(rho*A, clamp(rho, 1-clip, 1+clip)*A)), rho = exp(logp - logp_old); [B]."""
    ratio = (log_prob - old_log_prob).exp()
    return -torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages).mean()


def value_loss(values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip: float,
               clipped: bool) -> torch.Tensor:
    """mean((V - R)^2), or with ``clipped`` mean(max((V - R)^2, (V_old + clamp(V - V_old, -clip, clip) - R)^2)); [B]."""
    plain = (values - returns).square()
    if not clipped:
        return plain.mean()
    moved = old_values + (values - old_values).clamp(-clip, clip)
    return torch.max(plain, (moved - returns).square()).mean()


def adapt_learning_rate_(lr: torch.Tensor, kl: torch.Tensor, desired_kl: float) -> torch.Tensor:
    """KL-adaptive rate, in place on the 0-dim device tensor ``lr``: divided by LR_FACTOR (not below
    LR_MIN) when kl > 2*desired_kl, multiplied by LR_FACTOR (not above LR_MAX) when 0 < kl <
    desired_kl/2 (a KL of 0, the policy not yet moved, says nothing), else unchanged. No host read."""
    lower = (lr / LR_FACTOR).clamp(min=LR_MIN)
    higher = (lr * LR_FACTOR).clamp(max=LR_MAX)
    raise_it = (kl < 0.5 * desired_kl) & (kl > 0.0)
    return lr.copy_(torch.where(kl > 2.0 * desired_kl, lower, torch.where(raise_it, higher, lr)))


# ---------------------------------------------------------------------------------------------------
# The algorithm


class PPO(Algorithm):
    """Actor, critic (with a return normalizer when ``ppo_normalize_value``), one Adam over both with
    a device-tensor learning rate, a generator for the samples and the minibatch order, and the
    rollout storage (after :meth:`init_storage`).

    Under torchrun (sdpg_warp/distributed.py) each minibatch's gradients and KL are averaged over the
    ranks (so the adapted rate stays one), and the normalizers merge every rank's batch; advantages
    are normalized over the rank's own batch, and the generator, seeded per rank, is the rank's own.
    """

    rank_local_state = ("generator",)

    def __init__(self, actor: Actor, critic: Critic, cfg: TrainConfig, device: Union[str, torch.device]):
        self.cfg = cfg
        self.device = torch.device(device)
        self.actor = actor.to(self.device)
        self.critic = critic.to(self.device)
        self.return_rms = RunningMeanStd(()).to(self.device) if cfg.ppo_normalize_value else None
        self.lr = torch.tensor(cfg.ppo_lr, device=self.device)
        # A device-tensor learning rate is read on the device only by the fused Adam (CPU and CUDA) or
        # the capturable one (CUDA); the plain Adam would read it to the host at every step.
        cuda = self.device.type == "cuda"
        fused = cfg.fused_adam or not cuda
        self.params = list(self.actor.parameters()) + list(self.critic.parameters())
        self.optimizer = torch.optim.Adam(self.params, lr=self.lr, fused=fused, capturable=not fused)
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(cfg.seed)
        self.storage = None
        self.epoch = 0
        self.chunk = cfg.ppo_chunk_on(str(self.device))

    @classmethod
    def build(cls, cfg: TrainConfig, sim, obs_shape, obs_dtype: torch.dtype, device: str) -> "PPO":
        return build_actor_critic(cls, cfg, sim, obs_shape, obs_dtype, device)

    @classmethod
    def allocate_storage(cls, cfg: TrainConfig, obs_shape, obs_dtype: torch.dtype, state_dim: int, num_actions: int,
                         device) -> PPOStorage:
        num_envs, _ = cfg.world_layout()
        return PPOStorage.allocate(num_envs, cfg.horizon, num_actions, obs_shape, obs_dtype, state_dim, device)

    def networks(self) -> Dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic}

    # ------------------------------------------------------------------------- rollout side

    def _value(self, states: torch.Tensor) -> torch.Tensor:
        """V(s) on the returns' scale: states [B, state_dim] -> [B]."""
        value = self.critic(states)
        if self.return_rms is None:
            return value
        return value * torch.sqrt(self.return_rms.var + self.return_rms.eps).float() + self.return_rms.mean.float()

    @torch.no_grad()
    def act(self, t: int, obs: torch.Tensor, states: torch.Tensor, action_out: torch.Tensor) -> None:
        """u ~ N(mean, std) from the actor; the world gets tanh(u)."""
        s = self.storage
        s.obs[:, t] = obs
        s.states[:, t] = states
        mean, logstd = self.actor(obs)
        logstd = logstd.expand_as(mean)
        noise = torch.randn(mean.shape, generator=self.generator, device=self.device)
        u = mean + logstd.exp() * noise
        s.actions[:, t] = u
        s.mean[:, t] = mean
        s.logstd[:, t] = logstd
        s.log_prob[:, t] = gaussian_log_prob(u, mean, logstd)
        s.values[:, t] = self._value(states)
        torch.tanh(u, out=action_out)

    @torch.no_grad()
    def process_env_step(self, t: int, reward: torch.Tensor, next_states: torch.Tensor,
                         terminated: torch.Tensor) -> None:
        """Scaled reward and V(s_{t+1}), 0 where terminated (time-outs bootstrap)."""
        self.storage.rewards[:, t] = reward * self.cfg.ppo_reward_scale
        self.storage.next_values[:, t] = self._value(next_states).masked_fill_(terminated, 0.0)

    def process_dones(self, t: int, done: torch.Tensor) -> None:
        """Trajectory ends after the resets; the horizon ends every trajectory. Without
        ``ppo_bootstrap_timeouts`` every episode end is terminal (next value 0), time-outs included;
        the horizon's end still bootstraps."""
        if not self.cfg.ppo_bootstrap_timeouts:
            self.storage.next_values[:, t].masked_fill_(done.bool(), 0.0)
        if t == self.cfg.horizon - 1:
            self.storage.dones[:, t] = 1.0
        else:
            self.storage.dones[:, t] = done

    # -------------------------------------------------------------------------- learning side

    def update(self, timer) -> Dict[str, Scalar]:
        """GAE, then ``ppo_epochs`` passes of ``ppo_minibatches`` clipped-PPO steps; then the
        normalizer statistics (frozen through the epoch)."""
        cfg, s = self.cfg, self.storage
        with timer.phase("estimate"):
            advantages, returns = gae(s.rewards, s.dones, s.values, s.next_values, cfg.gamma, cfg.lam)
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
            old_values, targets = s.values, returns
            if self.return_rms is not None:
                self.return_rms.update(returns, self.parallel.combine_moments)
                old_values, targets = self.return_rms.normalize(s.values), self.return_rms.normalize(returns)
        batch = {
            "obs": s.obs.flatten(0, 1), "states": s.states.flatten(0, 1), "actions": s.actions.flatten(0, 1),
            "log_prob": s.log_prob.flatten(), "mean": s.mean.flatten(0, 1), "logstd": s.logstd.flatten(0, 1),
            "advantages": advantages.flatten(), "old_values": old_values.flatten(), "targets": targets.flatten(),
        }
        with timer.phase("ppo_update"):
            metrics = self._learn(batch)
        self.actor.update_normalizer(batch["obs"], self.parallel.combine_moments)
        self.critic.update_normalizer(batch["states"], self.parallel.combine_moments)
        metrics["charts/step_reward"] = s.rewards.mean() / cfg.ppo_reward_scale
        metrics["charts/return_to_go"] = returns.mean() / cfg.ppo_reward_scale
        return metrics

    def _learn(self, batch: Dict[str, torch.Tensor]) -> Dict[str, Scalar]:
        cfg = self.cfg
        size = batch["actions"].shape[0]
        minibatch = size // cfg.ppo_minibatches
        sums = {name: torch.zeros((), device=self.device) for name in ("surrogate", "value", "entropy", "kl", "grad")}
        steps = 0
        for _ in range(cfg.ppo_epochs):
            order = torch.randperm(size, generator=self.generator, device=self.device)
            for i in range(cfg.ppo_minibatches):
                parts = self._minibatch_gradients(batch, order[i * minibatch:(i + 1) * minibatch])
                with torch.no_grad():
                    kl = self.parallel.average(parts["kl"])
                    if cfg.ppo_lr_schedule == "adaptive":
                        adapt_learning_rate_(self.lr, kl, cfg.ppo_desired_kl)
                self.parallel.average_gradients(self.params)
                grad_norm = nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
                self.optimizer.step()
                self.actor.project_logstd_()
                for name, value in (("surrogate", parts["surrogate"]), ("value", parts["value"]),
                                    ("entropy", parts["entropy"]), ("kl", kl), ("grad", grad_norm)):
                    sums[name] += value.detach()
                steps += 1
        return {
            "losses/surrogate": sums["surrogate"] / steps,
            "losses/value": sums["value"] / steps,
            "charts/entropy": sums["entropy"] / steps,
            "charts/approx_kl": sums["kl"] / steps,
            "charts/grad_norm": sums["grad"] / steps,
            "charts/policy_std": self.actor.logstd.detach().clamp(cfg.logstd_min, cfg.logstd_max).exp().mean(),
            "charts/learning_rate": self.lr.clone(),
        }

    def _minibatch_gradients(self, batch: Dict[str, torch.Tensor], rows: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The gradient of the minibatch ``rows`` of ``batch`` into the parameters' ``.grad``, in
        chunks of ``ppo_chunk`` rows gathered one at a time: every term of the loss is a mean, so
        chunk i, weighted b_i / B, adds its share, and the sum is the whole minibatch's gradient
        with the images and activations of one chunk alive. Returns the minibatch's (detached)
        surrogate, value loss, entropy and KL(old || new)."""
        cfg = self.cfg
        self.optimizer.zero_grad(set_to_none=True)
        parts = {name: torch.zeros((), device=self.device) for name in ("surrogate", "value", "entropy", "kl")}
        for start in range(0, rows.shape[0], self.chunk):
            idx = rows[start:start + self.chunk]
            weight = idx.shape[0] / rows.shape[0]
            mb = {name: value[idx] for name, value in batch.items()}
            mean, logstd = self.actor(mb["obs"])
            logstd = logstd.expand_as(mean)
            log_prob = gaussian_log_prob(mb["actions"], mean, logstd)
            entropy = gaussian_entropy(logstd).mean()
            surrogate = surrogate_loss(log_prob, mb["log_prob"], mb["advantages"], cfg.ppo_clip)
            values = self.critic(mb["states"])
            v_loss = value_loss(values, mb["old_values"], mb["targets"], cfg.ppo_clip, cfg.ppo_value_clip)
            loss = surrogate + cfg.ppo_value_coef * v_loss - cfg.ppo_entropy_coef * entropy
            (weight * loss).backward()
            with torch.no_grad():
                kl = gaussian_kl(mb["mean"], mb["logstd"], mean, logstd).mean()
            for name, value in (("surrogate", surrogate), ("value", v_loss), ("entropy", entropy), ("kl", kl)):
                parts[name] += weight * value.detach()
        return parts

    # ----------------------------------------------------------------------------- checkpoint

    def state_dict(self) -> dict:
        return {
            "actor": self.actor.state_dict(),
            "critic": self.critic.state_dict(),
            "return_rms": None if self.return_rms is None else self.return_rms.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "lr": self.lr.detach().clone(),
            "generator": self.generator.get_state(),
            "epoch": self.epoch,
        }

    def load_state_dict(self, state: dict) -> None:
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        if (self.return_rms is None) != (state["return_rms"] is None):
            raise ValueError("checkpoint and config disagree on ppo_normalize_value")
        if self.return_rms is not None:
            self.return_rms.load_state_dict(state["return_rms"])
        self.optimizer.load_state_dict(state["optimizer"])
        # The optimizer's groups must keep reading this run's rate tensor.
        self.lr.copy_(state["lr"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        self.generator.set_state(state["generator"].cpu())
        self.epoch = int(state["epoch"])
