"""The bytes a run's largest buffers need, from its config alone (before anything is built), and the
memory a device has free: the CLI refuses a run that cannot fit with one line naming the flag to
lower; ``bench/bench_memory.py`` reports the same storage sizes beside what it measures."""

import os
from typing import Dict

import torch

from sdpg_warp.config import TrainConfig


def storage_bytes(cfg: TrainConfig, state_dim: int, num_actions: int, proprio_dim: int = 0) -> Dict[str, int]:
    """Bytes of the epoch's storage (SDPG, PPO) or the replay buffer (distill), by part:
    ``storage_obs`` (the actor's observations) and ``storage_other`` (states, actions, rewards, ...).

    The storages are allocated on Torch's ``meta`` device: their exact shapes, no memory.
    """
    from sdpg_warp.ppo import PPOStorage
    from sdpg_warp.storage import RolloutStorage

    obs_shape = cfg.actor_obs_shape(state_dim, proprio_dim)
    obs_dtype = torch.uint8 if cfg.obs == "rgb" else torch.float32
    obs_item = (1 if cfg.obs == "rgb" else 4) * _prod(obs_shape)
    nominal, aux = cfg.world_layout()
    if cfg.algo == "distill":
        return {"storage_obs": cfg.distill_buffer * obs_item, "storage_other": cfg.distill_buffer * num_actions * 4}
    if cfg.algo == "ppo":
        storage = PPOStorage.allocate(nominal, cfg.horizon, num_actions, obs_shape, obs_dtype, state_dim, "meta")
    else:
        storage = RolloutStorage.allocate(nominal, aux, cfg.horizon, num_actions, obs_shape, obs_dtype, state_dim,
                                          "meta")
    sizes = {name: t.numel() * t.element_size() for name, t in vars(storage).items()}
    return {"storage_obs": sizes.pop("obs"), "storage_other": sum(sizes.values())}


def _prod(shape) -> int:
    total = 1
    for n in shape:
        total *= n
    return total


def flags_to_lower(cfg: TrainConfig, sizes: Dict[str, int]) -> str:
    """The flags that shrink the larger part of :func:`storage_bytes` most directly."""
    if cfg.algo == "distill":
        return "--distill-buffer"
    if cfg.algo == "ppo":
        return "--num-envs or --horizon" + (" (or --image-size)" if cfg.obs != "state" else "")
    if sizes["storage_obs"] >= sizes["storage_other"]:
        return "--num-nominal or --horizon" + (" (or --image-size)" if cfg.obs != "state" else "")
    return "--num-aux, --num-nominal or --horizon"


def available_bytes(device: str) -> int:
    """Memory free for a new allocation: the GPU's free memory on CUDA, else the host's available
    RAM (``MemAvailable``: free plus reclaimable caches; free pages where /proc is missing)."""
    if device.startswith("cuda"):
        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def fits(cfg: TrainConfig, device: str, state_dim: int, num_actions: int, proprio_dim: int = 0):
    """None when the run's storage fits the free memory of ``device``, else a one-line reason that
    names the bytes needed and available and the flags to lower."""
    sizes = storage_bytes(cfg, state_dim, num_actions, proprio_dim)
    need, free = sum(sizes.values()), available_bytes(device)
    if need <= free:
        return None
    what = "replay buffer" if cfg.algo == "distill" else "rollout storage"
    place = "GPU memory free" if device.startswith("cuda") else "host memory available"
    return (f"the {what} alone needs {_gib(need)} ({need} bytes), more than the {_gib(free)} of {place} on "
            f"{device}; lower {flags_to_lower(cfg, sizes)}")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
