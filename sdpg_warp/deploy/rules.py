"""Each task's rules in C MuJoCo, in NumPy: the scene a reset draws (start pose, command, track),
and per control step the reward, termination and task metrics, from the task's NumPy references
on the inputs C MuJoCo gives (``TaskInputs.from_mujoco``, ``Task.reference``, ``reference_reward``,
``reference_measure``, ``reference_after_step``; the Warp kernels are the training simulator's and
are not used here). Task memory that training keeps in mocap bodies
(previous actions, a reached flag) is kept in the same bodies of the C MuJoCo scene."""

import importlib

import mujoco
import numpy as np

from sdpg_warp.tasks.base import TaskInputs

MAX_ABS_STATE = 1.0e4
"""A |qpos| or |qvel| entry beyond this ends the episode with no reward (the physics blew up), as in training."""


def _healthy(d: mujoco.MjData) -> bool:
    return bool(np.all(np.abs(d.qpos) <= MAX_ABS_STATE) and np.all(np.abs(d.qvel) <= MAX_ABS_STATE))


class Rules:
    """The rules of a task whose reference needs (qpos, qvel, action) only: the classic tasks.
    Subclasses draw their scene in :meth:`_draw` and keep metrics and memory in :meth:`_remember`."""

    def __init__(self, task):
        self.task = task
        self.module = importlib.import_module(type(task).__module__)
        """The task's module: its constants and NumPy twins."""
        self.steps = 0
        """Steps of the episode scored so far."""
        self.metrics = np.zeros(len(task.metric_names))
        self.rng = None

    def reset(self, mjm: mujoco.MjModel, d: mujoco.MjData, rng: np.random.Generator) -> None:
        """Starts an episode: draws the task's scene (after the start pose) from ``rng``."""
        self.rng, self.steps = rng, 0
        self._draw(mjm, d)

    def _draw(self, mjm, d) -> None:
        """The task's scene draws (default: none)."""

    def observed_action(self, action: np.ndarray) -> np.ndarray:
        """The action the actor's observation carries, given the last one sent (default: that one)."""
        return action

    def step(self, mjm: mujoco.MjModel, d: mujoco.MjData, action: np.ndarray) -> tuple[float, bool, dict]:
        """(reward, terminated, metrics) of the state ``d`` (collisions and kinematics done) reached
        under ``action``; advances the task's memory."""
        if not _healthy(d):
            return 0.0, True, {}
        world = TaskInputs.from_mujoco(self.task, mjm, d, action)
        _, terms, terminated = self.task.reference(world)
        self._remember(mjm, d, world)
        self.steps += 1
        reward = self.task.reference_reward(terms)
        if not np.isfinite(reward):
            return 0.0, True, {}
        return reward, bool(terminated), dict(zip(self.task.metric_names, self.metrics))

    def _remember(self, mjm, d, world: TaskInputs) -> None:
        """After the step is scored from ``world``: updates ``metrics`` and the task's memory in
        ``d`` (default: none)."""


class Go2Rules(Rules):
    """go2_terrain: the base starts on a drawn sub-terrain; the operator's command is drawn at the
    start and every ``RESAMPLE_STEPS`` steps into the ``command`` mocap body; the memory (previous
    actions, joint rates, feet air times) advances as in training."""

    def _command(self) -> np.ndarray:
        go2, rng = self.module, self.rng
        vx, vy = rng.uniform(-go2.LIN_VEL_RANGE, go2.LIN_VEL_RANGE, 2)
        if vx * vx + vy * vy < go2.MIN_COMMAND ** 2:
            vx = vy = 0.0
        return np.array([vx, vy, rng.uniform(-go2.HEADING_RANGE, go2.HEADING_RANGE)])

    def _draw(self, mjm, d):
        starts = self.task.start_points()
        d.qpos[:3] += starts[self.rng.integers(len(starts))]
        d.mocap_pos[:] = 0.0
        d.mocap_pos[self.module.COMMAND_BODY] = self._command()

    def _remember(self, mjm, d, w):
        go2, task = self.module, self.task
        self.metrics = task.reference_measure(w.qpos, w.qvel, w.mocap_pos, self.metrics, self.steps)
        d.mocap_pos[:] = task.reference_after_step(w.qvel, w.action, w.contacts, w.mocap_pos)
        if (self.steps + 1) % go2.RESAMPLE_STEPS == 0:
            d.mocap_pos[go2.COMMAND_BODY] = self._command()


class HurdleRules(Rules):
    """walker_hurdle, g1_hurdle: each episode draws its hurdle track (``HurdleTrack.sample``) into
    the scene's hurdle mocap bodies."""

    def _draw(self, mjm, d):
        track = self.module.TRACK
        d.mocap_pos[:track.num_hurdles] = track.sample(self.rng)

    def _remember(self, mjm, d, w):
        self.metrics = self.task.reference_measure(w.qpos, w.qvel, w.mocap_pos, self.metrics, self.steps)


class FrankaRules(Rules):
    """franka_pick_cube: the arm at its default pose with the fingers open, the cube and the target
    point drawn by ``np_sample_scene``; the "reached" flag lives in the ``memory`` mocap body."""

    def _draw(self, mjm, d):
        franka = self.module
        d.qpos[:] = franka.start_qpos(mjm)
        cube, target = franka.np_sample_scene(self.rng)
        d.qpos[franka.CUBE_QPOS:franka.CUBE_QPOS + 3] = cube
        d.mocap_pos[:] = 0.0
        d.mocap_pos[franka.TARGET_BODY] = target

    def _remember(self, mjm, d, w):
        self.metrics = self.task.reference_measure(w.qpos, w.qvel, w.mocap_pos, self.metrics, self.steps)
        d.mocap_pos[:] = self.task.reference_after_step(w.qpos, w.mocap_pos)


class InHandRules(Rules):
    """allegro_hand, shadow_hand: the joints drawn around the default pose, the cube around its start
    and the goal orientation (the task's distributions); the memory (successes, previous action)
    lives in the scene's mocap bodies. The actor sees the previous action as the memory holds it
    when a step is scored, that step's action written (training's ``before_evaluate``): the last
    action sent (the joint angles as an action before the first), as training shows it
    (``observed_action``)."""

    def _turn(self) -> np.ndarray:
        """A turn by U(60, 90) degrees about the world x or y axis (even odds), (w, x, y, z)."""
        hand, rng = self.module, self.rng
        angle = rng.uniform(hand.GOAL_ANGLE_MIN, hand.GOAL_ANGLE_MAX)
        axis = np.array([1.0, 0.0, 0.0]) if rng.uniform() < 0.5 else np.array([0.0, 1.0, 0.0])
        return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])

    def _previous_action(self, mocap_pos: np.ndarray, nu: int) -> np.ndarray:
        start = self.module.MEM_ACTION
        return mocap_pos[1:].reshape(-1)[start:start + nu].copy()

    def _draw(self, mjm, d):
        hand, task, rng = self.module, self.task, self.rng
        lo, hi = mjm.actuator_ctrlrange.T
        default = np.clip(task.hand.default_pose, lo, hi)
        q = np.clip(default + (rng.uniform(size=mjm.nu) - 0.5) * hand.JOINT_NOISE * (hi - lo), lo, hi)
        d.qpos[mjm.jnt_qposadr[mjm.actuator_trnid[:, 0]]] = q
        nj = task.hand.num_joints
        d.qpos[nj:nj + 3] = np.array(task.hand.cube_pos) + (rng.uniform(size=3) - 0.5) * hand.CUBE_NOISE
        d.qpos[nj + 3:nj + 7] = (1.0, 0.0, 0.0, 0.0)
        memory = np.zeros(d.mocap_pos[1:].size)
        memory[hand.MEM_ACTION:hand.MEM_ACTION + mjm.nu] = (q - lo) / (hi - lo) * 2.0 - 1.0
        d.mocap_pos[1:] = memory.reshape(-1, 3)
        self.seen = self._previous_action(d.mocap_pos, mjm.nu)
        d.mocap_quat[hand.GOAL_BODY] = self._turn()

    def observed_action(self, action):
        return self.seen

    def _remember(self, mjm, d, w):
        task = self.task
        memory = task.reference_before_evaluate(w.action, w.mocap_pos)
        self.metrics = task.reference_measure(w.qpos, w.qvel, memory, w.mocap_quat, self.metrics, self.steps)
        self.seen = self._previous_action(memory, mjm.nu)
        d.mocap_pos[:], goal, success = task.reference_after_step(w.qpos, memory, w.mocap_quat)
        if success and task.goal_redraw:
            turned = np.zeros(4)
            mujoco.mju_mulQuat(turned, self._turn(), goal)
            d.mocap_quat[self.module.GOAL_BODY] = turned / np.linalg.norm(turned)


class AlohaRules(Rules):
    """aloha_insertion: the peg's and socket's start drawn by ``np_sample_start`` (its reward reads
    the fingers' table contacts from C MuJoCo's contact list, ``Task.reference_sense``)."""

    def _draw(self, mjm, d):
        d.qpos[:] = self.module.np_sample_start(mjm, self.rng)

    def _remember(self, mjm, d, w):
        self.metrics = self.task.reference_measure(w.qpos, w.qvel, self.metrics, self.steps)


RULES = {
    "go2_terrain": Go2Rules,
    "walker_hurdle": HurdleRules,
    "g1_hurdle": HurdleRules,
    "franka_pick_cube": FrankaRules,
    "allegro_hand": InHandRules,
    "shadow_hand": InHandRules,
    "aloha_insertion": AlohaRules,
}
"""Tasks whose rules are not :class:`Rules`'."""


def rules(task) -> Rules:
    """The rules of ``task``."""
    return RULES.get(task.name, Rules)(task)
