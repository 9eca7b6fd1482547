"""Task registry: ``make_task(name)`` returns a frozen :class:`Task` with its default settings."""

import dataclasses
from typing import Dict, Type

from sdpg_warp.tasks.base import Task

_REGISTRY: Dict[str, Type[Task]] = {}


def register(cls: Type[Task]) -> Type[Task]:
    """Class decorator adding a task to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def task_names() -> tuple[str, ...]:
    """Names of all registered tasks."""
    return tuple(sorted(_REGISTRY))


def make_task(name: str, **overrides) -> Task:
    """The task ``name`` with its defaults, fields optionally overridden (e.g. ``episode_length``)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")
    cls = _REGISTRY[name]
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"task {name!r} has no setting {sorted(unknown)}; settings: {sorted(fields)}")
    return cls(**overrides)


# Importing the task modules registers them.
from sdpg_warp.tasks import (  # noqa: E402,F401
    aloha_insertion, ant, franka_pick_cube, g1_hurdle, go2_terrain, hopper, humanoid, in_hand, pointmass, reacher, walker,
    walker_hurdle)
