"""BatchedSim: all N*(M+1) worlds of SDPG in one mujoco_warp Model/Data.

World ``w = n*(M+1) + k``: ``k = 0`` is nominal ``n`` (rendered, seen by the actor), ``k = 1..M``
its auxiliary worlds (state only, perturbed actions). One ``mujoco_warp.step`` advances all of them.
With M = 0 every world is an independent nominal world (the baselines' layout).
Every per-world buffer is a Warp array with a zero-copy Torch view, so the actor, the SDPG kernels
and the simulator share memory and nothing goes through the host during a rollout.
"""

import contextlib
from typing import Iterator, Optional

import mujoco
import mujoco_warp as mjw
import numpy as np
import torch
import warp as wp

from sdpg_warp.kernels import reset as reset_kernels
from sdpg_warp.kernels import step as step_kernels
from sdpg_warp.curriculum import CurriculumLevels
from sdpg_warp.device import conditional_graphs, resolve_device
from sdpg_warp.profiling import nvtx_range
from sdpg_warp.randomization import Randomization
from sdpg_warp.randomizer import GroupRandomizer
from sdpg_warp.tasks import make_task
from sdpg_warp.tasks.base import Task, TaskInputs

MAX_ABS_QPOS = 1.0e4
"""A world with any |qpos| above this is treated as exploded (terminated and reset)."""
MAX_ABS_QVEL = 1.0e4
"""A world with any |qvel| above this is treated as exploded (terminated and reset)."""
POOL_OVERFLOW = int(mjw.OverflowType.BROADPHASE | mjw.OverflowType.NARROWPHASE)
"""Overflow bits of the contact pool that all worlds share (``W * max_contacts`` contacts): mujoco_warp
sets them in every world at once, so they say that the pool overflowed, not which world did."""
DROP_OVERFLOW = int(mjw.OverflowType.NEFC | mjw.OverflowType.NJMAX_NNZ | mjw.OverflowType.BROADPHASE
                    | mjw.OverflowType.NARROWPHASE | mjw.OverflowType.CCD | mjw.OverflowType.HFIELD
                    | mjw.OverflowType.EPA_HORIZON)
"""Overflow bits meaning that contacts or constraint rows were dropped: the physics was wrong."""
OVERFLOW_BITS = tuple((bit.name, int(bit)) for bit in mjw.OverflowType if bit not in (0, mjw.OverflowType.ALL))
"""(name, bit) of every mujoco_warp overflow bit."""
SOLVER_OVERFLOW = int(mjw.OverflowType.ITERATIONS | mjw.OverflowType.LS_ITERATIONS)
"""Overflow bits of the solver stopping at its iteration cap (the step is less converged, nothing dropped)."""


def overflow_warnings(overflow: dict, task: Task, num_worlds: int) -> list:
    """Console lines for :meth:`BatchedSim.pop_physics_stats`' ``overflow`` (summed over ranks, of
    ``num_worlds`` worlds in all): each bit, how many worlds set it, what was lost and which budget
    to raise (a class attribute of the task, ``sdpg_warp/tasks/``)."""
    fixes = {
        "NEFC": ("constraint rows dropped", f"raise max_constraints={task.max_constraints} per world"),
        "NJMAX_NNZ": ("constraint Jacobian entries dropped",
                      f"raise max_constraints={task.max_constraints} (the non-zeros are sized from it)"),
        "BROADPHASE": ("collision pairs dropped", f"raise max_contacts={task.max_contacts} per world"),
        "NARROWPHASE": ("contacts dropped", f"raise max_contacts={task.max_contacts} per world"),
        "CCD": ("convex-collision contacts dropped",
                f"raise max_contacts={task.max_contacts} (the CCD pool is sized from it)"),
        "HFIELD": ("heightfield contacts dropped (MuJoCo keeps mjMAXCONPAIR=50 per geom pair)",
                   "coarsen the heightfield (fewer rows/columns) or shrink the geoms on it"),
        "EPA_HORIZON": ("a convex contact missed (mujoco_warp's fixed EPA horizon buffer)",
                        "simplify the colliding meshes"),
        "ITERATIONS": ("the solver stopped at its cap, less converged",
                       f"raise solver_iterations={task.solver_iterations}"),
        "LS_ITERATIONS": ("the line search stopped at its cap", f"raise ls_iterations={task.ls_iterations}"),
    }
    lines = []
    for name, _ in OVERFLOW_BITS:
        count = int(overflow.get(name, 0))
        if not count:
            continue
        lost, fix = fixes.get(name, ("", "not expected in this project's tasks"))
        bit = getattr(mjw.OverflowType, name)
        where = (f"the contact pool all {num_worlds} worlds share (mujoco_warp flags every world)"
                 if bit & POOL_OVERFLOW else f"{count} of {num_worlds} worlds")
        kind = "warning" if bit & DROP_OVERFLOW else "note"
        lines.append(f"{kind}: task {task.name}, since the last log: {name} overflow in {where}: {lost}; {fix} "
                     f"(sdpg_warp/tasks/)")
    return lines


class BatchedSim:
    """N nominal worlds, each with M auxiliary worlds, of one task, in one mujoco_warp Data.

    Attributes (torch views share memory with the Warp arrays of the same name):
      qpos: [W, nq], qvel: [W, nv]: the physics state.
      states: [W, state_dim]: the task's state observation of the current state.
      action: [W, num_actions]: the applied action in [-1, 1]; ``step()`` without arguments reads it.
      reward_terms: [W, len(task.reward_terms)] of the last step; reward: [W].
      metrics: [W, len(task.metric_names)] the task metrics (``Task.measure``) of each world's
        episode as of the last step: at a step that ends an episode, that episode's; a world's row
        starts afresh at the first step of its next episode.
      terminated, truncated: [W] bool of the last step. episode_step: [W] int32.
      fresh: [W] bool, the nominal worlds given a fresh state by the last ``reset_done_episodes``
        (their frame stacks need a refill).
      overflow: [W] int32, mujoco_warp's per-world overflow bitmask (``OverflowType``); it clears
        a world's bits when it resets that world.
      overflow_seen: [W] int32, the OR of ``overflow`` after every physics step since the last
        :meth:`pop_physics_stats` (resets do not clear it).
      task_inputs: the :class:`~sdpg_warp.tasks.base.TaskInputs` the task's kernels read (Warp
        views of the Data, the applied action and this simulator's contact flags).
      done: [W] bool, the worlds whose trajectory ended at the last ``reset_done_episodes``: their
        own episode ended, or (auxiliaries) their nominal's did and they moved onto its new state.
    """

    def __init__(
        self,
        task: str | Task = "hopper",
        num_nominal: int = 1,
        num_aux: int = 1,
        device: Optional[str] = None,
        seed: int = 0,
        graph: bool = False,
        deterministic: bool = False,
        randomize: bool | Randomization = False,
        curriculum: bool = False,
    ):
        """``randomize``: domain randomization per nominal group (docs/randomization.md): True takes
        the task's ranges (``Task.randomization``), a :class:`Randomization` its own; False: none.
        ``curriculum``: the task's terrain curriculum per nominal group where it has one (``Task.curriculum``)."""
        if isinstance(num_nominal, bool) or not isinstance(num_nominal, int) or num_nominal < 1:
            raise ValueError(f"num_nominal must be an integer >= 1, got {num_nominal!r}")
        if isinstance(num_aux, bool) or not isinstance(num_aux, int) or num_aux < 0:
            raise ValueError(f"num_aux must be an integer >= 0, got {num_aux!r}")
        self.task = make_task(task) if isinstance(task, str) else task
        self.device = resolve_device(device)
        self.num_nominal = num_nominal
        self.num_aux = num_aux
        self.group_size = num_aux + 1
        self.num_worlds = num_nominal * self.group_size
        self.seed = int(seed)

        self.mjm: mujoco.MjModel = self.task.mj_model()
        self.num_actions = self.mjm.nu
        self.state_dim = self.task.state_dim
        W = self.num_worlds
        # Every step solves until its slowest world converges or reaches these caps (docs/gpu.md, "Solver iterations").
        self.mjm.opt.iterations = self.task.solver_iterations
        self.mjm.opt.ls_iterations = self.task.ls_iterations
        spec = self._randomization(randomize)
        with wp.ScopedDevice(self.device):
            self.m = mjw.put_model(self.mjm, GroupRandomizer.batch_sizes(spec, W) if spec else None)
            # All of mujoco_warp's determinism features; in 4.0 only the atomic reductions are
            # implemented (its contact and constraint-row sorts are empty): docs/gpu.md, "Determinism".
            self.m.opt.deterministic = int(mjw.DeterminismType.ALL) if deterministic else 0
            # The solver's early exit is a conditional graph node on CUDA (driver 12.4+); without
            # one a captured step runs all ``solver_iterations``. Warp's CPU graphs have the loop.
            self.m.opt.graph_conditional = conditional_graphs(self.device)
            # mujoco_warp would print from inside the graph at every overflowing step; the
            # simulator keeps the flags for the epoch instead (pop_physics_stats).
            self.m.opt.warn_overflow = 0
            self.graph = bool(graph)
            self.d = mjw.make_data(
                self.mjm, nworld=W, nconmax=self.task.max_contacts, njmax=self.task.max_constraints
            )
            self._ctrlrange = wp.array(self._control_ranges(), dtype=wp.vec2)
            self._quat_adr = wp.array(self._quaternion_addresses(), dtype=int)
            self._qpos_init = wp.array(self._initial_qpos(), dtype=float)
            self._action = wp.zeros((W, self.num_actions), dtype=float)
            self._states = wp.zeros((W, self.state_dim), dtype=float)
            self._terms = wp.zeros((W, len(self.task.reward_terms)), dtype=float)
            self._metrics = wp.zeros((W, len(self.task.metric_names)), dtype=float)
            self._reward = wp.zeros(W, dtype=float)
            self._task_terminated = wp.zeros(W, dtype=int)
            self._terminated = wp.zeros(W, dtype=bool)
            self._truncated = wp.zeros(W, dtype=bool)
            self._unhealthy = wp.zeros(W, dtype=bool)
            self._episode_step = wp.zeros(W, dtype=int)
            self._reset_count = wp.zeros(W, dtype=int)
            self._all = wp.ones(W, dtype=bool)
            self._fresh = wp.zeros(W, dtype=bool)
            self._from_nominal = wp.zeros(W, dtype=bool)
            self._done = wp.zeros(W, dtype=bool)
            # The task's contact flags (Task.sense), this simulator's own.
            self._contacts = wp.zeros((W, self.task.num_contact_flags), dtype=int)
            self.task_inputs = TaskInputs.of(self.d, self._action, self._contacts)
            # Scratch outputs for re-evaluating the observation of freshly reset worlds.
            self._scratch_states = wp.zeros_like(self._states)
            self._scratch_terms = wp.zeros_like(self._terms)
            self._scratch_reward = wp.zeros_like(self._reward)
            self._scratch_terminated = wp.zeros_like(self._task_terminated)
            # Since the last pop_physics_stats: overflow bits, the solver's iterations per world.
            self._overflow_seen = wp.zeros(W, dtype=int)
            self._solver_niter_max = wp.zeros(W, dtype=int)
            self._solver_niter_sum = wp.zeros(W, dtype=int)
        self._randomizer = (GroupRandomizer(spec, self.mjm, self.m, W, self.group_size,
                                            self.mjm.opt.timestep * self.task.frame_skip, self.device)
                            if spec else None)
        levels = self.task.curriculum if curriculum else None
        self._curriculum = (CurriculumLevels(levels, self.task.start_points(), W, self.group_size,
                                             self.task.episode_length * self.mjm.opt.timestep * self.task.frame_skip,
                                             self.device)
                            if levels else None)
        self._physics_steps = 0  # solves per world since the last pop_physics_stats (host count)

        self.qpos = wp.to_torch(self.d.qpos)
        self.qvel = wp.to_torch(self.d.qvel)
        self.states = wp.to_torch(self._states)
        self.action = wp.to_torch(self._action)
        self.reward = wp.to_torch(self._reward)
        self.reward_terms = wp.to_torch(self._terms)
        self.metrics = wp.to_torch(self._metrics)
        self.terminated = wp.to_torch(self._terminated)
        self.truncated = wp.to_torch(self._truncated)
        self.episode_step = wp.to_torch(self._episode_step)
        self.fresh = wp.to_torch(self._fresh)
        self.done = wp.to_torch(self._done)
        self.overflow = wp.to_torch(self.d.overflow)
        self.overflow_seen = wp.to_torch(self._overflow_seen)
        self._graph = self._capture(self._step) if graph else None
        self._reset_graph = self._capture(self._reset_done_episodes) if graph else None
        with wp.ScopedDevice(self.device):
            self.pop_physics_stats()  # the capture's eager run stepped

    # ----------------------------------------------------------------------------- construction

    def _randomization(self, randomize: bool | Randomization) -> Optional[Randomization]:
        if isinstance(randomize, Randomization):
            spec = randomize
        elif randomize is True:
            spec = self.task.randomization
            if spec is None:
                raise ValueError(f"task {self.task.name!r} has no randomization ranges (Task.randomization)")
        elif randomize is False:
            return None
        else:
            raise ValueError(f"randomize must be a bool or a Randomization, got {type(randomize).__name__}")
        return None if spec.empty else spec

    def _control_ranges(self) -> np.ndarray:
        lo_hi = np.array(self.mjm.actuator_ctrlrange, dtype=np.float32).reshape(-1, 2)
        unlimited = ~np.array(self.mjm.actuator_ctrllimited, dtype=bool).reshape(-1)
        lo_hi[unlimited] = (-1.0, 1.0)  # an unlimited actuator takes the action as its control
        return lo_hi

    def _initial_qpos(self) -> np.ndarray:
        qpos = np.asarray(self.task.initial_qpos(self.mjm), dtype=np.float32)
        if qpos.shape != (self.mjm.nq,) or not np.all(np.isfinite(qpos)):
            raise ValueError(f"task {self.task.name!r}: initial_qpos must be {self.mjm.nq} finite numbers, got "
                             f"shape {qpos.shape}")
        return qpos

    def _quaternion_addresses(self) -> np.ndarray:
        adr = []
        for j in range(self.mjm.njnt):
            if self.mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE:
                adr.append(self.mjm.jnt_qposadr[j] + 3)
            elif self.mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_BALL:
                adr.append(self.mjm.jnt_qposadr[j])
        return np.array(adr, dtype=np.int32)

    # ---------------------------------------------------------------------------------- helpers

    def _world_mask(self, mask: Optional[torch.Tensor], name: str = "mask") -> wp.array:
        if mask is None:
            return self._all
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (
            self.num_worlds,
        ):
            got = f"{tuple(mask.shape)} {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"{name} must be a torch.bool tensor of shape ({self.num_worlds},), got {got}")
        return wp.from_torch(mask.to(self.qpos.device).contiguous(), dtype=wp.bool)

    def _world_state(self) -> list[tuple[str, wp.array, bool]]:
        """The one list of per-world state: (name, array, follows_nominal). Every array is
        checkpointed (:meth:`state_dict`); those that follow the nominal are what an auxiliary
        takes from its nominal (:meth:`reset_aux_from_nominal`, in the order of
        ``kernels/reset.py:_copy_nominal_state``'s arguments). Task memory lives in the Data's
        mocap bodies, so it is here with them."""
        d = self.d
        extra = {**(self._randomizer.state_arrays() if self._randomizer else {}),
                 **(self._curriculum.state_arrays() if self._curriculum else {})}
        return [
            ("time", d.time, True), ("qpos", d.qpos, True), ("qvel", d.qvel, True), ("act", d.act, True),
            ("ctrl", d.ctrl, True), ("qacc_warmstart", d.qacc_warmstart, True), ("mocap_pos", d.mocap_pos, True),
            ("mocap_quat", d.mocap_quat, True), ("action", self._action, True),
            ("episode_step", self._episode_step, True), ("states", self._states, True),
            ("metrics", self._metrics, True), ("reset_count", self._reset_count, False), ("fresh", self._fresh, False),
            # Drawn physics and terrain levels: a group shares them by construction, so an auxiliary
            # reset from its nominal already has them (docs/randomization.md).
            *((name, array, False) for name, array in extra.items()),
        ]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Host copies of every array that determines the simulator's future (for checkpoints)."""
        return {name: array.numpy().copy() for name, array, _ in self._world_state()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restores :meth:`state_dict`; raises ValueError if it belongs to another task or size."""
        for name, array, _ in self._world_state():
            if name == "metrics" and name not in state:
                # Checkpoints from before the task metrics: running metrics restart at the next episode.
                array.zero_()
                continue
            expected = array.numpy().shape  # vector dtypes add a trailing dimension
            if name not in state or tuple(state[name].shape) != expected:
                got = tuple(state[name].shape) if name in state else "missing"
                raise ValueError(f"simulator state {name!r} is {got}, expected {expected}")
            array.assign(wp.array(state[name], dtype=array.dtype, device=self.device))

    def reset_done_episodes(self) -> wp.array:
        """SDPG's reset rules after a step (docs/DESIGN.md section 3, step 2.6), on the device with no host sync.

        A nominal whose episode ended (terminated or truncated) gets a fresh initial state and all
        its auxiliaries take it; an auxiliary that ended takes its nominal's current state.
        Returns the [W] bool mask of worlds that got a fresh state (nominal worlds only); ``done``
        marks every world whose trajectory ended here.
        """
        with self._scope("sim.reset_done_episodes"):
            if self._reset_graph is not None:
                wp.capture_launch(self._reset_graph)
            else:
                self._reset_done_episodes()
        return self._fresh

    def _reset_done_episodes(self) -> None:
        wp.launch(
            reset_kernels._episode_reset_masks,
            dim=self.num_worlds,
            inputs=[self.group_size, self._terminated, self._truncated],
            outputs=[self._fresh, self._from_nominal, self._done],
            device=self.device,
        )
        self._reset(self._fresh)
        self._reset_aux_from_nominal(self._from_nominal)

    @contextlib.contextmanager
    def _scope(self, name: str) -> Iterator[None]:
        """Every public entry point: an NVTX range, and mujoco_warp's launches (which go to Warp's
        current device) scoped to the simulator's device."""
        with nvtx_range(name), wp.ScopedDevice(self.device):
            yield

    @property
    def randomization(self) -> str:
        """Domain randomization, in words (printed when training starts)."""
        if self._randomizer is None:
            return "off"
        return f"one draw per nominal group and episode: {self._randomizer.spec.describe()}"

    @property
    def capture_mode(self) -> str:
        """How a step runs, in words (printed when training starts)."""
        if not self.graph:
            return "eager launches (--no-graph)"
        if self.m.opt.graph_conditional:
            how = "a conditional graph node" if self.device.startswith("cuda") else "a loop in Warp's CPU graph"
            return f"captured graph; the solver stops when every world converged ({how})"
        return (f"captured graph; the solver always runs {self.m.opt.iterations} iterations (this CUDA driver "
                f"has no conditional graph nodes, which need 12.4+)")

    def pop_physics_stats(self) -> dict:
        """What the physics did since the last call (or since construction), and clears it:
        ``overflow``, {overflow bit name: number of worlds whose steps set it} for every bit set
        (mujoco_warp's ``OverflowType``; a bit of ``POOL_OVERFLOW`` is set in all worlds at once);
        ``solver_niter_max`` and ``solver_niter_mean``, the solver's iterations per physics step
        (the largest of any world and step, and the mean over worlds and steps; 0 before any step).
        One device read: call it at logging time, not per step."""
        seen = self.overflow_seen
        counts = [((seen & bit) != 0).sum() for _, bit in OVERFLOW_BITS]
        niter = torch.stack([*counts, wp.to_torch(self._solver_niter_max).max().long(),
                             wp.to_torch(self._solver_niter_sum).sum()]).cpu().tolist()
        solves = self._physics_steps * self.num_worlds
        stats = {
            "overflow": {name: n for (name, _), n in zip(OVERFLOW_BITS, niter) if n},
            "solver_niter_max": int(niter[-2]),
            "solver_niter_mean": niter[-1] / solves if solves else 0.0,
        }
        for array in (seen, self.overflow, wp.to_torch(self._solver_niter_max), wp.to_torch(self._solver_niter_sum)):
            array.zero_()
        self._physics_steps = 0
        return stats

    def pop_overflow(self) -> int:
        """Number of worlds that dropped contacts or constraint rows (``DROP_OVERFLOW``) since the
        last call; clears every flag and count of :meth:`pop_physics_stats`, which says more."""
        seen = self.overflow_seen
        count = int(((seen & DROP_OVERFLOW) != 0).sum())
        self.pop_physics_stats()
        return count

    def curriculum_metrics(self) -> dict:
        """The terrain curriculum's level distribution, ``curriculum/level_k`` (the fraction of groups
        on level k, 0-dim device tensors); {} without a curriculum."""
        return self._curriculum.level_fractions() if self._curriculum else {}

    @property
    def randomization_spec(self) -> Optional[Randomization]:
        """The domain randomization in use (None: none); its visual ranges are the renderer's."""
        return self._randomizer.spec if self._randomizer else None

    @property
    def reset_counts(self) -> wp.array:
        """[W] int: resets of each world so far (keys the draws of its episodes)."""
        return self._reset_count

    @property
    def episode_steps(self) -> wp.array:
        """[W] int: each world's step within its episode."""
        return self._episode_step

    def world_values(self, field: str) -> torch.Tensor:
        """[W, ...] the per-world values of mujoco_warp model field ``field`` (e.g. "body_mass"): a
        view of a field batched per world (domain randomization), else its one row broadcast."""
        array = getattr(self.m, field, None)
        if not isinstance(array, wp.array) or array.ndim < 2:
            raise ValueError(f"{field!r} is not a per-world mujoco_warp model field")
        values = wp.to_torch(array)
        if values.shape[0] == self.num_worlds:
            return values
        return values[:1].expand(self.num_worlds, *values.shape[1:])

    def world_index(self, nominal: int, k: int) -> int:
        """Index of world ``k`` (0 nominal, 1..M auxiliary) of nominal ``nominal``."""
        return nominal * self.group_size + k

    # ------------------------------------------------------------------------------- public API

    def reset(self, mask: Optional[torch.Tensor] = None) -> None:
        """Masked worlds (all by default) to randomized initial states, seeded, and the task's scene
        randomization (``Task.reset_scene``: e.g. hurdle tracks); refreshes their obs. With domain
        randomization, the group of every masked nominal draws new physics (docs/randomization.md).

        mask: torch.bool [W]. Episode step, action and warm start of those worlds are cleared.
        """
        with self._scope("sim.reset"):
            self._reset(self._world_mask(mask))

    def _reset(self, mask: wp.array) -> None:
        if self._curriculum:
            self._curriculum.before_reset(self.seed, mask, self._reset_count, self.d.qpos, self.d.mocap_pos)
        mjw.reset_data(self.m, self.d, reset=mask)
        wp.launch(
            reset_kernels._randomize_initial_state,
            dim=self.num_worlds,
            inputs=[
                self.seed,
                self.task.reset_noise_qpos,
                self.task.reset_noise_qvel,
                mask,
                self._qpos_init,
                self._quat_adr,
                self._reset_count,
            ],
            outputs=[self.d.qpos, self.d.qvel, self._action, self._episode_step, self._reset_count],
            device=self.device,
        )
        if self._randomizer:
            self._randomizer.draw(self.seed, mask, self._reset_count)
        self.task.reset_scene(self.d, self.seed, mask, self._reset_count)
        if self._curriculum:
            self._curriculum.after_reset(mask, self.d.qpos)
        self._refresh_obs(mask)

    def _body_poses(self) -> None:
        """Tasks whose kernels read body poses: the kinematics of the current qpos (after a step
        mujoco_warp's poses are those of the last physics step's start)."""
        if self.task.reads_body_poses:
            with nvtx_range("sim.kinematics"):
                mjw.kinematics(self.m, self.d)

    def _refresh_obs(self, mask: wp.array) -> None:
        """Recomputes the privileged obs of the masked worlds from their current state."""
        self._body_poses()
        self._evaluate(self._scratch_states, self._scratch_terms, self._scratch_reward, self._scratch_terminated)
        wp.launch(
            reset_kernels._copy_rows_masked,
            dim=(self.num_worlds, self.state_dim),
            inputs=[mask, self._scratch_states],
            outputs=[self._states],
            device=self.device,
        )

    def _evaluate(self, state_out: wp.array2d, terms_out: wp.array2d, reward_out: wp.array,
                  terminated_out: wp.array) -> None:
        """The task's contact flags, then its outputs for every world."""
        self.task.sense(self.d, self._contacts)
        self.task.evaluate(self.task_inputs, state_out, terms_out, reward_out, terminated_out)

    def reset_aux_from_nominal(self, mask: Optional[torch.Tensor] = None) -> None:
        """Each masked auxiliary world (all by default) takes its nominal's full state.

        Copies time, qpos, qvel, act, ctrl, warm start, mocap poses, and the task state (applied
        action, episode step, privileged obs, task metrics). mask: torch.bool [W]; nominal entries are ignored.
        """
        with self._scope("sim.reset_aux_from_nominal"):
            self._reset_aux_from_nominal(self._world_mask(mask))

    def _reset_aux_from_nominal(self, mask: wp.array) -> None:
        fields = [array for _, array, follows in self._world_state() if follows]
        wp.launch(
            reset_kernels._copy_nominal_state,
            dim=self.num_worlds,
            inputs=[self.group_size, mask, *fields],
            outputs=fields,
            device=self.device,
        )

    def _capture(self, work):
        """Records ``work()`` as a Warp graph (a CUDA graph on GPU; Warp records on the CPU too), so
        that a step is one launch with no Python per kernel. Kernels are compiled by one eager run
        first, whose effect is then undone."""
        state = self.state_dict()
        with wp.ScopedDevice(self.device):
            work()
            self.load_state_dict(state)
            with wp.ScopedCapture(device=self.device) as capture:
                work()
        return capture.graph

    def step(self, actions: Optional[torch.Tensor] = None):
        """Advances every world by one environment step (``task.frame_skip`` physics steps).

        actions: torch float32 [W, num_actions] in [-1, 1] (clamped), mapped linearly onto each
        actuator's control range; ``None`` uses ``self.action`` as already written (e.g. by
        ``ops.sample_actions(..., squashed_out=sim.action)``).
        Returns (reward [W] float32, terminated [W] bool, truncated [W] bool), views of the
        simulator's buffers (overwritten by the next step). Unhealthy worlds (non-finite or
        exploded) are terminated with zero reward and reset to a fresh initial state here.
        """
        if actions is not None:
            shape = (self.num_worlds, self.num_actions)
            if not isinstance(actions, torch.Tensor) or tuple(actions.shape) != shape:
                got = tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
                raise ValueError(f"actions must be a torch tensor of shape {shape}, got {got}")
            if actions.device != self.qpos.device:
                raise ValueError(f"actions are on {actions.device}, the simulator on {self.qpos.device}")
            self.action.copy_(actions)
        self._physics_steps += self.task.frame_skip
        with self._scope("sim.step"):
            if self._graph is not None:
                wp.capture_launch(self._graph)
            else:
                self._step()
        return self.reward, self.terminated, self.truncated

    def _accumulate_physics_stats(self) -> None:
        # Before any reset of this step can clear a world's overflow bits.
        stats = [self._overflow_seen, self._solver_niter_max, self._solver_niter_sum]
        wp.launch(step_kernels._accumulate_physics_stats, dim=self.num_worlds,
                  inputs=[self.d.overflow, self.d.solver_niter, *stats], outputs=stats, device=self.device)

    def _step(self) -> None:
        if self._randomizer:
            self._randomizer.push(self.seed, self._episode_step, self._reset_count, self.d.qvel)
        with nvtx_range("sim.apply_action"):
            wp.launch(
                step_kernels._apply_action,
                dim=(self.num_worlds, self.num_actions),
                inputs=[self._ctrlrange, self._action],
                outputs=[self._action, self.d.ctrl],
                device=self.device,
            )
        with nvtx_range("sim.physics"):
            for _ in range(self.task.frame_skip):
                mjw.step(self.m, self.d)
                self._accumulate_physics_stats()
        self._body_poses()
        with nvtx_range("sim.task"):
            self.task.before_evaluate(self.d, self.task_inputs)
            self._evaluate(self._states, self._terms, self._reward, self._task_terminated)
            # Before the episode step advances: 0 marks an episode's first step.
            self.task.measure(self.d, self._episode_step, self._metrics)
            self.task.after_step(self.d, self.task_inputs)
            wp.launch(
                step_kernels._finish_step,
                dim=self.num_worlds,
                inputs=[
                    self.task.episode_length,
                    MAX_ABS_QPOS,
                    MAX_ABS_QVEL,
                    self.d.qpos,
                    self.d.qvel,
                    self._task_terminated,
                    self._episode_step,
                ],
                outputs=[
                    self._states,
                    self._terms,
                    self._reward,
                    self._episode_step,
                    self._terminated,
                    self._truncated,
                    self._unhealthy,
                ],
                device=self.device,
            )
        with nvtx_range("sim.reset_unhealthy"):
            # Always launched (no host check of the mask) so the step stays graph-capturable.
            self._reset(self._unhealthy)
