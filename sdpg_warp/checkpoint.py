"""Checkpoint files: reading one safely, and the trained policy it holds.

One place turns a checkpoint into a config and an actor, for resume (``Runner.load``), evaluation
(``play``), export (``export``) and distillation teachers (``--teacher``).

Reading never runs code from the file. A checkpoint is a pickle, and a pickle may name any Python
callable to rebuild an object, so an unrestricted ``torch.load`` runs whatever a downloaded file asks
for. Every read here goes through Torch's restricted unpickler (``weights_only=True``): tensors and
plain values (dict, list, tuple, str, numbers, None), widened by exactly what sdpg_warp writes besides
them, NumPy arrays of numeric or bool dtypes (the simulator's state). A file that names anything else
is refused, naming what it asked for, before any object of it exists.
"""

import os
import pickle
import re
from typing import Optional

import numpy as np
import torch

from sdpg_warp.config import TrainConfig
from sdpg_warp.networks import Actor
from sdpg_warp.run_files import checkpoint_file

CHECKPOINT_VERSION = 2
"""2: MLP heads with LayerNorm, sdpg_warp.kernels, simulator states under 'states' (version 1 runs cannot resume)."""
CHECKPOINT_KEYS = ("config", "epoch", "algo", "sim", "frame_stack", "episodes", "torch_rng")


NUMPY_DTYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                np.float16, np.float32, np.float64)
"""Dtypes of the NumPy arrays a checkpoint may hold (``BatchedSim.state_dict`` writes host copies)."""


def _numpy_globals() -> list:
    """What unpickling a NumPy array of :data:`NUMPY_DTYPES` names: the array and dtype types, each
    dtype's class, ``bytes`` and the rebuild function, which allocates an array and fills it from the
    pickled bytes (data, no code). The rebuild function is listed under the module names NumPy 1 and 2 pickle
    it with, so checkpoints written under either load."""
    try:
        from numpy._core.multiarray import _reconstruct  # NumPy 2
    except ImportError:
        from numpy.core.multiarray import _reconstruct  # NumPy 1
    # bytes: the pickled data of an empty array (protocol 2 writes b"" as a call of bytes()).
    return [bytes, np.ndarray, np.dtype, (_reconstruct, "numpy.core.multiarray._reconstruct"),
            (_reconstruct, "numpy._core.multiarray._reconstruct")] + [type(np.dtype(t)) for t in NUMPY_DTYPES]


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (truncated, corrupt), that would run code if read, or
    that is not an sdpg_warp checkpoint."""


def read_safely(path: str):
    """What the pickle file ``path`` holds (a checkpoint or a rank's shard of one), through Torch's
    restricted unpickler (module docstring), every tensor on the CPU. Raises CheckpointError with a
    one-line message for a file that names objects sdpg_warp never writes (before unpickling
    anything) or that is truncated or corrupt."""
    foreign = _foreign_globals(path)
    if foreign:
        raise CheckpointError(
            f"refused to read {path}: it names Python objects ({', '.join(foreign[:3])}"
            f"{', ...' if len(foreign) > 3 else ''}) that sdpg_warp never writes, and loading it could run "
            f"code; nothing was loaded")
    try:
        with torch.serialization.safe_globals(_numpy_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # The restricted unpickler names a refused global ("GLOBAL posix.system") or type ("but got
        # <class ...>", e.g. an object-dtype array); bytes that are no pickle at all name neither.
        refused = re.search(r"GLOBAL (\S+)|but got ([^\n]+)", str(e))
        if refused is None:
            raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt (UnpicklingError)") from None
        raise CheckpointError(f"refused to read {path}: it holds data sdpg_warp never writes "
                              f"({(refused.group(1) or refused.group(2)).strip()}), and loading it could run "
                              f"code; nothing was loaded") from None
    except Exception as e:  # torch.load fails in many types on bad bytes (EOFError, RuntimeError, ...)
        raise CheckpointError(f"cannot read checkpoint {path}: truncated or corrupt ({type(e).__name__})") from None


def read_checkpoint(path: str) -> dict:
    """The contents of the checkpoint file ``path``, every tensor on the CPU (modules and optimizers
    move what they load to their own device; the RNG states must stay on the CPU).

    Raises FileNotFoundError, or CheckpointError with a one-line message for anything unreadable.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    state = read_safely(path)
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} is not an sdpg_warp checkpoint of version {CHECKPOINT_VERSION}")
    missing = [key for key in CHECKPOINT_KEYS if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    return state


def _foreign_globals(path: str) -> list:
    """The globals the pickle in ``path`` names beyond Torch's safe set and :func:`_numpy_globals`,
    read from the pickle's opcodes without unpickling anything ([] for unreadable bytes: the load
    that follows reports those)."""
    allowed = set()
    for entry in _numpy_globals():
        obj, name = entry if isinstance(entry, tuple) else (entry, f"{entry.__module__}.{entry.__qualname__}")
        allowed.add(name)
    try:
        named = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:
        return []
    return [name for name in named if name not in allowed]


def load_policy(path: str) -> tuple[TrainConfig, Actor]:
    """(config, trained actor on the CPU in eval mode) of a run folder or checkpoint file."""
    from sdpg_warp.tasks import make_task

    state = read_checkpoint(checkpoint_file(path))
    cfg = TrainConfig.from_dict(state["config"])
    task = make_task(cfg.task)
    proprio_dim = task.proprio_dim if cfg.obs != "state" else 0
    actor = Actor.from_config(cfg, cfg.actor_obs_shape(task.state_dim, proprio_dim), task.mj_model().nu, proprio_dim)
    actor.load_state_dict(state["algo"]["actor"])
    return cfg, actor.eval()


def load_teacher(cfg: TrainConfig) -> tuple[TrainConfig, Actor]:
    """(config, actor) of ``cfg.teacher``, a distillation teacher: a state-observation run of
    ``cfg.task`` (SDPG or PPO). Raises ValueError (one line) for a missing, unreadable, pixel or
    other-task teacher."""
    if not cfg.teacher:
        raise ValueError("--algo distill needs --teacher RUN_DIR")
    try:
        teacher_cfg, actor = load_policy(cfg.teacher)
    except (FileNotFoundError, CheckpointError) as e:
        raise ValueError(f"--teacher: {e}") from None
    if teacher_cfg.task != cfg.task:
        raise ValueError(f"--teacher {cfg.teacher} was trained on task {teacher_cfg.task!r}, this run is {cfg.task!r}")
    if teacher_cfg.obs != "state":
        raise ValueError(f"--teacher {cfg.teacher} sees {teacher_cfg.obs} observations; a teacher must be a "
                         f"state-observation run (--obs state)")
    return teacher_cfg, actor


RESUME_KEYS = ("algo", "task", "obs", "num_nominal", "num_aux", "num_envs", "horizon", "image_size", "frames",
               "actor_hidden", "critic_hidden", "encoder_dim", "camera_encoder_dims", "render_hw", "image_crop",
               "image_hw", "depth_far", "encoder", "proprio_history", "fixed_std", "episode_length", "frame_skip")
"""Settings a checkpoint's networks, storage and simulator state are shaped by: a run resumes only
from a checkpoint that agrees on all of them."""


def resume_mismatch(state: dict, cfg: TrainConfig, world_size: int, path: str) -> Optional[str]:
    """Why the checkpoint ``state`` (read from ``path``) cannot resume as ``cfg`` on ``world_size``
    ranks, in one line; None when it can."""
    saved_ranks = state.get("world_size", 1)
    if saved_ranks != world_size:
        how = ("plain python -m sdpg_warp.train" if saved_ranks == 1
               else f"torchrun and {saved_ranks} ranks in all (--nnodes times --nproc-per-node)")
        return f"checkpoint {path} was written by {saved_ranks} rank(s), this run has {world_size}: resume it with {how}"
    saved = state["config"]
    for key in RESUME_KEYS:
        value = saved.get(key, TrainConfig.__dataclass_fields__[key].default)
        if tuple(np.atleast_1d(value)) != tuple(np.atleast_1d(getattr(cfg, key))):
            return f"checkpoint {path} has {key}={value!r}, this run {getattr(cfg, key)!r}"
    return None
