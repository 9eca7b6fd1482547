"""The interface between the Runner and a learning algorithm.

The Runner owns the simulator, the renderer, the loop, logging and checkpoints; an algorithm owns
its networks, optimizers and rollout storage, which its :meth:`Algorithm.build` makes from the
config (the Runner looks the class up by ``cfg.algo`` in ``sdpg_warp/algorithms.py`` and never
branches on the name). Per epoch the Runner calls, in this order:

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
from typing import Any, Dict, Sequence, Tuple, Union

import torch
from torch import nn

from sdpg_warp.config import TrainConfig
from sdpg_warp.distributed import SINGLE_PROCESS, DataParallel
from sdpg_warp.networks import Actor, Critic

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
    storage_name: str = "rollout storage"
    """What the CLI's out-of-memory refusal calls :meth:`allocate_storage`'s buffers."""

    cfg: TrainConfig
    device: torch.device
    storage: Any = None
    """:meth:`allocate_storage`'s buffers (after :meth:`init_storage`)."""

    @classmethod
    @abc.abstractmethod
    def build(cls, cfg: TrainConfig, sim, obs_shape: Sequence[int], obs_dtype: torch.dtype, device: str) -> "Algorithm":
        """The algorithm of ``cfg`` for the simulator ``sim`` (``BatchedSim``): its networks, drawn
        from Torch's seeded generator (actor first, see :func:`make_actor`), and its storage, for
        actor observations of ``obs_shape`` / ``obs_dtype``."""

    @classmethod
    @abc.abstractmethod
    def allocate_storage(cls, cfg: TrainConfig, obs_shape: Sequence[int], obs_dtype: torch.dtype, state_dim: int,
                         num_actions: int, device) -> Any:
        """The algorithm's largest buffers for ``cfg.world_layout()``: a dataclass of tensors with the
        actor observations under ``obs``. On Torch's ``meta`` device it sizes a run before it is built
        (``sdpg_warp/memory.py``)."""

    @classmethod
    def flags_to_lower(cls, cfg: TrainConfig, sizes: Dict[str, int]) -> str:
        """The flags that shrink :meth:`allocate_storage` most directly (``sizes``: its bytes as
        ``storage_obs`` and ``storage_other``)."""
        return "--num-envs or --horizon" + (" (or --image-size)" if cfg.obs != "state" else "")

    @classmethod
    def resume_lines(cls, saved: TrainConfig, cfg: TrainConfig, checkpoint_epoch: int) -> list:
        """What resuming ``saved`` at ``checkpoint_epoch`` as ``cfg`` changes in the algorithm's own
        schedules, as console lines (default: none)."""
        return []

    def init_storage(self, obs_shape: Sequence[int], obs_dtype: torch.dtype, state_dim: int, num_actions: int) -> None:
        """Allocates :meth:`allocate_storage`'s buffers on the algorithm's device (once; CUDA graphs
        replay into their fixed addresses)."""
        self.storage = self.allocate_storage(self.cfg, obs_shape, obs_dtype, state_dim, num_actions, self.device)

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


def make_actor(cfg: TrainConfig, sim, obs_shape: Sequence[int], device: str) -> Actor:
    """The policy of ``cfg`` on ``sim``'s task (ego-centric tasks: proprioception beside the images)."""
    proprio_dim = sim.task.proprio_dim if cfg.obs != "state" else 0
    actor = Actor.from_config(cfg, obs_shape, sim.num_actions, proprio_dim)
    if cfg.channels_last and device.startswith("cuda") and cfg.obs != "state":
        actor.encoder.use_channels_last()
    return actor



def build_actor_critic(cls, cfg: TrainConfig, sim, obs_shape: Sequence[int], obs_dtype: torch.dtype,
                       device: str) -> "Algorithm":
    """``cls.build`` of an actor-critic algorithm (SDPG, PPO): the actor (first, :func:`make_actor`),
    a critic of the privileged state, then the storage."""
    algo = cls(make_actor(cfg, sim, obs_shape, device), Critic.from_config(cfg, sim.state_dim), cfg, device)
    algo.init_storage(obs_shape, obs_dtype, sim.state_dim, sim.num_actions)
    return algo
