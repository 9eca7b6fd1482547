"""Domain randomization per nominal group: physics draws written into batched model fields, and pushes.

World layout (docs/DESIGN.md section 2): world ``w = n*(M+1) + k``; ``group_size`` below is ``M + 1``.
Every draw is a pure function of (seed, nominal world, that nominal's reset count), so the worlds of a
group compute the same numbers independently and a checkpoint's reset counts reproduce them.
"""

import warp as wp

from sdpg_warp.tasks.common import streams

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

@wp.kernel
def _draw_physics(
    # In:
    seed_in: int,
    group_size_in: int,
    mask_in: wp.array(dtype=bool),
    reset_count_in: wp.array(dtype=int),
    on_in: wp.array(dtype=int),
    ranges_in: wp.array(dtype=wp.vec2),
    body_in: int,
    subtree_in: wp.array(dtype=float),
    dof_scaled_in: wp.array(dtype=float),
    geom_friction0_in: wp.array(dtype=wp.vec3),
    body_mass0_in: wp.array(dtype=float),
    body_subtreemass0_in: wp.array(dtype=float),
    body_inertia0_in: wp.array(dtype=wp.vec3),
    body_ipos0_in: wp.array(dtype=wp.vec3),
    gainprm0_in: wp.array(dtype=wp.types.vector(10, dtype=float)),
    biasprm0_in: wp.array(dtype=wp.types.vector(10, dtype=float)),
    damping0_in: wp.array(dtype=float),
    armature0_in: wp.array(dtype=float),
    # Out:
    geom_friction_out: wp.array2d(dtype=wp.vec3),
    body_mass_out: wp.array2d(dtype=float),
    body_subtreemass_out: wp.array2d(dtype=float),
    body_inertia_out: wp.array2d(dtype=wp.vec3),
    body_ipos_out: wp.array2d(dtype=wp.vec3),
    gainprm_out: wp.array2d(dtype=wp.types.vector(10, dtype=float)),
    biasprm_out: wp.array2d(dtype=wp.types.vector(10, dtype=float)),
    damping_out: wp.array2d(dtype=float),
    armature_out: wp.array2d(dtype=float),
):
    """World w whose nominal n = w - w % group_size_in is masked takes the group's draw.

    The draw comes from the stream keyed by (seed_in, n, reset_count_in[n]); the quantities, in
    ``randomization.FIELDS`` order, each used only where ``on_in`` is 1 (an off field's output array
    is the model's unbatched one and is not written): friction f (sliding friction of every geom),
    added mass a on ``body_in`` (mass m0 + a, inertia scaled by (m0 + a) / m0, the subtree masses of
    the body and its ancestors, ``subtree_in`` = 1, raised by a), a centre-of-mass offset (3
    numbers, body frame), per actuator kp and kd scales and a target offset o (gain g0 kp; bias
    b0 + g0 kp o, b1 kp, b2 kd: an affine PD servo's target moves by o), per dof damping and
    armature scales (dofs with ``dof_scaled_in`` = 1).
    """
    worldid = wp.tid()
    nominal = worldid - worldid % group_size_in
    if not mask_in[nominal]:
        return
    rng = streams.reset_rng(seed_in + streams.PHYSICS_DRAW, reset_count_in[nominal], nominal)
    if on_in[0]:
        friction = wp.randf(rng, ranges_in[0][0], ranges_in[0][1])
        for g in range(geom_friction0_in.shape[0]):
            f0 = geom_friction0_in[g]
            geom_friction_out[worldid, g] = wp.vec3(friction, f0[1], f0[2])
    if on_in[1]:
        added = wp.randf(rng, ranges_in[1][0], ranges_in[1][1])
        mass0 = body_mass0_in[body_in]
        body_mass_out[worldid, body_in] = mass0 + added
        body_inertia_out[worldid, body_in] = body_inertia0_in[body_in] * ((mass0 + added) / mass0)
        for b in range(body_subtreemass0_in.shape[0]):
            body_subtreemass_out[worldid, b] = body_subtreemass0_in[b] + added * subtree_in[b]
    if on_in[2]:
        offset = wp.vec3(
            wp.randf(rng, ranges_in[2][0], ranges_in[2][1]),
            wp.randf(rng, ranges_in[2][0], ranges_in[2][1]),
            wp.randf(rng, ranges_in[2][0], ranges_in[2][1]),
        )
        body_ipos_out[worldid, body_in] = body_ipos0_in[body_in] + offset
    if on_in[3] or on_in[4] or on_in[5]:
        for a in range(gainprm0_in.shape[0]):
            kp = 1.0
            kd = 1.0
            target = 0.0
            if on_in[3]:
                kp = wp.randf(rng, ranges_in[3][0], ranges_in[3][1])
            if on_in[4]:
                kd = wp.randf(rng, ranges_in[4][0], ranges_in[4][1])
            if on_in[5]:
                target = wp.randf(rng, ranges_in[5][0], ranges_in[5][1])
            gain = gainprm0_in[a]
            bias = biasprm0_in[a]
            gain[0] = gain[0] * kp
            bias[0] = bias[0] + gain[0] * target
            bias[1] = bias[1] * kp
            bias[2] = bias[2] * kd
            gainprm_out[worldid, a] = gain
            biasprm_out[worldid, a] = bias
    if on_in[6] or on_in[7]:
        for i in range(damping0_in.shape[0]):
            damping = 1.0
            armature = 1.0
            if on_in[6]:
                damping = wp.randf(rng, ranges_in[6][0], ranges_in[6][1])
            if on_in[7]:
                armature = wp.randf(rng, ranges_in[7][0], ranges_in[7][1])
            if dof_scaled_in[i] > 0.0:
                if on_in[6]:
                    damping_out[worldid, i] = damping0_in[i] * damping
                if on_in[7]:
                    armature_out[worldid, i] = armature0_in[i] * armature


@wp.kernel
def _push(
    # In:
    seed_in: int,
    group_size_in: int,
    interval_in: int,
    velocity_in: float,
    dofadr_in: int,
    episode_step_in: wp.array(dtype=int),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qvel_out: wp.array2d(dtype=float),
):
    """At an environment step whose episode step s > 0 is a multiple of ``interval_in``, the free
    joint at ``dofadr_in`` gets the planar (world x, y) velocity U(-velocity_in, velocity_in) each;
    the draw is keyed by (seed_in, nominal n, reset_count_in[n], s), so a nominal and its auxiliaries
    at the same step get the same push (the velocity is replaced, as the authors' pushes do)."""
    worldid = wp.tid()
    step = episode_step_in[worldid]
    if step == 0 or step % interval_in != 0:
        return
    nominal = worldid - worldid % group_size_in
    rng = streams.reset_rng(seed_in + streams.PUSHES, reset_count_in[nominal], nominal * streams.RESET_STRIDE + step)
    qvel_out[worldid, dofadr_in] = wp.randf(rng, -velocity_in, velocity_in)
    qvel_out[worldid, dofadr_in + 1] = wp.randf(rng, -velocity_in, velocity_in)
