"""sdpg_warp: Stochastic Decoupled Policy Gradient on MuJoCo Warp.

The public names below load on first use, so that ``python -m sdpg_warp.train --help`` and input
errors answer before Torch and MuJoCo Warp are imported.
"""

import importlib
import importlib.util
import os
import sys

__version__ = "0.1.0"


def _checkout_kernels() -> None:
    """setup.py installs the checkout's kernels/ folder as sdpg_warp.kernels; imported from the
    checkout itself (tests run there after a plain, non-editable install) the package has no such
    subfolder, and takes the one beside it."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "kernels")
    if os.path.isdir(os.path.join(__path__[0], "kernels")) or not os.path.isfile(os.path.join(folder, "__init__.py")):
        return
    spec = importlib.util.spec_from_file_location(f"{__name__}.kernels", os.path.join(folder, "__init__.py"),
                                                  submodule_search_locations=[folder])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)  # a docstring: no Warp import


_checkout_kernels()

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
