"""Perturbation sampling: eps ~ N(0, I) per (world, action dim), a = clamp(mu + sigma*eps), tanh(a).

The noise is counter-based (Philox-4x32-10 keyed by the seed, counter = (dim // 4, world, step)),
so every eps is a pure function of (seed, step, world, dim): reproducible, independent of the
launch shape and of N, d, and free of any generator state to carry between epochs.
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

_TWO_PI = wp.constant(6.283185307179586)
_TWO_POW_M24 = wp.constant(1.0 / 16777216.0)


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
def _box_muller(u1: float, u2: float):
    """(z0, z1) = sqrt(-2 ln u1) * (cos(2 pi u2), sin(2 pi u2)): two independent N(0, 1)."""
    radius = wp.sqrt(-2.0 * wp.log(u1))
    angle = _TWO_PI * u2
    return radius * wp.cos(angle), radius * wp.sin(angle)


@wp.func
def _perturbed_action(mean: float, logstd: float, eps: float, lower: float, upper: float) -> float:
    """a = clamp(mu + exp(logstd) * eps, lower, upper)."""
    return wp.clamp(mean + wp.exp(logstd) * eps, lower, upper)


@wp.func
def _write_action(
    # In:
    worldid: int,
    dimid: int,
    nominalid: int,
    mean_in: wp.array2d(dtype=float),
    logstd_in: wp.array2d(dtype=float),
    eps: float,
    lower: float,
    upper: float,
    squash: int,
    # Out:
    actions_out: wp.array2d(dtype=float),
    eps_out: wp.array2d(dtype=float),
    squashed_out: wp.array2d(dtype=float),
):
    """eps_out = eps; actions_out = a (_perturbed_action); squashed_out = tanh(a) when squash."""
    # Dims past the end of the last group of four are drawn (Philox yields four) but not written.
    if dimid < actions_out.shape[1]:
        action = _perturbed_action(
            mean_in[nominalid, dimid], logstd_in[nominalid, dimid], eps, lower, upper
        )
        eps_out[worldid, dimid] = eps
        actions_out[worldid, dimid] = action
        if squash != 0:
            squashed_out[worldid, dimid] = wp.tanh(action)


@wp.kernel
def _perturb_actions(
    # In:
    seed_lo_in: wp.uint32,
    seed_hi_in: wp.uint32,
    step_lo_in: wp.uint32,
    step_hi_in: wp.uint32,
    num_aux_in: int,
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
    with world w = n*(M+1) + k. One thread per (world, group of four dims): one Philox call
    yields the four normals of the group.

    mean_in: actor mean (N, d); logstd_in: (N, d), a stride-0 view when state-independent;
    actions_out, eps_out: (N*(M+1), d); squashed_out: (N*(M+1), d), unused when squash_in == 0.
    """
    worldid, quadid = wp.tid()
    group = num_aux_in + 1
    nominalid = worldid // group
    dim0 = 4 * quadid

    z0 = float(0.0)
    z1 = float(0.0)
    z2 = float(0.0)
    z3 = float(0.0)
    # The nominal world follows the mean exactly: it is the baseline R(a) of the estimator.
    if worldid % group != 0:
        r0, r1, r2, r3 = _philox4x32(
            wp.uint32(quadid), wp.uint32(worldid), step_lo_in, step_hi_in, seed_lo_in, seed_hi_in
        )
        z0, z1 = _box_muller(_uniform(r0), _uniform(r1))
        z2, z3 = _box_muller(_uniform(r2), _uniform(r3))

    _write_action(worldid, dim0, nominalid, mean_in, logstd_in, z0, lower_in, upper_in, squash_in,
                  actions_out, eps_out, squashed_out)
    _write_action(worldid, dim0 + 1, nominalid, mean_in, logstd_in, z1, lower_in, upper_in, squash_in,
                  actions_out, eps_out, squashed_out)
    _write_action(worldid, dim0 + 2, nominalid, mean_in, logstd_in, z2, lower_in, upper_in, squash_in,
                  actions_out, eps_out, squashed_out)
    _write_action(worldid, dim0 + 3, nominalid, mean_in, logstd_in, z3, lower_in, upper_in, squash_in,
                  actions_out, eps_out, squashed_out)
