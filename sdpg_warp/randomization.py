"""Domain randomization per nominal group (docs/randomization.md).

SDPG compares the returns of a nominal world and its auxiliaries, so their physics must be the same:
one draw per group, taken when the nominal's episode starts and shared by its auxiliaries; groups
differ. :class:`Randomization` is a task's ranges (data, ``Task.randomization``);
:class:`GroupRandomizer` holds the device side: the model fields it batches per world (mujoco_warp
reads a batched field at ``field[world % batch]``), their nominal values, and the launches of
``kernels/randomize.py``, which write those fields in place (the captured step stays captured).
"""

import dataclasses
import math
from typing import Optional, Sequence

import mujoco
import mujoco_warp as mjw
import numpy as np
import warp as wp

from sdpg_warp.kernels import randomize as kernels
from sdpg_warp.profiling import nvtx_range

Range = Optional[tuple[float, float]]

FIELDS = ("friction", "added_mass", "com_offset", "kp_scale", "kd_scale", "motor_offset", "damping_scale",
          "armature_scale")
"""The drawn quantities, in the order of the kernel's ``on`` and ``ranges`` arrays."""
MODEL_FIELDS = {
    "friction": ("geom_friction",),
    "added_mass": ("body_mass", "body_subtreemass", "body_inertia"),
    "com_offset": ("body_ipos",),
    "kp_scale": ("actuator_gainprm", "actuator_biasprm"),
    "kd_scale": ("actuator_gainprm", "actuator_biasprm"),
    "motor_offset": ("actuator_gainprm", "actuator_biasprm"),
    "damping_scale": ("dof_damping",),
    "armature_scale": ("dof_armature",),
}
"""The mujoco_warp model fields each quantity writes (batched per world when it is drawn)."""
NON_NEGATIVE = ("friction", "kp_scale", "kd_scale", "damping_scale", "armature_scale")
"""Quantities whose range must lie in [0, inf)."""


@dataclasses.dataclass(frozen=True)
class Randomization:
    """Ranges of a task's domain randomization; a range is (min, max) of a uniform draw, None: not drawn.

    One draw per nominal group and episode (redrawn when the nominal resets); pushes at a fixed period.
    """

    body: str = ""
    """The body that takes the added mass, the centre-of-mass offset and the pushes (its joint must be
    free for pushes); "": the first body after the world body."""
    friction: Range = None
    """Sliding friction of every geom (MuJoCo takes a contact's larger geom friction, so the ground's
    is drawn too); the torsional and rolling coefficients keep the model's."""
    added_mass: Range = None
    """kg added to ``body`` (its inertia scaled with its mass, as a denser body)."""
    com_offset: Range = None
    """m added to each coordinate of ``body``'s centre of mass (body frame)."""
    kp_scale: Range = None
    """Per actuator: factor on its gain and its position bias (a PD servo's kp; a motor's strength)."""
    kd_scale: Range = None
    """Per actuator: factor on its velocity bias (a PD servo's kd)."""
    motor_offset: Range = None
    """Per actuator: offset added to the control target (rad for a position servo; needs an affine bias)."""
    damping_scale: Range = None
    """Per dof (free joints excepted): factor on the joint damping."""
    armature_scale: Range = None
    """Per dof (free joints excepted): factor on the armature."""
    push_interval_s: float = 0.0
    """Seconds between pushes (0: none); a push happens at the episode steps that are multiples of it."""
    push_velocity: float = 0.0
    """A push replaces ``body``'s planar velocity by U(-v, v) m/s per axis (world x and y)."""

    def ranges(self) -> dict:
        """{quantity: (min, max)} of the drawn quantities."""
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not None}

    @property
    def pushes(self) -> bool:
        return self.push_interval_s > 0.0 and self.push_velocity > 0.0

    @property
    def empty(self) -> bool:
        """Nothing is drawn and nothing pushed."""
        return not self.ranges() and not self.pushes

    def problems(self) -> list:
        """One line per invalid setting (empty: valid)."""
        lines = []
        for name, (lo, hi) in self.ranges().items():
            if not (math.isfinite(lo) and math.isfinite(hi)):
                lines.append(f"randomization {name}=({lo}, {hi}): not finite")
            elif lo > hi:
                lines.append(f"randomization {name}=({lo}, {hi}): min above max")
            elif name in NON_NEGATIVE and lo < 0:
                lines.append(f"randomization {name}=({lo}, {hi}): must be >= 0")
        for name in ("push_interval_s", "push_velocity"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                lines.append(f"randomization {name}={value}: must be finite and >= 0")
        return lines


def with_overrides(spec: Optional[Randomization], items: Sequence[str]) -> Randomization:
    """``spec`` (None: nothing drawn) with ``name=min,max`` (a range; ``name=none`` turns it off),
    ``push_interval_s=T``, ``push_velocity=V`` or ``body=NAME`` items; raises ValueError on one it
    cannot read."""
    spec = spec or Randomization()
    changes = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        try:
            if not sep:
                raise ValueError
            if name in FIELDS:
                parts = [float(v) for v in value.split(",")] if value.strip().lower() != "none" else None
                if parts is not None and len(parts) != 2:
                    raise ValueError
                changes[name] = tuple(parts) if parts is not None else None
            elif name in ("push_interval_s", "push_velocity"):
                changes[name] = float(value)
            elif name == "body":
                changes[name] = value.strip()
            else:
                raise KeyError
        except KeyError:
            raise ValueError(f"--randomize-set {item!r}: unknown name {name!r}; one of "
                             f"{', '.join(FIELDS + ('push_interval_s', 'push_velocity', 'body'))}") from None
        except ValueError:
            raise ValueError(f"--randomize-set {item!r}: expected name=min,max (or name=none), "
                             f"push_interval_s=T, push_velocity=V or body=NAME") from None
    return dataclasses.replace(spec, **changes)


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
        self.body = self.body_id(spec, mjm)
        ranges = spec.ranges()
        if "added_mass" in ranges and mjm.body_mass[self.body] + ranges["added_mass"][0] <= 0:
            raise ValueError(f"randomization added_mass={ranges['added_mass']}: body {self.body} of mass "
                             f"{mjm.body_mass[self.body]:.3g} kg would have none")
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
        subtree = np.zeros(mjm.nbody, dtype=np.float32)
        b = self.body
        while True:  # the body and its ancestors carry its added mass
            subtree[b] = 1.0
            if b == 0:
                break
            b = mjm.body_parentid[b]
        free_dofs = {mjm.jnt_dofadr[j] + i for j in range(mjm.njnt) if mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE
                     for i in range(6)}
        dof_scaled = np.array([0.0 if i in free_dofs else 1.0 for i in range(mjm.nv)], dtype=np.float32)
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
    def body_id(spec: Randomization, mjm: mujoco.MjModel) -> int:
        if not spec.body:
            return 1
        body = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, spec.body)
        if body < 1:
            raise ValueError(f"randomization body {spec.body!r} is not a body of the model")
        return body

    @staticmethod
    def batch_sizes(spec: Randomization, num_worlds: int) -> dict:
        """``mjw.put_model``'s ``batch_sizes``: every model field the spec draws, over all worlds."""
        return {f: num_worlds for name in spec.ranges() for f in MODEL_FIELDS[name]}

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
