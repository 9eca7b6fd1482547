"""The bytes a run's largest buffers need, from its config alone (before anything is built), and the
memory a device has free: the CLI refuses a run that cannot fit with one line naming the flag to
lower; ``bench/bench_memory.py`` reports the same storage sizes beside what it measures."""

import dataclasses
import os
from typing import Dict

import torch

from sdpg_warp.config import TrainConfig


def storage_bytes(cfg: TrainConfig, state_dim: int, num_actions: int, proprio_dim: int = 0) -> Dict[str, int]:
    """Bytes of the epoch's storage (SDPG, PPO) or the replay buffer (distill), by part:
    ``storage_obs`` (the actor's observations) and ``storage_other`` (states, actions, rewards, ...).

    The storages are allocated on Torch's ``meta`` device: their exact shapes, no memory.
    """
    from sdpg_warp.algorithms import algorithm_class

    obs_shape = cfg.actor_obs_shape(state_dim, proprio_dim)
    obs_dtype = torch.uint8 if cfg.obs == "rgb" else torch.float32
    storage = algorithm_class(cfg.algo).allocate_storage(cfg, obs_shape, obs_dtype, state_dim, num_actions, "meta")
    sizes = {f.name: getattr(storage, f.name).numel() * getattr(storage, f.name).element_size()
             for f in dataclasses.fields(storage)}
    return {"storage_obs": sizes.pop("obs"), "storage_other": sum(sizes.values())}


def flags_to_lower(cfg: TrainConfig, sizes: Dict[str, int]) -> str:
    """The flags that shrink the larger part of :func:`storage_bytes` most directly."""
    from sdpg_warp.algorithms import algorithm_class

    return algorithm_class(cfg.algo).flags_to_lower(cfg, sizes)


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
    from sdpg_warp.algorithms import algorithm_class

    what = algorithm_class(cfg.algo).storage_name
    place = "GPU memory free" if device.startswith("cuda") else "host memory available"
    return (f"the {what} alone needs {_gib(need)} ({need} bytes), more than the {_gib(free)} of {place} on "
            f"{device}; lower {flags_to_lower(cfg, sizes)}")


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"
