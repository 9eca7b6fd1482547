"""The C MuJoCo robot: ``mujoco.MjModel`` of the task's scene, ``mujoco.MjData``, ``mujoco.Renderer``
cameras, the task's control rate (``frame_skip`` physics steps per tick).

With a :class:`~sdpg_warp.randomization.Randomization`, every episode draws the model's physics
(friction, added mass, centre of mass, PD gains, motor offsets, damping, armature) before its start
pose, from its own NumPy stream (the start poses are the same with it and without it).
"""

import mujoco
import numpy as np

from sdpg_warp.deploy.robot import Robot


PHYSICS_STREAM = 7
"""Appended to an episode's seed for its physics draw (the start pose uses the seed alone)."""


def control_ranges(mjm: mujoco.MjModel) -> np.ndarray:
    """[nu, 2] the range each actuator's control spans; an unlimited actuator takes [-1, 1]."""
    ranges = np.array(mjm.actuator_ctrlrange, dtype=np.float64).reshape(-1, 2)
    ranges[~np.array(mjm.actuator_ctrllimited, dtype=bool)] = (-1.0, 1.0)
    return ranges


class MuJoCoRobot(Robot):
    """A task's robot in C MuJoCo. ``read()`` returns the ``MjData`` with its kinematics current;
    ``images()`` the camera stacks (when built with ``cameras``, a function of the model returning a
    :class:`~sdpg_warp.deploy.camera.CameraStack`)."""

    def __init__(self, task, cameras=None, randomization=None):
        from sdpg_warp.deploy.rules import rules

        self.task = task
        self.rules = rules(task)
        """The task's scene draws and step outcomes (``sdpg_warp.deploy.rules``)."""
        self.model = task.mj_model()
        self.data = mujoco.MjData(self.model)
        self.control_period = float(self.model.opt.timestep * task.frame_skip)
        self.cameras = cameras(self.model) if cameras is not None else None
        self.action = np.zeros(self.model.nu)
        """The last action written, clamped to [-1, 1]."""
        self._ranges = control_ranges(self.model)
        self.randomizer = None
        """Draws the model's physics per episode (``randomization`` given), else None."""
        if randomization is not None:
            from sdpg_warp.deploy.randomize import ModelRandomizer

            self.randomizer = ModelRandomizer(self.model, randomization)

    def reset(self, seed: int) -> None:
        """MuJoCo's reset, then the task's start pose with uniform noise (``reset_noise_qpos``,
        quaternions renormalized) and uniform joint rates (``reset_noise_qvel``), drawn from NumPy's
        generator keyed by ``seed``, then the task's scene (``rules.reset``: a sub-terrain, a command).
        With a randomizer, the episode's physics is drawn first (``seed`` + ``PHYSICS_STREAM``)."""
        m, d, task = self.model, self.data, self.task
        if self.randomizer is not None:
            keys = tuple(seed) if isinstance(seed, (tuple, list)) else (seed,)
            self.randomizer.draw(np.random.default_rng([*keys, PHYSICS_STREAM]))
        mujoco.mj_resetData(m, d)
        rng = np.random.default_rng(seed)
        d.qpos[:] = task.initial_qpos(m) + task.reset_noise_qpos * rng.uniform(-1.0, 1.0, m.nq)
        for joint in range(m.njnt):
            kind = m.jnt_type[joint]
            if kind in (mujoco.mjtJoint.mjJNT_FREE, mujoco.mjtJoint.mjJNT_BALL):
                adr = m.jnt_qposadr[joint] + (3 if kind == mujoco.mjtJoint.mjJNT_FREE else 0)
                d.qpos[adr:adr + 4] /= np.linalg.norm(d.qpos[adr:adr + 4])
        d.qvel[:] = task.reset_noise_qvel * rng.uniform(-1.0, 1.0, m.nv)
        self.action[:] = 0.0
        self.rules.reset(m, d, rng)
        mujoco.mj_forward(m, d)

    def read(self) -> mujoco.MjData:
        return self.data

    def images(self, refill: bool) -> np.ndarray:
        """The cameras' frame stacks of the current state (``refill``: an episode's first step)."""
        return self.cameras.observe(self.data, refill)

    def write(self, action: np.ndarray) -> None:
        self.action[:] = np.clip(action, -1.0, 1.0)
        low, high = self._ranges[:, 0], self._ranges[:, 1]
        self.data.ctrl[:] = low + 0.5 * (self.action + 1.0) * (high - low)

    def advance(self) -> None:
        for _ in range(self.task.frame_skip):
            mujoco.mj_step(self.model, self.data)
        mujoco.mj_forward(self.model, self.data)  # the sensors read the state the step ended in

    def close(self) -> None:
        if self.cameras is not None:
            self.cameras.close()
