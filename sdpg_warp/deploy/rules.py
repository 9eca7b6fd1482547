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

    def observed_action(self, action: np.ndarray) -> np.ndarray:
        """The action the actor's observation carries, given the last one sent (default: that one)."""
        return action

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


class InHandRules(Rules):
    """allegro_hand, shadow_hand: a reset draws the joints around the default pose, the cube around
    its start and the goal orientation (the task's distributions, module ``in_hand``); the memory
    (successes, previous action) lives in the scene's mocap bodies, as in training. The actor sees
    the previous action as the memory held it when the last step was scored, before that step's
    action was written: the action two ticks back (the joint angles as an action over the first
    two), as training shows it (``observed_action``)."""

    def __init__(self, task):
        super().__init__(task)
        import importlib

        self.hand = importlib.import_module(type(task).__module__)
        self.steps = 0
        self.metrics = np.zeros(len(task.metric_names))

    def _turn(self) -> np.ndarray:
        """A turn by U(60, 90) degrees about the world x or y axis (even odds), (w, x, y, z)."""
        hand, rng = self.hand, self.rng
        angle = rng.uniform(hand.GOAL_ANGLE_MIN, hand.GOAL_ANGLE_MAX)
        axis = np.array([1.0, 0.0, 0.0]) if rng.uniform() < 0.5 else np.array([0.0, 1.0, 0.0])
        return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])

    def reset(self, mjm, d, rng):
        hand, task = self.hand, self.task
        self.rng, self.steps = rng, 0
        lo, hi = mjm.actuator_ctrlrange.T
        joints = mjm.jnt_qposadr[mjm.actuator_trnid[:, 0]]
        default = np.clip(task.hand.default_pose, lo, hi)
        q = np.clip(default + (rng.uniform(size=mjm.nu) - 0.5) * hand.JOINT_NOISE * (hi - lo), lo, hi)
        d.qpos[joints] = q
        nj = task.hand.num_joints
        d.qpos[nj:nj + 3] = np.array(task.hand.cube_pos) + (rng.uniform(size=3) - 0.5) * hand.CUBE_NOISE
        d.qpos[nj + 3:nj + 7] = (1.0, 0.0, 0.0, 0.0)
        d.mocap_pos[1:] = 0.0
        memory = d.mocap_pos[1:].reshape(-1)
        memory[hand.MEM_ACTION:hand.MEM_ACTION + mjm.nu] = (q - lo) / (hi - lo) * 2.0 - 1.0
        d.mocap_pos[1:] = memory.reshape(-1, 3)
        self.seen = memory[hand.MEM_ACTION:hand.MEM_ACTION + mjm.nu].copy()
        d.mocap_quat[hand.GOAL_BODY] = self._turn()

    def observed_action(self, action):
        return self.seen

    def step(self, mjm, d, action):
        if not _healthy(d):
            return 0.0, True, {}
        hand, task = self.hand, self.task
        mujoco.mj_kinematics(mjm, d)
        qpos, qvel = np.array(d.qpos), np.array(d.qvel)
        mocap_pos, mocap_quat = np.array(d.mocap_pos), np.array(d.mocap_quat)
        _, terms, terminated = task.reference(qpos, qvel, action, mocap_pos, mocap_quat, np.array(d.xpos))
        self.metrics = task.reference_measure(qpos, qvel, mocap_pos, mocap_quat, self.metrics, self.steps)
        self.seen = mocap_pos[1:].reshape(-1)[hand.MEM_ACTION:hand.MEM_ACTION + mjm.nu].copy()
        d.mocap_pos[:], goal, success = task.reference_after_step(qpos, action, mocap_pos, mocap_quat)
        if success and task.goal_redraw:
            turned = np.zeros(4)
            mujoco.mju_mulQuat(turned, self._turn(), goal)
            d.mocap_quat[hand.GOAL_BODY] = turned / np.linalg.norm(turned)
        self.steps += 1
        return float(np.sum(terms)), bool(terminated), dict(zip(task.metric_names, self.metrics))


class AlohaRules(Rules):
    """aloha_insertion: a reset draws the peg's and socket's start (``np_sample_start``); a step's
    reward reads the fingers' table contacts from C MuJoCo's contact list (``np_touch``)."""

    def __init__(self, task):
        super().__init__(task)
        import importlib

        self.aloha = importlib.import_module(type(task).__module__)
        self.steps = 0
        self.metrics = np.zeros(len(task.metric_names))

    def reset(self, mjm, d, rng):
        self.steps = 0
        d.qpos[:] = self.aloha.np_sample_start(mjm, rng)

    def step(self, mjm, d, action):
        if not _healthy(d):
            return 0.0, True, {}
        task = self.task
        qpos, qvel = np.array(d.qpos), np.array(d.qvel)
        _, terms, terminated = task.reference(qpos, qvel, action, self.aloha.np_touch(mjm, d))
        self.metrics = task.reference_measure(qpos, qvel, self.metrics, self.steps)
        self.steps += 1
        return float(np.sum(terms)), bool(terminated), dict(zip(task.metric_names, self.metrics))


RULES = {"go2_terrain": Go2Rules, "aloha_insertion": AlohaRules, "allegro_hand": InHandRules, "shadow_hand": InHandRules, "franka_pick_cube": FrankaRules, "walker_hurdle": HurdleRules, "g1_hurdle": HurdleRules}
"""Tasks whose rules are not :class:`Rules`'."""


def rules(task) -> Rules:
    return RULES.get(task.name, Rules)(task)
