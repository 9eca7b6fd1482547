"""Perturbation sampling: eps ~ N(0, I) per (world, action dim), a = clamp(mu + sigma*eps), tanh(a).

The noise is counter-based (Philox-4x32-10 keyed by the seed, counter = (dim // 4, world, step)),
so every eps is a pure function of (seed, step, world, dim): reproducible, independent of the
launch shape and of N, d, and free of any generator state to carry between epochs. The four
32-bit words of one Philox call become four 24-bit uniforms in (0, 1) and, by Box-Muller on
the pairs, the four normals of dims 4q..4q+3 (so |eps| <= sqrt(2 ln 2^25) ~ 5.9). cos and sin of
the Box-Muller angle and the squashing tanh are evaluated inline to a few float32 ulps (cheaper
than the library calls on the CPU; docs/DESIGN.md section 3, step 2.3).
"""

import warp as wp

# No autodiff through sampling: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})

# Philox-4x32 round multipliers and Weyl key increments (Salmon et al., SC'11).
_PHILOX_M0 = wp.constant(wp.uint32(0xD2511F53))
_PHILOX_M1 = wp.constant(wp.uint32(0xCD9E8D57))
_PHILOX_W0 = wp.constant(wp.uint32(0x9E3779B9))
_PHILOX_W1 = wp.constant(wp.uint32(0xBB67AE85))
_PHILOX_ROUNDS = 10

_TWO_POW_M24 = wp.constant(1.0 / 16777216.0)
_HALF_PI = wp.constant(1.5707963267948966)

# Samples k of one nominal handled by one thread (one Philox call per sample and group of four
# dims): the nominal's mean and exp(log-std) are read and exponentiated once per thread.
_SAMPLES_PER_THREAD = 8


@wp.func
def _mulhilo(a: wp.uint32, b: wp.uint32):
    """(hi, lo) = the high and low 32 bits of the 64-bit product a*b."""
    product = wp.uint64(a) * wp.uint64(b)
    return wp.uint32(product >> wp.uint64(32)), wp.uint32(product)


@wp.func
def _philox4x32(
    c0: wp.uint32, c1: wp.uint32, c2: wp.uint32, c3: wp.uint32, k0: wp.uint32, k1: wp.uint32
):
    """Philox-4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1); ten rounds of
    (c0, c1, c2, c3) <- (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)),
    (k0, k1) <- (k0 + W0, k1 + W1)."""
    for _round in range(_PHILOX_ROUNDS):
        hi0, lo0 = _mulhilo(_PHILOX_M0, c0)
        hi1, lo1 = _mulhilo(_PHILOX_M1, c2)
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
        k0 = k0 + _PHILOX_W0
        k1 = k1 + _PHILOX_W1
    return c0, c1, c2, c3


@wp.func
def _uniform(bits: wp.uint32) -> float:
    """u = (floor(bits / 2^8) + 1/2) * 2^-24, in the open interval (0, 1).

    24 bits is what a float32 mantissa holds; the half offset keeps log(u) finite."""
    return (float(bits >> wp.uint32(8)) + 0.5) * _TWO_POW_M24


@wp.func
def _cos_sin_turns(u: float):
    """(cos(2 pi u), sin(2 pi u)) for u in [0, 1], with no library call: the quadrant comes
    exactly from 4u (u is in turns), then Taylor series of degree 8 and 9 on |x| <= pi/4
    (truncation below 3e-8)."""
    v = 4.0 * u
    quadrant = int(v + 0.5)
    x = (v - float(quadrant)) * _HALF_PI
    x2 = x * x
    s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))))
    c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0))))
    # Rotate by quadrant * pi/2.
    q = quadrant & 3
    cos_u = wp.where(q == 0, c, wp.where(q == 1, -s, wp.where(q == 2, -c, s)))
    sin_u = wp.where(q == 0, s, wp.where(q == 1, c, wp.where(q == 2, -s, -c)))
    return cos_u, sin_u


@wp.func
def _box_muller(u1: float, u2: float):
    """(z0, z1) = sqrt(-2 ln u1) * (cos(2 pi u2), sin(2 pi u2)): two independent N(0, 1)."""
    radius = wp.sqrt(-2.0 * wp.log(u1))
    c, s = _cos_sin_turns(u2)
    return radius * c, radius * s


@wp.func
def _tanh(a: float) -> float:
    """tanh(a) = sign(a) (1 - t)/(1 + t), t = e^(-2|a|): one exp, a few float32 ulps; below
    |a| = 1/8, where 1 - t would cancel, its odd Taylor series to a^7 (error < 2e-9). A
    third of the library tanh's cost on the CPU."""
    x = wp.abs(a)
    t = wp.exp(-2.0 * x)
    large = wp.copysign((1.0 - t) / (1.0 + t), a)
    a2 = a * a
    small = a * (1.0 + a2 * (-1.0 / 3.0 + a2 * (2.0 / 15.0 + a2 * (-17.0 / 315.0))))
    return wp.where(x < 0.125, small, large)


@wp.func
def _normals(
    quadid: int, worldid: int, step_lo: wp.uint32, step_hi: wp.uint32, seed_lo: wp.uint32, seed_hi: wp.uint32
):
    """The four N(0, 1) of world w, dims 4q..4q+3: Box-Muller on the pairs of the Philox call at
    counter (q, w, step), key seed."""
    r0, r1, r2, r3 = _philox4x32(wp.uint32(quadid), wp.uint32(worldid), step_lo, step_hi, seed_lo, seed_hi)
    z0, z1 = _box_muller(_uniform(r0), _uniform(r1))
    z2, z3 = _box_muller(_uniform(r2), _uniform(r3))
    return z0, z1, z2, z3


@wp.func
def _write_world(
    # In:
    worldid: int,
    dim0: int,
    lanes: int,
    z: wp.vec4,
    mean: wp.vec4,
    sigma: wp.vec4,
    lower: float,
    upper: float,
    squash: int,
    # Out:
    actions_out: wp.array2d(dtype=float),
    eps_out: wp.array2d(dtype=float),
    squashed_out: wp.array2d(dtype=float),
):
    """For dims dim0 .. dim0 + lanes - 1 of one world: eps_out = z;
    actions_out = a = clamp(mu + sigma * z, lower, upper); squashed_out = tanh(a) when squash.

    The four lanes are computed in straight-line code whatever lanes is (so that the compiler
    can pack them); only the stores past the last dim are skipped."""
    action = wp.vec4(
        wp.clamp(mean[0] + sigma[0] * z[0], lower, upper),
        wp.clamp(mean[1] + sigma[1] * z[1], lower, upper),
        wp.clamp(mean[2] + sigma[2] * z[2], lower, upper),
        wp.clamp(mean[3] + sigma[3] * z[3], lower, upper),
    )
    squashed = wp.vec4(0.0)
    if squash != 0:
        squashed = wp.vec4(_tanh(action[0]), _tanh(action[1]), _tanh(action[2]), _tanh(action[3]))
    if lanes == 4:
        eps_out[worldid, dim0] = z[0]
        eps_out[worldid, dim0 + 1] = z[1]
        eps_out[worldid, dim0 + 2] = z[2]
        eps_out[worldid, dim0 + 3] = z[3]
        actions_out[worldid, dim0] = action[0]
        actions_out[worldid, dim0 + 1] = action[1]
        actions_out[worldid, dim0 + 2] = action[2]
        actions_out[worldid, dim0 + 3] = action[3]
        if squash != 0:
            squashed_out[worldid, dim0] = squashed[0]
            squashed_out[worldid, dim0 + 1] = squashed[1]
            squashed_out[worldid, dim0 + 2] = squashed[2]
            squashed_out[worldid, dim0 + 3] = squashed[3]
    else:
        for lane in range(lanes):
            eps_out[worldid, dim0 + lane] = z[lane]
            actions_out[worldid, dim0 + lane] = action[lane]
            if squash != 0:
                squashed_out[worldid, dim0 + lane] = squashed[lane]


@wp.kernel
def _perturb_actions(
    # In:
    seed_lo_in: wp.uint32,
    seed_hi_in: wp.uint32,
    step_lo_in: wp.uint32,
    step_hi_in: wp.uint32,
    group_size_in: int,
    lower_in: float,
    upper_in: float,
    squash_in: int,
    mean_in: wp.array2d(dtype=float),
    logstd_in: wp.array2d(dtype=float),
    # Out:
    actions_out: wp.array2d(dtype=float),
    eps_out: wp.array2d(dtype=float),
    squashed_out: wp.array2d(dtype=float),
):
    """eps[w, j] = Philox normal of (seed, step, w, j), 0 for nominal worlds (k = 0);
    actions[w, j] = clamp(mu[n, j] + exp(logstd[n, j]) * eps[w, j]); squashed = tanh(actions),
    with world w = n*(M+1) + k.

    Counter (j // 4, w, step), key seed: one Philox call gives the four uniforms of dims
    4q..4q+3 of world w, two Box-Muller pairs their four normals (_normals). One thread per
    (nominal, chunk of _SAMPLES_PER_THREAD samples, group of four dims), launched as
    (N * ceil((M+1) / _SAMPLES_PER_THREAD), ceil(d / 4)); eps does not depend on it. Samples go
    four at a time through straight-line code, so that the compiler can run four Philox calls
    side by side (in SIMD lanes on the CPU).

    mean_in: actor mean (N, d); logstd_in: (N, d), a stride-0 view when state-independent;
    actions_out, eps_out: (N*(M+1), d); squashed_out: (N*(M+1), d), unused when squash_in == 0.
    """
    chunkid, quadid = wp.tid()
    group = group_size_in
    chunks = (group + _SAMPLES_PER_THREAD - 1) // _SAMPLES_PER_THREAD
    nominalid = chunkid // chunks
    first = (chunkid - nominalid * chunks) * _SAMPLES_PER_THREAD
    last = wp.min(first + _SAMPLES_PER_THREAD, group)
    dim0 = 4 * quadid
    lanes = wp.min(4, actions_out.shape[1] - dim0)

    # The nominal's mean and sigma, once per thread (lanes past d stay 0 and are never written).
    mean = wp.vec4(0.0)
    sigma = wp.vec4(0.0)
    for lane in range(lanes):
        mean[lane] = mean_in[nominalid, dim0 + lane]
        sigma[lane] = wp.exp(logstd_in[nominalid, dim0 + lane])

    world0 = nominalid * group
    for block in range(first, last, 4):
        w = world0 + block
        a0, a1, a2, a3 = _normals(quadid, w, step_lo_in, step_hi_in, seed_lo_in, seed_hi_in)
        b0, b1, b2, b3 = _normals(quadid, w + 1, step_lo_in, step_hi_in, seed_lo_in, seed_hi_in)
        c0, c1, c2, c3 = _normals(quadid, w + 2, step_lo_in, step_hi_in, seed_lo_in, seed_hi_in)
        d0, d1, d2, d3 = _normals(quadid, w + 3, step_lo_in, step_hi_in, seed_lo_in, seed_hi_in)
        # The nominal world follows the mean exactly: it is the baseline R(a) of the estimator.
        za = wp.where(block == 0, wp.vec4(0.0), wp.vec4(a0, a1, a2, a3))
        _write_world(w, dim0, lanes, za, mean, sigma, lower_in, upper_in, squash_in,
                     actions_out, eps_out, squashed_out)
        if block + 1 < last:
            _write_world(w + 1, dim0, lanes, wp.vec4(b0, b1, b2, b3), mean, sigma, lower_in, upper_in,
                         squash_in, actions_out, eps_out, squashed_out)
        if block + 2 < last:
            _write_world(w + 2, dim0, lanes, wp.vec4(c0, c1, c2, c3), mean, sigma, lower_in, upper_in,
                         squash_in, actions_out, eps_out, squashed_out)
        if block + 3 < last:
            _write_world(w + 3, dim0, lanes, wp.vec4(d0, d1, d2, d3), mean, sigma, lower_in, upper_in,
                         squash_in, actions_out, eps_out, squashed_out)
