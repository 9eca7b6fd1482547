"""The light task table: each task's class and the static facts that configuration and input
checks need, readable without importing the task modules (which import Warp and MuJoCo Warp, seconds
of start-up that ``--help`` and a bad flag should not pay). ``tests/test_tasks.py`` checks every entry
against its task class."""

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """Static facts of a registered task, equal to its class's (``sdpg_warp.tasks.base.Task``)."""

    module: str
    """Module that defines and registers the task class."""
    cls: str
    """Name of the task class in ``module``."""
    state_dim: int
    """``Task.state_dim``."""
    proprio_dim: int
    """``Task.proprio_dim``."""
    cameras: tuple[str, ...]
    """``Task.cameras`` (the actor's cameras, ``camera`` first)."""
    episode_length: int
    """The task's default ``Task.episode_length``."""
    frame_skip: int
    """The task's default ``Task.frame_skip``."""
    menagerie_robot: Optional[str] = None
    """``Task.menagerie_robot``."""
    menagerie_files: tuple[str, ...] = ()
    """``Task.menagerie_files``."""
    randomized: bool = False
    """``Task.randomization`` is set (domain randomization on by default in training)."""


_T = "sdpg_warp.tasks."
TASKS: dict[str, TaskInfo] = {
    "allegro_hand": TaskInfo(_T + "in_hand", "AllegroHand", 84, 67, ("ego",), 333, 4, "wonik_allegro",
                             ("right_hand.xml",)),
    "aloha_insertion": TaskInfo(_T + "aloha_insertion", "AlohaInsertion", 90, 52, ("table", "wrist_left", "wrist_right"),
                                250, 4, "aloha", ("aloha.xml", "table.xml", "peg.xml", "socket.xml")),
    "ant": TaskInfo(_T + "ant", "Ant", 37, 0, ("track",), 1000, 2),
    "franka_pick_cube": TaskInfo(_T + "franka_pick_cube", "FrankaPickCube", 57, 38, ("ego",), 300, 2,
                                 "franka_emika_panda", ("panda.xml",)),
    "g1_hurdle": TaskInfo(_T + "g1_hurdle", "G1Hurdle", 191, 56, ("ego",), 1000, 4, "unitree_g1",
                          ("g1_23dof_rev_1_0.xml",)),
    "go2_terrain": TaskInfo(_T + "go2_terrain", "Go2Terrain", 129, 45, ("ego",), 1000, 4, "unitree_go2", ("go2.xml",),
                            randomized=True),
    "hopper": TaskInfo(_T + "hopper", "Hopper", 11, 0, ("track",), 1000, 2),
    "humanoid": TaskInfo(_T + "humanoid", "Humanoid", 76, 0, ("track",), 1000, 2),
    "pointmass": TaskInfo(_T + "pointmass", "PointMass", 4, 0, ("track",), 100, 1),
    "reacher": TaskInfo(_T + "reacher", "Reacher", 3, 0, ("track",), 100, 1),
    "shadow_hand": TaskInfo(_T + "in_hand", "ShadowHand", 111, 94, ("ego",), 600, 2, "shadow_hand", ("right_hand.xml",)),
    "walker": TaskInfo(_T + "walker", "Walker", 17, 0, ("track",), 1000, 2),
    "walker_hurdle": TaskInfo(_T + "walker_hurdle", "WalkerHurdle", 53, 17, ("ego",), 1000, 2),
}
