"""Each task's rules in C MuJoCo, in NumPy: the scene a reset draws (start pose, command), and per
control step the reward, termination and task metrics, from the task's NumPy references
(``Task.reference``; the Warp kernels are the training simulator's and are not used here)."""

import mujoco
import numpy as np

MAX_ABS_STATE = 1.0e4
"""A |qpos| or |qvel| entry beyond this ends the episode with no reward (the physics blew up), as in training."""


def _healthy(d: mujoco.MjData) -> bool:
    return bool(np.all(np.abs(d.qpos) <= MAX_ABS_STATE) and np.all(np.abs(d.qvel) <= MAX_ABS_STATE))


class Rules:
    """A task whose reference needs (qpos, qvel, action) only: the classic tasks."""

    def __init__(self, task):
        self.task = task

    def reset(self, mjm: mujoco.MjModel, d: mujoco.MjData, rng: np.random.Generator) -> None:
        """The task's scene after the start pose is drawn (default: none)."""

    def step(self, mjm: mujoco.MjModel, d: mujoco.MjData, action: np.ndarray) -> tuple[float, bool, dict]:
        """(reward, terminated, metrics) of the state ``d`` reached under ``action``."""
        if not _healthy(d):
            return 0.0, True, {}
        _, terms, terminated = self.task.reference(np.array(d.qpos), np.array(d.qvel), action)
        reward = float(np.sum(terms))
        return (reward, bool(terminated), {}) if np.isfinite(reward) else (0.0, True, {})


class Go2Rules(Rules):
    """go2_terrain: a reset puts the base on a drawn sub-terrain and draws the operator's command
    (redrawn every ``RESAMPLE_STEPS`` steps); the step reward keeps the task's memory (previous
    actions, joint rates, feet air times) in the scene's mocap bodies, as training does."""

    def __init__(self, task):
        super().__init__(task)
        import importlib

        self.go2 = importlib.import_module(type(task).__module__)
        self.starts = task.start_points()
        self.rng = None
        self.steps = 0
        self.metrics = np.zeros(len(task.metric_names))

    def _command(self) -> np.ndarray:
        go2, rng = self.go2, self.rng
        vx, vy = rng.uniform(-go2.LIN_VEL_RANGE, go2.LIN_VEL_RANGE, 2)
        if vx * vx + vy * vy < go2.MIN_COMMAND ** 2:
            vx = vy = 0.0
        return np.array([vx, vy, rng.uniform(-go2.HEADING_RANGE, go2.HEADING_RANGE)])

    def reset(self, mjm, d, rng):
        self.rng, self.steps = rng, 0
        d.qpos[:3] += self.starts[rng.integers(len(self.starts))]
        d.mocap_pos[:] = 0.0
        d.mocap_pos[self.go2.COMMAND_BODY] = self._command()

    def step(self, mjm, d, action):
        go2, task = self.go2, self.task
        if not _healthy(d):
            return 0.0, True, {}
        qpos, qvel, mocap = np.array(d.qpos), np.array(d.qvel), np.array(d.mocap_pos)
        touch = go2.np_touch(mjm, d)
        _, terms, terminated = task.reference(qpos, qvel, action, mocap, touch)
        self.metrics = task.reference_measure(qpos, qvel, mocap, self.metrics, self.steps)
        d.mocap_pos[:] = task.reference_after_step(qvel, action, touch, mocap)
        self.steps += 1
        if self.steps % go2.RESAMPLE_STEPS == 0:
            d.mocap_pos[go2.COMMAND_BODY] = self._command()
        return max(float(np.sum(terms)), 0.0), bool(terminated), dict(zip(task.metric_names, self.metrics))


class HurdleRules(Rules):
    """The hurdle tasks (walker_hurdle, g1_hurdle): a reset draws the task's hurdle track into the
    scene's hurdle mocap bodies (``HurdleTrack.sample``); the step's reference reads it."""

    def __init__(self, task):
        super().__init__(task)
        import importlib

        self.track = importlib.import_module(type(task).__module__).TRACK
        self.steps = 0
        self.metrics = np.zeros(len(task.metric_names))

    def reset(self, mjm, d, rng):
        self.steps = 0
        d.mocap_pos[:self.track.num_hurdles] = self.track.sample(rng)

    def step(self, mjm, d, action):
        if not _healthy(d):
            return 0.0, True, {}
        task = self.task
        qpos, qvel, mocap = np.array(d.qpos), np.array(d.qvel), np.array(d.mocap_pos)
        _, terms, terminated = task.reference(qpos, qvel, action, mocap)
        self.metrics = task.reference_measure(qpos, qvel, mocap, self.metrics, self.steps)
        self.steps += 1
        return float(np.sum(terms)), bool(terminated), dict(zip(task.metric_names, self.metrics))


class FrankaRules(Rules):
    """franka_pick_cube: a reset puts the arm at its default pose with the fingers open, the cube
    and the target point where ``np_sample_scene`` draws them; the "reached" flag lives in the
    scene's ``memory`` mocap body, as in training."""

    def __init__(self, task):
        super().__init__(task)
        import importlib

        self.franka = importlib.import_module(type(task).__module__)
        self.steps = 0
        self.metrics = np.zeros(len(task.metric_names))

    def reset(self, mjm, d, rng):
        franka = self.franka
        self.steps = 0
        d.qpos[:] = franka.start_qpos(mjm)
        cube, target = franka.np_sample_scene(rng)
        d.qpos[franka.CUBE_QPOS:franka.CUBE_QPOS + 3] = cube
        d.mocap_pos[:] = 0.0
        d.mocap_pos[franka.TARGET_BODY] = target

    def step(self, mjm, d, action):
        if not _healthy(d):
            return 0.0, True, {}
        task = self.task
        qpos, qvel, mocap = np.array(d.qpos), np.array(d.qvel), np.array(d.mocap_pos)
        _, terms, terminated = task.reference(qpos, qvel, action, mocap)
        self.metrics = task.reference_measure(qpos, qvel, mocap, self.metrics, self.steps)
        d.mocap_pos[:] = task.reference_after_step(qpos, mocap)
        self.steps += 1
        return float(np.sum(terms)), bool(terminated), dict(zip(task.metric_names, self.metrics))


RULES = {"go2_terrain": Go2Rules, "franka_pick_cube": FrankaRules, "walker_hurdle": HurdleRules, "g1_hurdle": HurdleRules}
"""Tasks whose rules are not :class:`Rules`'."""


def rules(task) -> Rules:
    return RULES.get(task.name, Rules)(task)
