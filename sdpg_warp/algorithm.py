"""The interface between the Runner and a learning algorithm.

The Runner owns the simulator, the renderer, the loop, logging and checkpoints; an algorithm owns
its networks, optimizers and rollout storage. Per epoch the Runner calls, in this order:

  start_rollout(sim)
  for t in 0..H-1:
      act(t, obs, states, action_out)          # writes the action of every world
      sim.step()
      process_env_step(t, reward, next_states, terminated)
      sim.reset_done_episodes()
      process_dones(t, done)                   # done after the resets, as the simulator reports it
  update(timer) -> metrics

Every method queues device work only (no host read); metrics are 0-dim tensors or floats that the
Runner reads once when it logs.

Under torchrun every rank runs its own algorithm on its own worlds; ``parallel`` keeps their
networks identical (sdpg_warp/distributed.py says what an algorithm calls, and where).
"""

import abc
from typing import Dict, Tuple, Union

import torch
from torch import nn

from sdpg_warp.distributed import SINGLE_PROCESS, DataParallel

Metrics = Dict[str, Union[float, torch.Tensor]]


class Algorithm(abc.ABC):
    """A learning algorithm driven by the Runner (see the module docstring for the call order)."""

    epoch: int
    """The epoch being collected or learned from (sets schedules and noise keys)."""
    parallel: DataParallel = SINGLE_PROCESS
    """The ranks of the run, set by the Runner: gradients, normalizer statistics and data-driven
    decisions go through it (sdpg_warp/distributed.py)."""
    rank_local_state: Tuple[str, ...] = ()
    """Keys of :meth:`state_dict` whose values differ between ranks (random generators, per-rank
    buffers): a checkpoint keeps these for every rank, the rest once."""
    rank_shard_state: Tuple[str, ...] = ()
    """The large ones among ``rank_local_state`` (a replay buffer): under torchrun each rank writes
    them to a checkpoint shard of its own instead of sending them to rank 0."""

    def load_kernels(self) -> None:
        """Compiles (or loads from Warp's cache) the Warp kernels the algorithm launches, before the
        first epoch (default: none)."""

    def start_rollout(self, sim) -> None:
        """Prepares the simulator's worlds for a rollout (default: nothing)."""

    @abc.abstractmethod
    def act(self, t: int, obs: torch.Tensor, states: torch.Tensor, action_out: torch.Tensor) -> None:
        """Step t: the actor's observation ``obs`` (of the rendered or observed worlds), the
        privileged ``states`` [W, state_dim] of every world; writes actions in [-1, 1] into
        ``action_out`` [W, num_actions]."""

    @abc.abstractmethod
    def process_env_step(self, t: int, reward: torch.Tensor, next_states: torch.Tensor,
                         terminated: torch.Tensor) -> None:
        """Step t's outcome, before the episode resets: reward [W], the next privileged states
        [W, state_dim], early termination [W] bool."""

    @abc.abstractmethod
    def process_dones(self, t: int, done: torch.Tensor) -> None:
        """Step t's trajectory ends [W] bool, after the simulator's episode resets."""

    @abc.abstractmethod
    def update(self, timer) -> Metrics:
        """Learns from the epoch's rollout; ``timer.phase(name)`` times (and NVTX-marks) its phases."""

    @abc.abstractmethod
    def networks(self) -> Dict[str, nn.Module]:
        """The trained modules by name (the finiteness guard checks their weights); ``"actor"`` is
        the policy that play and export load."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """Everything an exact resume needs."""

    @abc.abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restores :meth:`state_dict`."""
