"""Domain randomization of a C MuJoCo model, drawn per episode for ``deploy --randomize``: the same
quantities and the same formulas as the training simulator's draw (``kernels/randomize.py``:
friction of every geom, added mass on the spec's body with its inertia and its ancestors' subtree
masses, a centre-of-mass offset, per actuator kp and kd scales and a target offset, per dof damping
and armature scales except free joints'), each episode from the nominal values, from NumPy's
generator (docs/randomization.md). Derived constants stay the nominal model's, as in training."""

import mujoco
import numpy as np

from sdpg_warp.randomization import Randomization, randomized_body, scaled_dofs, subtree_mask


class ModelRandomizer:
    """Draws a :class:`Randomization`'s physics into ``model`` in place (:meth:`draw`), always from
    the nominal values kept at construction."""

    def __init__(self, model: mujoco.MjModel, spec: Randomization):
        problems = spec.problems()
        if problems:
            raise ValueError(problems[0])
        self.model, self.spec = model, spec
        self.ranges = spec.physics_ranges()
        self.body = randomized_body(spec, model)
        self.subtree = subtree_mask(model, self.body)
        self.dofs = scaled_dofs(model).astype(bool)
        self.nominal = {name: getattr(model, name).copy() for name in (
            "geom_friction", "body_mass", "body_subtreemass", "body_inertia", "body_ipos", "actuator_gainprm",
            "actuator_biasprm", "dof_damping", "dof_armature")}

    def draw(self, rng: np.random.Generator) -> dict:
        """New physics for an episode; returns the drawn values by quantity name."""
        m, nominal, ranges, drawn = self.model, self.nominal, self.ranges, {}
        for name, array in nominal.items():
            getattr(m, name)[:] = array

        def uniform(name, size=None):
            lo, hi = ranges[name]
            drawn[name] = rng.uniform(lo, hi, size)
            return drawn[name]

        if "friction" in ranges:
            m.geom_friction[:, 0] = uniform("friction")
        if "added_mass" in ranges:
            added, b = uniform("added_mass"), self.body
            m.body_mass[b] = nominal["body_mass"][b] + added
            m.body_inertia[b] = nominal["body_inertia"][b] * (m.body_mass[b] / nominal["body_mass"][b])
            m.body_subtreemass[:] = nominal["body_subtreemass"] + added * self.subtree
        if "com_offset" in ranges:
            m.body_ipos[self.body] = nominal["body_ipos"][self.body] + uniform("com_offset", 3)
        nu = m.nu
        kp = uniform("kp_scale", nu) if "kp_scale" in ranges else np.ones(nu)
        kd = uniform("kd_scale", nu) if "kd_scale" in ranges else np.ones(nu)
        target = uniform("motor_offset", nu) if "motor_offset" in ranges else np.zeros(nu)
        m.actuator_gainprm[:, 0] = nominal["actuator_gainprm"][:, 0] * kp
        m.actuator_biasprm[:, 0] = nominal["actuator_biasprm"][:, 0] + m.actuator_gainprm[:, 0] * target
        m.actuator_biasprm[:, 1] = nominal["actuator_biasprm"][:, 1] * kp
        m.actuator_biasprm[:, 2] = nominal["actuator_biasprm"][:, 2] * kd
        if "damping_scale" in ranges:
            m.dof_damping[self.dofs] = nominal["dof_damping"][self.dofs] * uniform("damping_scale", m.nv)[self.dofs]
        if "armature_scale" in ranges:
            m.dof_armature[self.dofs] = nominal["dof_armature"][self.dofs] * uniform("armature_scale", m.nv)[self.dofs]
        return drawn
