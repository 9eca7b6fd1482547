"""The registry of learning algorithms: ``cfg.algo`` names one of ``ALGORITHMS``, and the Runner
and the CLI reach the algorithm only through its class (:class:`~sdpg_warp.algorithm.Algorithm`:
``build``, ``allocate_storage``, ``flags_to_lower``). docs/DESIGN.md "Extension points" lists the
files a new algorithm touches."""

import importlib
from typing import Dict, Type, Union

ALGORITHMS: Dict[str, Union[str, type]] = {
    "sdpg": "sdpg_warp.sdpg:SDPG",
    "ppo": "sdpg_warp.ppo:PPO",
    "distill": "sdpg_warp.distill:Distill",
}
"""``--algo`` name -> ``"module:Class"`` (imported on first use, so that naming the algorithms costs
no import of Torch or Warp) or the class itself."""


def algorithm_class(name: str) -> Type:
    """The :class:`~sdpg_warp.algorithm.Algorithm` subclass registered as ``name``; KeyError names
    the registered ones."""
    try:
        entry = ALGORITHMS[name]
    except KeyError:
        raise KeyError(f"unknown algo {name!r}; choose one of {', '.join(ALGORITHMS)}") from None
    if isinstance(entry, str):
        module, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module), attr)
    return entry
