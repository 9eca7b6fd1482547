"""The task interface: an MJCF body plus Warp kernels for reward, termination and privileged obs.

Every quantity a task computes is a function of one world's :class:`TaskInputs` (qpos, qvel,
action, and where a task needs them mocap poses, body and site positions, contact flags), so the
same kernel serves right after a step and right after a reset, and a NumPy reference checks it from
the same inputs of one world (``Task.reference``; ``tests/test_task_contract.py`` runs every task).
"""

import dataclasses
import os
from typing import Any, ClassVar, Optional

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

ASSET_DIR = os.path.join(os.path.dirname(__file__), "assets")


@dataclasses.dataclass(frozen=True)
class TaskInputs:
    """Everything a task's kernel reads of the worlds: one signature for every task. In the
    simulator these are Warp arrays [W, ...] (views of its Data and buffers); a NumPy reference
    reads one world's rows (:meth:`world`). Tasks read what they need and ignore the rest."""

    qpos: Any
    """[W, nq] joint positions."""
    qvel: Any
    """[W, nv] joint velocities."""
    action: Any
    """[W, nu] the applied action in [-1, 1]."""
    mocap_pos: Any
    """[W, nmocap] vec3 mocap positions (hurdles, targets, task memory)."""
    mocap_quat: Any
    """[W, nmocap] quat mocap orientations (MuJoCo's w, x, y, z)."""
    xpos: Any
    """[W, nbody] vec3 body positions of the current qpos (tasks with ``reads_body_poses``)."""
    site_xpos: Any
    """[W, nsite] vec3 site positions of the current qpos (tasks with ``reads_body_poses``)."""
    contacts: Any
    """[W, num_contact_flags] int32 contact flags (:meth:`Task.sense`)."""

    @classmethod
    def of(cls, d: mjw.Data, action: wp.array2d, contacts: wp.array2d) -> "TaskInputs":
        """The inputs of every world of ``d``."""
        return cls(d.qpos, d.qvel, action, d.mocap_pos, d.mocap_quat, d.xpos, d.site_xpos, contacts)

    @classmethod
    def from_mujoco(cls, task: "Task", mjm: mujoco.MjModel, mjd: mujoco.MjData,
                    action: np.ndarray) -> "TaskInputs":
        """One world's NumPy inputs from a C MuJoCo ``MjData`` (runs ``mj_kinematics`` on it for the
        body and site positions; the contact flags come from its contact list as it is)."""
        mujoco.mj_kinematics(mjm, mjd)
        return cls(mjd.qpos.copy(), mjd.qvel.copy(), np.asarray(action, dtype=np.float64), mjd.mocap_pos.copy(),
                   mjd.mocap_quat.copy(), mjd.xpos.copy(), mjd.site_xpos.copy(), task.reference_sense(mjm, mjd))

    def world(self, w: int) -> "TaskInputs":
        """World ``w``'s rows of NumPy inputs (float64 copies; contact flags as they are)."""
        return TaskInputs(**{f.name: np.asarray(getattr(self, f.name)[w], dtype=np.int32 if f.name == "contacts"
                                                else np.float64) for f in dataclasses.fields(self)})


@dataclasses.dataclass(frozen=True)
class Task:
    """Base class of a registered task; subclasses set the class variables and ``_kernel``."""

    name: ClassVar[str]
    """Registry name, e.g. ``"hopper"``."""
    xml_file: ClassVar[str]
    """MJCF file in ``sdpg_warp/tasks/assets``; it has a camera named ``track``."""
    state_dim: ClassVar[int]
    """Size of the privileged (state) observation."""
    reward_terms: ClassVar[tuple[str, ...]]
    """Names of the weighted reward terms; the reward is their sum."""
    max_contacts: ClassVar[int] = 16
    """Contacts to allocate per world (mujoco_warp ``nconmax``); measured with margin for the task."""
    max_constraints: ClassVar[int] = 64
    """Constraint rows to allocate per world (mujoco_warp ``njmax``); measured with margin."""
    solver_iterations: ClassVar[int] = 100
    """Cap of the constraint solver's iterations per physics step (MuJoCo's ``opt.iterations``).
    The worlds of a step iterate together until the slowest converges or reaches the cap, so the
    cap bounds a step's time; one a world reaches is reported at logging time. The tasks set it to
    twice the most that ``bench/solver_iterations.py`` measured (32 worlds, 200 steps of random
    actions), rounded up to a multiple of 5, and at least 10; 100 is MuJoCo's default."""
    ls_iterations: ClassVar[int] = 50
    """Cap of the solver's line-search iterations (``opt.ls_iterations``)."""
    camera: ClassVar[str] = "track"
    """The model camera whose images the actor sees (rgb / depth observations)."""
    extra_cameras: ClassVar[tuple[str, ...]] = ()
    """Multi-camera tasks: further model cameras the actor sees after ``camera`` (see ``cameras``)."""
    menagerie_robot: ClassVar[Optional[str]] = None
    """Registry name of the MuJoCo Menagerie robot the task builds on (None: its own MJCF)."""
    menagerie_files: ClassVar[tuple[str, ...]] = ()
    """The files of ``menagerie_robot`` the task's model is built from (checked before a build:
    ``menagerie.check_robot``)."""
    reads_body_poses: ClassVar[bool] = False
    """The kernels read body poses (``Data.xpos``): the simulator runs the kinematics of the final
    state before evaluating (a step leaves the poses of its last physics step's start)."""
    proprio_dim: ClassVar[int] = 0
    """Ego-centric tasks: size of the proprioception, the first ``proprio_dim`` entries of the
    privileged state, which the actor sees next to its camera images. 0: images only."""
    metric_names: ClassVar[tuple[str, ...]] = ()
    """Names of the task metrics (whether the policy does the task: hurdles cleared, cube lifted),
    logged as ``task/<name>`` averaged over the finished nominal episodes; see :meth:`measure`."""
    randomization: ClassVar[Optional[Any]] = None
    """Domain randomization ranges per nominal group (``sdpg_warp.randomization.Randomization``), or
    None: the task is not randomized (``BatchedSim(..., randomize=True)`` refuses it)."""
    curriculum: ClassVar[Optional[Any]] = None
    """Terrain tasks: their levels (``sdpg_warp.curriculum.TerrainLevels``; ``start_points()`` gives
    the sub-terrains' start points), or None: no curriculum."""
    num_contact_flags: ClassVar[int] = 0
    """Per-world contact flags the task's kernels read (``TaskInputs.contacts``): the simulator
    owns them, and :meth:`sense` writes them before every :meth:`evaluate`."""

    frame_skip: int = 1
    """Physics steps per environment step (the MJCF's timestep is the physics dt)."""
    episode_length: int = 1000
    """Environment steps after which an episode is truncated."""
    reset_noise_qpos: float = 0.1
    """Half-width of the uniform noise added to every qpos entry at reset (quaternions renormalized)."""
    reset_noise_qvel: float = 0.1
    """Half-width of the uniform noise given to every qvel entry at reset."""

    # Kernel of the classic tasks (those with no further inputs), launched over dim=num_worlds:
    #   # In:  qpos_in [W, nq], qvel_in [W, nv], action_in [W, nu] (float32, action in [-1, 1])
    #   # Out: state_out [W, state_dim], terms_out [W, len(reward_terms)], reward_out [W],
    #          terminated_out [W] (int32, 1 = early termination)
    _kernel: ClassVar[wp.Kernel]

    @property
    def cameras(self) -> tuple[str, ...]:
        """Every camera of the actor's images, ``camera`` first: their frame stacks lie one after
        another along the image's channel axis, in this order."""
        return (self.camera,) + self.extra_cameras

    def mj_model(self) -> mujoco.MjModel:
        """The C MuJoCo model of this task."""
        return mujoco.MjModel.from_xml_path(os.path.join(ASSET_DIR, self.xml_file))

    def initial_qpos(self, mjm: mujoco.MjModel) -> np.ndarray:
        """[nq] the start pose a reset draws around (``reset_noise_qpos``); default ``qpos0``.

        Tasks that start hinge or slide joints away from the model's reference configuration say
        so here, never by editing ``qpos0``: MuJoCo measures those joints from ``qpos0`` (a joint's
        rotation is ``qpos - qpos0``), so a changed ``qpos0`` bends the robot's geometry instead.
        """
        return mjm.qpos0.copy()

    def sense(self, d: mjw.Data, contacts_out: wp.array2d) -> None:
        """Writes every world's contact flags, ``contacts_out`` [W, num_contact_flags] int32, from the
        Data's contact list; the simulator calls it right before each :meth:`evaluate`. Default:
        none (no flags)."""

    def evaluate(
        self,
        inputs: TaskInputs,
        state_out: wp.array2d,
        terms_out: wp.array2d,
        reward_out: wp.array,
        terminated_out: wp.array,
    ) -> None:
        """Writes privileged obs, reward terms, reward and early termination for every world from
        ``inputs`` (Warp arrays, [W, ...]). Tasks with more inputs than (qpos, qvel, action) or
        with constant arrays override it."""
        wp.launch(
            self._kernel,
            dim=inputs.qpos.shape[0],
            inputs=[inputs.qpos, inputs.qvel, inputs.action],
            outputs=[state_out, terms_out, reward_out, terminated_out],
            device=inputs.qpos.device,
        )

    def measure(self, d: mjw.Data, episode_step: wp.array, metrics: wp.array2d) -> None:
        """Once per environment step, right after the step's :meth:`evaluate` (before
        :meth:`after_step`, so it sees the state and memory the reward saw): writes each world's
        task metrics, ``metrics`` [W, len(metric_names)], each the value it takes if the episode
        ended at this step. ``metrics`` holds the previous step's values (running means, flags set
        once in an episode); a world whose ``episode_step`` [W] (steps before this one) is 0 starts
        its episode and ignores them. Default: no metrics."""

    def before_evaluate(self, d: mjw.Data, inputs: TaskInputs) -> None:
        """Once per environment step, after its physics and right before its :meth:`evaluate` (never
        before an observation is re-evaluated after a reset), with that evaluation's ``inputs``:
        writes per-world task memory the step's own observation shows (the in-hand tasks' previous
        action: the action just applied). Default: none."""

    def after_step(self, d: mjw.Data, inputs: TaskInputs) -> None:
        """Once per environment step, right after the step's :meth:`evaluate` (never when an
        observation is re-evaluated after a reset), with that evaluation's ``inputs``: advances
        per-world task memory kept in the Data (e.g. previous actions, feet air times). Default:
        none."""

    def reset_scene(self, d: mjw.Data, seed: int, mask: wp.array, reset_count: wp.array) -> None:
        """Per-world scene randomization of the masked worlds at reset (e.g. obstacle poses), keyed by
        (seed, world, reset_count); runs after their initial state is drawn. Default: none."""

    def reference_sense(self, mjm: mujoco.MjModel, mjd: mujoco.MjData) -> np.ndarray:
        """NumPy reference of :meth:`sense` for one C MuJoCo world: [num_contact_flags] int32."""
        return np.zeros(self.num_contact_flags, dtype=np.int32)

    def reference_reward(self, terms: np.ndarray) -> float:
        """NumPy reference of the reward from the reference's terms: their sum (tasks that clip it
        say so here)."""
        return float(np.sum(terms))

    def reference(self, world: TaskInputs) -> tuple[np.ndarray, np.ndarray, bool]:
        """NumPy reference of :meth:`evaluate` for one world (``world``: NumPy arrays of that world,
        :meth:`TaskInputs.world`): (obs [state_dim], reward terms [T], terminated)."""
        raise NotImplementedError
