"""The robot interface a deployed policy drives, and the fixed-rate control loop around it.

A :class:`Robot` reads its sensors, takes actuator targets and advances to the next control tick;
:class:`~sdpg_warp.deploy.mujoco_robot.MuJoCoRobot` is the C MuJoCo implementation, and a real
robot's driver is one more subclass (read its encoders, IMU and cameras; send the targets; sleep).
"""

import abc
import time
from typing import Callable, Optional

import numpy as np


class Robot(abc.ABC):
    """A robot at a fixed control rate: ``control_period`` seconds between actuator targets."""

    control_period: float
    """Seconds between two control ticks (the task's ``frame_skip`` physics steps in simulation)."""

    @abc.abstractmethod
    def reset(self, seed: int) -> None:
        """Puts the robot in a start pose (a simulator draws one from ``seed``)."""

    @abc.abstractmethod
    def read(self):
        """The sensors' reading of the current state (what the observation is assembled from)."""

    @abc.abstractmethod
    def write(self, action: np.ndarray) -> None:
        """Sends actuator targets: ``action`` in [-1, 1] (clamped), mapped onto each actuator's range."""

    @abc.abstractmethod
    def advance(self) -> None:
        """Returns at the next control tick (a simulator steps its physics; a real robot waits)."""


class ControlLoop:
    """Runs one control tick at a time against a deadline of ``period`` seconds.

    :meth:`tick` times ``work`` (read sensors, assemble the observation, run the policy, write the
    targets) with ``clock`` and counts a missed deadline when it takes longer than the period; with
    ``realtime`` it then sleeps the rest of the period (a real robot's loop; a simulator advances
    itself instead). ``clock`` and ``sleep`` are injectable, so that a test can run on a fake clock.
    """

    def __init__(self, period: float, realtime: bool = False, clock: Callable[[], float] = time.perf_counter,
                 sleep: Callable[[float], None] = time.sleep):
        if not period > 0.0:
            raise ValueError(f"the control period must be > 0 s, got {period}")
        self.period = float(period)
        self.realtime = realtime
        self.clock = clock
        self.sleep = sleep
        self.ticks = 0
        self.missed = 0
        """Ticks whose work took longer than the period."""
        self.work_times: list[float] = []
        """Seconds each tick's work took."""

    def tick(self, work: Callable[[], Optional[object]]):
        """Runs ``work()`` once, records its time and whether it missed the deadline; returns its result."""
        start = self.clock()
        result = work()
        elapsed = self.clock() - start
        self.ticks += 1
        self.work_times.append(elapsed)
        if elapsed > self.period:
            self.missed += 1
        elif self.realtime:
            self.sleep(self.period - elapsed)
        return result
