"""Robots from MuJoCo Menagerie, found through the ``mujoco-menagerie`` package.

``mujoco_menagerie.get(name).path()`` downloads a robot into the package's cache on first use; with
``MENAGERIE_ROOT=<folder>`` set it reads ``<folder>/<name>`` instead (machines without internet,
tests and CI: ``../shared/menagerie``). Task models start from these files through ``mujoco.MjSpec``;
no Menagerie file is copied into this project.
"""

import os
from typing import TYPE_CHECKING

import mujoco_menagerie

if TYPE_CHECKING:
    import mujoco


class RobotNotFound(RuntimeError):
    """A Menagerie robot (or one of its files) is not available; the message is one line."""


def _how(name: str) -> str:
    return (f"provide it with internet access (mujoco-menagerie downloads it on first use) or with "
            f"MENAGERIE_ROOT=<folder holding {name}/>")


def robot_file(name: str, entry_file: str) -> str:
    """Absolute path of ``entry_file`` (e.g. ``"go2.xml"``) in Menagerie robot ``name``'s folder.

    Raises :class:`RobotNotFound` naming the robot and the two ways to provide it.
    """
    how = _how(name)
    try:
        folder = str(mujoco_menagerie.get(name).path())
    except mujoco_menagerie.MenagerieError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RobotNotFound(f"Menagerie robot {name!r} is not available ({reason}); {how}") from None
    path = os.path.join(folder, entry_file)
    if not os.path.isfile(path):
        raise RobotNotFound(f"Menagerie robot {name!r} has no {entry_file} in {folder}; {how}")
    return path


def robot_spec(name: str, entry_file: str) -> "mujoco.MjSpec":
    """The parsed ``entry_file`` of Menagerie robot ``name``, checked to have every mesh, height
    field, skin and texture file it names (MuJoCo would fail on a missing one only when compiling,
    with a message that names neither the robot nor the fix). Raises :class:`RobotNotFound`."""
    import mujoco  # here: the CLIs' argument checks import this module, and need no MuJoCo

    path = robot_file(name, entry_file)
    try:
        spec = mujoco.MjSpec.from_file(path)
    except ValueError as e:  # a broken XML or a missing <include>d file
        raise RobotNotFound(f"Menagerie robot {name!r}: cannot read {path} ({str(e).splitlines()[0]}); "
                            f"{_how(name)}") from None
    folder = os.path.dirname(path)
    for items, subdir in ((spec.meshes, spec.meshdir), (spec.hfields, spec.meshdir), (spec.skins, spec.meshdir),
                          (spec.textures, spec.texturedir)):
        for item in items:
            if item.file and not os.path.isfile(os.path.join(folder, subdir, item.file)):
                raise RobotNotFound(f"Menagerie robot {name!r} lacks {os.path.join(subdir, item.file)} in {folder} "
                                    f"(a copy without its assets?); {_how(name)}")
    return spec


def check_robot(task) -> None:
    """Raises :class:`RobotNotFound` unless every Menagerie file of ``task`` (a Task) is there:
    what training, ``play`` and ``export`` check before they build anything."""
    for entry_file in task.menagerie_files:
        robot_spec(task.menagerie_robot, entry_file)
