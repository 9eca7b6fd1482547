"""Domain randomization per nominal group: the ranges (docs/randomization.md).

SDPG compares the returns of a nominal world and its auxiliaries, so their physics must be the same:
one draw per group, taken when the nominal's episode starts and shared by its auxiliaries; groups
differ. :class:`Randomization` is a task's ranges (data, ``Task.randomization``); the device side is
:class:`sdpg_warp.randomizer.GroupRandomizer`. This module imports no Warp or MuJoCo (the CLI checks
ranges with it before anything is built).
"""

import dataclasses
import math
from typing import Optional, Sequence

Range = Optional[tuple[float, float]]

FIELDS = ("friction", "added_mass", "com_offset", "kp_scale", "kd_scale", "motor_offset", "damping_scale",
          "armature_scale")
"""The drawn physics quantities, in the order of the kernel's ``on`` and ``ranges`` arrays."""
VISUAL_FIELDS = ("rgba_scale", "light_pos", "light_diffuse_scale", "camera_pos", "camera_rot", "camera_fovy",
                 "depth_noise")
"""The drawn visual quantities (the nominal renderer's; the physics never sees them), in the order of
``kernels/visual.py``'s ``on`` and ``ranges`` arrays."""
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
NON_NEGATIVE = ("friction", "kp_scale", "kd_scale", "damping_scale", "armature_scale", "rgba_scale",
                "light_diffuse_scale", "depth_noise")
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
    rgba_scale: Range = None
    """Visual, per geom and per material: a factor per colour channel (red, green, blue; clamped to
    [0, 1] after scaling); a geom that shows its material's colour takes the material's draw."""
    light_pos: Range = None
    """Visual, per model light: m added to each coordinate of its position (world frame)."""
    light_diffuse_scale: Range = None
    """Visual, per model light: factor on its diffuse colour (its intensity)."""
    camera_pos: Range = None
    """Visual, per rendered camera: m added to each coordinate of its position (camera frame)."""
    camera_rot: Range = None
    """Visual, per rendered camera: rad of rotation about each of its axes (x, y, z of the camera frame)."""
    camera_fovy: Range = None
    """Visual, per rendered camera: degrees added to its vertical field of view."""
    depth_noise: Range = None
    """Visual, depth images: the standard deviation (m) of a Gaussian added to every pixel's depth
    before clipping and normalization, drawn per episode; the noise itself is new at every frame."""
    push_interval_s: float = 0.0
    """Seconds between pushes (0: none); a push happens at the episode steps that are multiples of it."""
    push_velocity: float = 0.0
    """A push replaces ``body``'s planar velocity by U(-v, v) m/s per axis (world x and y)."""

    def ranges(self) -> dict:
        """{quantity: (min, max)} of the drawn quantities, physics and visual."""
        return {**self.physics_ranges(), **self.visual_ranges()}

    def physics_ranges(self) -> dict:
        """{quantity: (min, max)} of the drawn physics quantities (``FIELDS``)."""
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not None}

    def visual_ranges(self) -> dict:
        """{quantity: (min, max)} of the drawn visual quantities (``VISUAL_FIELDS``)."""
        return {name: getattr(self, name) for name in VISUAL_FIELDS if getattr(self, name) is not None}

    @property
    def pushes(self) -> bool:
        return self.push_interval_s > 0.0 and self.push_velocity > 0.0

    @property
    def empty(self) -> bool:
        """Nothing is drawn and nothing pushed."""
        return not self.ranges() and not self.pushes

    def describe(self) -> str:
        """One line for the console: the drawn ranges and the pushes."""
        parts = [f"{name} {lo:g}..{hi:g}" for name, (lo, hi) in self.ranges().items()]
        if self.pushes:
            parts.append(f"pushes every {self.push_interval_s:g} s up to {self.push_velocity:g} m/s")
        return ", ".join(parts) + (f" (body {self.body})" if self.body else "")

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
            if name in FIELDS + VISUAL_FIELDS:
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
                             f"{', '.join(FIELDS + VISUAL_FIELDS + ('push_interval_s', 'push_velocity', 'body'))}") from None
        except ValueError:
            raise ValueError(f"--randomize-set {item!r}: expected name=min,max (or name=none), "
                             f"push_interval_s=T, push_velocity=V or body=NAME") from None
    return dataclasses.replace(spec, **changes)


# Model facts both draws share (the training simulator's GroupRandomizer and deploy's ModelRandomizer).

def randomized_body(spec: Randomization, mjm) -> int:
    """The body of ``mjm`` (a ``mujoco.MjModel``) that takes the added mass, the centre-of-mass offset
    and the pushes (default: body 1)."""
    import mujoco

    if not spec.body:
        return 1
    body = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, spec.body)
    if body < 1:
        raise ValueError(f"randomization body {spec.body!r} is not a body of the model")
    return body


def subtree_mask(mjm, body: int) -> "numpy.ndarray":
    """[nbody] 1 for ``body`` and its ancestors (their subtree masses carry its added mass), else 0."""
    import numpy as np

    mask = np.zeros(mjm.nbody, dtype=np.float32)
    while True:
        mask[body] = 1.0
        if body == 0:
            return mask
        body = mjm.body_parentid[body]


def scaled_dofs(mjm) -> "numpy.ndarray":
    """[nv] 1 for the dofs whose damping and armature scale (every dof but free joints'), else 0."""
    import mujoco
    import numpy as np

    free = {mjm.jnt_dofadr[j] + i for j in range(mjm.njnt) if mjm.jnt_type[j] == mujoco.mjtJoint.mjJNT_FREE
            for i in range(6)}
    return np.array([0.0 if i in free else 1.0 for i in range(mjm.nv)], dtype=np.float32)
