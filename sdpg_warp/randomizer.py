"""The device side of domain randomization per nominal group (docs/randomization.md).

:class:`GroupRandomizer` batches the model fields a :class:`~sdpg_warp.randomization.Randomization`
draws over all worlds (mujoco_warp reads a batched field at ``field[world % batch]``), keeps their
nominal values, and launches ``kernels/randomize.py``, which writes those fields in place: the
captured step and resets stay captured, with no host work.
"""

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

from sdpg_warp.kernels import randomize as kernels
from sdpg_warp.profiling import nvtx_range
from sdpg_warp.randomization import FIELDS, MODEL_FIELDS, Randomization, randomized_body, scaled_dofs, subtree_mask


class GroupRandomizer:
    """The device side of a :class:`Randomization` for a simulator's ``num_worlds`` worlds in groups of
    ``group_size``. Make it with :meth:`batch_sizes` passed to ``mjw.put_model``, then construct it
    with the model; :meth:`draw` after the initial-state draw of a reset, :meth:`push` before a step's
    physics."""

    def __init__(self, spec: Randomization, mjm: mujoco.MjModel, m: mjw.Model, num_worlds: int, group_size: int,
                 control_dt: float, device: str):
        problems = spec.problems()
        if problems:
            raise ValueError(problems[0])
        self.spec = spec
        self.group_size = group_size
        self.device = device
        self.body = randomized_body(spec, mjm)
        ranges = spec.physics_ranges()
        mass = mjm.body_mass[self.body]
        if "added_mass" in ranges and (mass <= 0 or mass + ranges["added_mass"][0] <= 0):
            raise ValueError(f"randomization added_mass={ranges['added_mass']}: body {self.body} of mass "
                             f"{mass:.3g} kg would have none (its inertia scales with its mass)")
        self.pushes = spec.pushes
        if self.pushes:
            jnt = mjm.body_jntadr[self.body]
            if jnt < 0 or mjm.jnt_type[jnt] != mujoco.mjtJoint.mjJNT_FREE:
                raise ValueError(f"randomization pushes: body {self.body} has no free joint")
            self.push_dofadr = int(mjm.jnt_dofadr[jnt])
            self.push_interval = max(1, round(spec.push_interval_s / control_dt))
        self.fields = sorted({f for name in ranges for f in MODEL_FIELDS[name]})
        on = [int(name in ranges) for name in FIELDS]
        lo_hi = [ranges.get(name, (0.0, 0.0)) for name in FIELDS]
        subtree = subtree_mask(mjm, self.body)
        dof_scaled = scaled_dofs(mjm)
        vec10 = wp.types.vector(10, dtype=float)
        with wp.ScopedDevice(device):
            self._on = wp.array(on, dtype=int)
            self._ranges = wp.array(np.array(lo_hi, dtype=np.float32), dtype=wp.vec2)
            self._subtree = wp.array(subtree, dtype=float)
            self._dof_scaled = wp.array(dof_scaled, dtype=float)
            self._nominal = [
                wp.array(mjm.geom_friction.astype(np.float32), dtype=wp.vec3),
                wp.array(mjm.body_mass.astype(np.float32), dtype=float),
                wp.array(mjm.body_subtreemass.astype(np.float32), dtype=float),
                wp.array(mjm.body_inertia.astype(np.float32), dtype=wp.vec3),
                wp.array(mjm.body_ipos.astype(np.float32), dtype=wp.vec3),
                wp.array(mjm.actuator_gainprm.astype(np.float32), dtype=vec10),
                wp.array(mjm.actuator_biasprm.astype(np.float32), dtype=vec10),
                wp.array(mjm.dof_damping.astype(np.float32), dtype=float),
                wp.array(mjm.dof_armature.astype(np.float32), dtype=float),
            ]
        self.m = m
        for name in self.fields:
            if getattr(m, name).shape[0] != num_worlds:
                raise ValueError(f"model field {name} is not batched over {num_worlds} worlds (put_model's "
                                 f"batch_sizes=GroupRandomizer.batch_sizes(spec, W))")

    @staticmethod
    def batch_sizes(spec: Randomization, num_worlds: int) -> dict:
        """``mjw.put_model``'s ``batch_sizes``: every model field the spec draws, over all worlds."""
        return {f: num_worlds for name in spec.physics_ranges() for f in MODEL_FIELDS[name]}

    def state_arrays(self) -> dict:
        """The batched model fields (simulator state: a checkpoint keeps them)."""
        return {f"model.{name}": getattr(self.m, name) for name in self.fields}

    def draw(self, seed: int, mask: wp.array, reset_count: wp.array) -> None:
        """Every world of a group whose nominal is masked in ``mask`` [W] takes the group's draw,
        keyed by the nominal's ``reset_count`` [W]; a no-op launch when nothing is drawn."""
        if not self.fields:
            return
        m = self.m
        outputs = [m.geom_friction, m.body_mass, m.body_subtreemass, m.body_inertia, m.body_ipos,
                   m.actuator_gainprm, m.actuator_biasprm, m.dof_damping, m.dof_armature]
        with nvtx_range("sim.randomize"):
            wp.launch(kernels._draw_physics, dim=mask.shape[0],
                      inputs=[seed, self.group_size, mask, reset_count, self._on, self._ranges, self.body,
                              self._subtree, self._dof_scaled, *self._nominal],
                      outputs=outputs, device=self.device)

    def push(self, seed: int, episode_step: wp.array, reset_count: wp.array, qvel: wp.array2d) -> None:
        """The pushes due at this step (before its physics), shared by each group."""
        if not self.pushes:
            return
        with nvtx_range("sim.push"):
            wp.launch(kernels._push, dim=episode_step.shape[0],
                      inputs=[seed, self.group_size, self.push_interval, self.spec.push_velocity, self.push_dofadr,
                              episode_step, reset_count],
                      outputs=[qvel], device=self.device)
