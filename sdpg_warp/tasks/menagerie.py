"""Robots from MuJoCo Menagerie, found through the ``mujoco-menagerie`` package.

``mujoco_menagerie.get(name).path()`` downloads a robot into the package's cache on first use; with
``MENAGERIE_ROOT=<folder>`` set it reads ``<folder>/<name>`` instead (machines without internet,
tests and CI: ``../shared/menagerie``). Task models start from these files through ``mujoco.MjSpec``;
no Menagerie file is copied into this project.
"""

import os

import mujoco_menagerie


class RobotNotFound(RuntimeError):
    """A Menagerie robot (or one of its files) is not available; the message is one line."""


def robot_file(name: str, entry_file: str) -> str:
    """Absolute path of ``entry_file`` (e.g. ``"go2.xml"``) in Menagerie robot ``name``'s folder.

    Raises :class:`RobotNotFound` naming the robot and the two ways to provide it.
    """
    how = (f"provide it with internet access (mujoco-menagerie downloads it on first use) or with "
           f"MENAGERIE_ROOT=<folder holding {name}/>")
    try:
        folder = str(mujoco_menagerie.get(name).path())
    except mujoco_menagerie.MenagerieError as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RobotNotFound(f"Menagerie robot {name!r} is not available ({reason}); {how}") from None
    path = os.path.join(folder, entry_file)
    if not os.path.isfile(path):
        raise RobotNotFound(f"Menagerie robot {name!r} has no {entry_file} in {folder}; {how}")
    return path
