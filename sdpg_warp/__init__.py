"""sdpg_warp: Stochastic Decoupled Policy Gradient on MuJoCo Warp.

The public names below load on first use, so that ``python -m sdpg_warp.train --help`` and input
errors answer before Torch and MuJoCo Warp are imported.
"""

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "BatchedSim": "sdpg_warp.sim",
    "ExecutionScope": "sdpg_warp.device",
    "NominalRenderer": "sdpg_warp.render",
    "Runner": "sdpg_warp.runner",
    "SDPG": "sdpg_warp.sdpg",
    "TrainConfig": "sdpg_warp.config",
    "make_task": "sdpg_warp.tasks",
    "ops": "sdpg_warp.ops",
    "resolve_device": "sdpg_warp.device",
    "task_defaults": "sdpg_warp.config",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sdpg_warp' has no attribute {name!r}")
    module = importlib.import_module(_PUBLIC[name])
    value = module if name == "ops" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
