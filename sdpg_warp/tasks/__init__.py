"""Task registry: ``make_task(name)`` returns a frozen :class:`Task` with its default settings.

Names and static facts come from the light table ``sdpg_warp.tasks.registry`` (no Warp import);
``make_task`` imports the task's module, which imports Warp and MuJoCo Warp, on first use.
"""

import dataclasses
import importlib
from typing import TYPE_CHECKING, Dict, Type

from sdpg_warp.tasks.registry import TASKS, TaskInfo

if TYPE_CHECKING:
    from sdpg_warp.tasks.base import Task

_REGISTRY: Dict[str, "Type[Task]"] = {}


def register(cls: "Type[Task]") -> "Type[Task]":
    """Class decorator adding a task to the registry under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def task_names() -> tuple[str, ...]:
    """Names of all registered tasks."""
    return tuple(sorted(TASKS))


def task_info(name: str) -> TaskInfo:
    """The static facts of task ``name`` (cameras, dimensions, default episode length and frame
    skip, Menagerie robot), without importing its module."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(task_names())}")
    return TASKS[name]


def task_class(name: str) -> "Type[Task]":
    """The class of task ``name``; imports its module (and so Warp and MuJoCo Warp)."""
    info = task_info(name)
    if name not in _REGISTRY:
        importlib.import_module(info.module)
    return _REGISTRY[name]


def make_task(name: str, **overrides) -> "Task":
    """The task ``name`` with its defaults, fields optionally overridden (e.g. ``episode_length``)."""
    cls = task_class(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"task {name!r} has no setting {sorted(unknown)}; settings: {sorted(fields)}")
    return cls(**overrides)
