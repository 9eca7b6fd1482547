"""Visual randomization per nominal: draws the nominal renderer applies and the physics never sees.

The renderer keeps N worlds, render world n showing nominal n = simulator world n*(M+1) (docs/DESIGN.md
section 2); ``group_size`` below is ``M + 1``. A nominal's draw is a pure function of (seed, nominal
world, that nominal's reset count), as the physics draws (``kernels/randomize.py``) on a stream of its
own, so a resume from a checkpoint's reset counts redraws the same values.
"""

import warp as wp

from sdpg_warp.tasks.common import streams

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})

STEP_STRIDE = 7919
"""The depth noise key's stride per episode step."""


@wp.func
def _rotation(angles: wp.vec3) -> wp.mat33:
    """Rx(a0) Ry(a1) Rz(a2): rotations about the x, y and z axes of a frame, applied in its frame."""
    cx = wp.cos(angles[0])
    sx = wp.sin(angles[0])
    cy = wp.cos(angles[1])
    sy = wp.sin(angles[1])
    cz = wp.cos(angles[2])
    sz = wp.sin(angles[2])
    rx = wp.mat33(1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx)
    ry = wp.mat33(cy, 0.0, sy, 0.0, 1.0, 0.0, -sy, 0.0, cy)
    rz = wp.mat33(cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0)
    return rx @ ry @ rz


@wp.kernel
def _draw_visual(
    # In:
    seed_in: int,
    group_size_in: int,
    reset_count_in: wp.array(dtype=int),
    on_in: wp.array(dtype=int),
    ranges_in: wp.array(dtype=wp.vec2),
    geom_rgba0_in: wp.array(dtype=wp.vec4),
    geom_shows_mat_in: wp.array(dtype=int),
    mat_rgba0_in: wp.array(dtype=wp.vec4),
    light_diffuse0_in: wp.array(dtype=wp.vec3),
    cam_fovy0_in: wp.array(dtype=float),
    cam_drawn_in: wp.array(dtype=int),
    # Out:
    drawn_count_out: wp.array(dtype=int),
    geom_rgba_out: wp.array2d(dtype=wp.vec4),
    mat_rgba_out: wp.array2d(dtype=wp.vec4),
    light_offset_out: wp.array2d(dtype=wp.vec3),
    light_diffuse_out: wp.array2d(dtype=wp.vec3),
    cam_offset_out: wp.array2d(dtype=wp.vec3),
    cam_rot_out: wp.array2d(dtype=wp.mat33),
    cam_fovy_out: wp.array2d(dtype=float),
    depth_sigma_out: wp.array(dtype=float),
):
    """Render world n takes nominal n's draw when nominal n's reset count differs from the one of
    its last draw (``drawn_count_out``, -1: never drawn); other render worlds keep theirs.

    The draw comes from the stream keyed by (seed_in, nominal world n*group_size_in, its reset
    count); the quantities, in ``randomization.VISUAL_FIELDS`` order, each drawn only where ``on_in``
    is 1 (an off quantity's output is not written, and may be a one-row array): per geom that shows
    its own colour (``geom_shows_mat_in`` 0) and per material, red, green and blue factors; per
    light a world-frame position offset (3 numbers) and a diffuse factor; per camera with
    ``cam_drawn_in`` 1 a camera-frame position offset, rotation angles about its x, y, z axes
    (``_rotation``) and a field-of-view offset in degrees; the depth noise's standard deviation.
    """
    nominalid = wp.tid()
    count = reset_count_in[nominalid * group_size_in]
    if drawn_count_out[nominalid] == count:
        return
    drawn_count_out[nominalid] = count
    rng = streams.reset_rng(seed_in + streams.VISUAL_DRAW, count, nominalid * group_size_in)
    if on_in[0]:
        lo = ranges_in[0][0]
        hi = ranges_in[0][1]
        for g in range(geom_rgba0_in.shape[0]):
            if geom_shows_mat_in[g] == 0:
                rgba = geom_rgba0_in[g]
                red = wp.randf(rng, lo, hi)
                green = wp.randf(rng, lo, hi)
                blue = wp.randf(rng, lo, hi)
                geom_rgba_out[nominalid, g] = wp.vec4(wp.clamp(rgba[0] * red, 0.0, 1.0),
                                                      wp.clamp(rgba[1] * green, 0.0, 1.0),
                                                      wp.clamp(rgba[2] * blue, 0.0, 1.0), rgba[3])
        for i in range(mat_rgba0_in.shape[0]):
            rgba = mat_rgba0_in[i]
            red = wp.randf(rng, lo, hi)
            green = wp.randf(rng, lo, hi)
            blue = wp.randf(rng, lo, hi)
            mat_rgba_out[nominalid, i] = wp.vec4(wp.clamp(rgba[0] * red, 0.0, 1.0), wp.clamp(rgba[1] * green, 0.0, 1.0),
                                                 wp.clamp(rgba[2] * blue, 0.0, 1.0), rgba[3])
    for light in range(light_diffuse0_in.shape[0]):
        if on_in[1]:
            lo = ranges_in[1][0]
            hi = ranges_in[1][1]
            dx = wp.randf(rng, lo, hi)
            dy = wp.randf(rng, lo, hi)
            dz = wp.randf(rng, lo, hi)
            light_offset_out[nominalid, light] = wp.vec3(dx, dy, dz)
        if on_in[2]:
            light_diffuse_out[nominalid, light] = light_diffuse0_in[light] * wp.randf(rng, ranges_in[2][0],
                                                                                      ranges_in[2][1])
    for cam in range(cam_fovy0_in.shape[0]):
        if cam_drawn_in[cam]:
            if on_in[3]:
                lo = ranges_in[3][0]
                hi = ranges_in[3][1]
                dx = wp.randf(rng, lo, hi)
                dy = wp.randf(rng, lo, hi)
                dz = wp.randf(rng, lo, hi)
                cam_offset_out[nominalid, cam] = wp.vec3(dx, dy, dz)
            if on_in[4]:
                lo = ranges_in[4][0]
                hi = ranges_in[4][1]
                ax = wp.randf(rng, lo, hi)
                ay = wp.randf(rng, lo, hi)
                az = wp.randf(rng, lo, hi)
                cam_rot_out[nominalid, cam] = _rotation(wp.vec3(ax, ay, az))
            if on_in[5]:
                cam_fovy_out[nominalid, cam] = cam_fovy0_in[cam] + wp.randf(rng, ranges_in[5][0], ranges_in[5][1])
    if on_in[6]:
        depth_sigma_out[nominalid] = wp.randf(rng, ranges_in[6][0], ranges_in[6][1])


@wp.kernel
def _move_cameras(
    # In:
    cam_offset_in: wp.array2d(dtype=wp.vec3),
    cam_rot_in: wp.array2d(dtype=wp.mat33),
    # Out:
    cam_xpos_out: wp.array2d(dtype=wp.vec3),
    cam_xmat_out: wp.array2d(dtype=wp.mat33),
):
    """Moves camera c of render world n by its draw, after the kinematics placed it: the position by
    the offset in the camera's frame, the orientation by the rotation in that frame."""
    nominalid, cam = wp.tid()
    xmat = cam_xmat_out[nominalid, cam]
    cam_xpos_out[nominalid, cam] = cam_xpos_out[nominalid, cam] + xmat @ cam_offset_in[nominalid, cam]
    cam_xmat_out[nominalid, cam] = xmat @ cam_rot_in[nominalid, cam]


@wp.kernel
def _move_lights(
    # In:
    light_offset_in: wp.array2d(dtype=wp.vec3),
    # Out:
    light_xpos_out: wp.array2d(dtype=wp.vec3),
):
    """Moves light l of render world n by its draw (world frame), after the kinematics placed it."""
    nominalid, light = wp.tid()
    light_xpos_out[nominalid, light] = light_xpos_out[nominalid, light] + light_offset_in[nominalid, light]


@wp.func
def _depth_noise(seed: int, reset_count: int, episode_step: int, pixel: int) -> float:
    """A standard normal draw for one rendered depth pixel of one nominal frame, keyed by (seed, the
    nominal's reset count and episode step, the pixel's index over all nominals and cameras)."""
    rng = streams.reset_rng(seed + streams.DEPTH_NOISE + episode_step * STEP_STRIDE, reset_count, pixel)
    return wp.randn(rng)
