"""The algorithms' storages, allocated once with fixed addresses (CUDA graphs replay into them):
SDPG's and PPO's rollout of one epoch, distillation's replay buffer. ``sdpg_warp/memory.py`` sizes
them from the config alone by allocating them on Torch's ``meta`` device."""

import dataclasses
from typing import Sequence

import torch


@dataclasses.dataclass
class RolloutStorage:
    """Buffers filled during the H steps of an epoch (W = N*(M+1) worlds, d actions).

    Layout puts the world first so that a nominal's group is contiguous for the estimator and so
    that ``[:, t]`` is step t's slice, written in place by the sampler and the simulator.
    """

    obs: torch.Tensor
    """Actor observations of the nominal worlds, [N, H, *obs_shape] (uint8 images or float states)."""
    states: torch.Tensor
    """Privileged states before each step, all worlds, [W, H, state_dim]."""
    actions: torch.Tensor
    """Pre-tanh perturbed actions, [W, H, d]."""
    eps: torch.Tensor
    """Perturbation noise, [W, H, d] (0 on nominal worlds)."""
    mean: torch.Tensor
    """Actor mean on the nominal observations (the nominal actions), [N, H, d]."""
    logstd: torch.Tensor
    """Actor log-std at each step, [N, H, d]."""
    rewards: torch.Tensor
    """Rewards, [W, H]."""
    dones: torch.Tensor
    """1.0 where the trajectory ended at t (terminated, truncated, its nominal's episode ended, or the
    horizon's last step), [W, H]."""
    next_values: torch.Tensor
    """V_target(s_{t+1}), 0 where terminated, [W, H]."""

    @staticmethod
    def allocate(num_nominal: int, num_aux: int, horizon: int, num_actions: int, obs_shape: Sequence[int],
                 obs_dtype: torch.dtype, state_dim: int, device) -> "RolloutStorage":
        W = num_nominal * (num_aux + 1)
        f32 = dict(dtype=torch.float32, device=device)
        return RolloutStorage(
            obs=torch.zeros((num_nominal, horizon, *obs_shape), dtype=obs_dtype, device=device),
            states=torch.zeros((W, horizon, state_dim), **f32),
            actions=torch.zeros((W, horizon, num_actions), **f32),
            eps=torch.zeros((W, horizon, num_actions), **f32),
            mean=torch.zeros((num_nominal, horizon, num_actions), **f32),
            logstd=torch.zeros((num_nominal, horizon, num_actions), **f32),
            rewards=torch.zeros((W, horizon), **f32),
            dones=torch.zeros((W, horizon), **f32),
            next_values=torch.zeros((W, horizon), **f32),
        )


@dataclasses.dataclass
class PPOStorage:
    """One epoch of E worlds x H steps (world first, as SDPG's storage)."""

    obs: torch.Tensor
    """Actor observations, [E, H, *obs_shape]."""
    states: torch.Tensor
    """Privileged states before each step, [E, H, state_dim]."""
    actions: torch.Tensor
    """Pre-tanh actions u, [E, H, d]."""
    log_prob: torch.Tensor
    """log pi_old(u | obs), [E, H]."""
    mean: torch.Tensor
    """The rollout policy's mean, [E, H, d]."""
    logstd: torch.Tensor
    """The rollout policy's log-std, [E, H, d]."""
    values: torch.Tensor
    """V(s_t) (returns' scale), [E, H]."""
    rewards: torch.Tensor
    """Scaled rewards, [E, H]."""
    dones: torch.Tensor
    """1.0 where the trajectory ended at t (and at t = H-1), [E, H]."""
    next_values: torch.Tensor
    """V(s_{t+1}), 0 where terminated, [E, H]."""

    @staticmethod
    def allocate(num_envs: int, horizon: int, num_actions: int, obs_shape: Sequence[int], obs_dtype: torch.dtype,
                 state_dim: int, device) -> "PPOStorage":
        f32 = dict(dtype=torch.float32, device=device)
        E, H, d = num_envs, horizon, num_actions
        return PPOStorage(
            obs=torch.zeros((E, H, *obs_shape), dtype=obs_dtype, device=device),
            states=torch.zeros((E, H, state_dim), **f32),
            actions=torch.zeros((E, H, d), **f32),
            log_prob=torch.zeros((E, H), **f32),
            mean=torch.zeros((E, H, d), **f32),
            logstd=torch.zeros((E, H, d), **f32),
            values=torch.zeros((E, H), **f32),
            rewards=torch.zeros((E, H), **f32),
            dones=torch.zeros((E, H), **f32),
            next_values=torch.zeros((E, H), **f32),
        )


@dataclasses.dataclass
class ReplayBuffer:
    """Distillation's DAgger samples, written round-robin over ``capacity`` rows."""

    obs: torch.Tensor
    """Student observations, [capacity, *obs_shape]."""
    labels: torch.Tensor
    """The teacher's pre-tanh mean on each sample's privileged state, [capacity, d]."""

    @staticmethod
    def allocate(capacity: int, num_actions: int, obs_shape: Sequence[int], obs_dtype: torch.dtype,
                 device) -> "ReplayBuffer":
        return ReplayBuffer(obs=torch.zeros((capacity, *obs_shape), dtype=obs_dtype, device=device),
                            labels=torch.zeros((capacity, num_actions), device=device))
