"""Perturbation sampling: eps ~ N(0, I) per (world, action dim), a = clamp(mu + sigma*eps), tanh(a).

The noise is counter-based (Philox-4x32-10 keyed by the seed, counter = (dim // 4, world, step)),
so every eps is a pure function of (seed, step, world, dim): reproducible, independent of the
launch shape and of N, d, and free of any generator state to carry between epochs. The four
32-bit words of one Philox call become four 24-bit uniforms in (0, 1) and, by Box-Muller on
the pairs, the four normals of dims 4q..4q+3 (so |eps| <= sqrt(2 ln 2^25) ~ 5.9).

A thread computes several worlds of one nominal at once (_SAMPLES_PER_THREAD: 32 on the CPU, 2
on a GPU), one per lane of Warp vectors: every step (Philox, log, sqrt, sin and cos, tanh) is
whole-vector arithmetic with no library call and no branch per lane, which the CPU compiler turns
into SIMD instructions; on a GPU the lanes are straight-line code in one thread. log, sin, cos and
expm1 are evaluated inline to a few float32 ulps (docs/DESIGN.md section 3, step 2.3).
"""

import warp as wp

# No autodiff through sampling: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})
# On the CPU: fuse the multiply-adds of the polynomials below (CUDA does by default), and let the
# SLP vectorizer search LLVM's default depth of 12 rather than the 4 of Warp's default flags (a
# compile-time saving elsewhere), deep enough to pack these vector expressions (1.5x faster).
wp.set_module_options({
    "cpu_compiler_flags": f"{wp.config.cpu_compiler_flags or '-march=native'} "
    "-ffp-contract=fast -mllvm=-slp-recursion-max-depth=12"
})

# Philox-4x32 round multipliers and Weyl key increments (Salmon et al., SC'11).
_PHILOX_M0 = wp.constant(wp.uint64(0xD2511F53))
_PHILOX_M1 = wp.constant(wp.uint64(0xCD9E8D57))
_PHILOX_W0 = wp.constant(wp.uint32(0x9E3779B9))
_PHILOX_W1 = wp.constant(wp.uint32(0xBB67AE85))
_PHILOX_ROUNDS = 10

_TWO_POW_M24 = wp.constant(1.0 / 16777216.0)
_PI = wp.constant(3.14159265358979)
_LN2 = wp.constant(0.6931471805599453)
# ln 2 = _LN2_HI + _LN2_LO with _LN2_HI on 15 bits, so that n * _LN2_HI is exact for |n| < 512.
_LN2_HI = wp.constant(0.693145751953125)
_LN2_LO = wp.constant(1.4286068203094173e-06)
_LOG2E = wp.constant(1.4426950408889634)
# Float32 bits of sqrt(1/2): log reduces its argument to a mantissa in [sqrt(1/2), sqrt(2)).
_SQRT_HALF_BITS = wp.constant(0x3F3504F3)
# 1.5 * 2^23: adding and subtracting it rounds a float32 of magnitude < 2^22 to an integer, whose
# value is then the low bits of the sum's float32 bits less _ROUNDER_BITS.
_ROUNDER = wp.constant(12582912.0)
_ROUNDER_BITS = wp.constant(0x4B400000)
# Float32 bits of 9.0: tanh(9) rounds to 1 in float32, and clamping there keeps e^-2|a| normal.
_TANH_LIMIT_BITS = wp.constant(0x41100000)
_SIGN_BIT = wp.constant(-2147483648)
_LOW_HALVES = wp.constant(wp.uint64(0x00000000FFFFFFFF))
_HIGH_HALVES = wp.constant(wp.uint64(0xFFFFFFFF00000000))


def _sampler(lanes: int, outline_normals: bool) -> wp.Kernel:
    """The sampling kernel with ``lanes`` worlds per thread, one per lane of Warp vectors;
    ``outline_normals``: ``_normals`` as a function of its own (the CPU's choice, see there)."""
    Lanes = wp.types.vector(length=lanes, dtype=float)
    LanesInt = wp.types.vector(length=lanes, dtype=wp.int32)
    LanesU32 = wp.types.vector(length=lanes, dtype=wp.uint32)
    # The same 32-bit lanes two to a 64-bit word (lane 2i low, 2i + 1 high), for Philox's products.
    LanePairs = wp.types.vector(length=lanes // 2, dtype=wp.uint64)
    lane_index = wp.constant(LanesU32(*range(lanes)))

    @wp.func(inline=True)
    def _mulhilo(x: LanePairs, m: wp.uint64):
        """(hi, lo): the high and low 32 bits of m * lane, lane by lane, for the 32-bit lanes packed
        in x and m < 2^32; packed the same way. The even and odd lanes are multiplied separately as
        64-bit words, which the CPU does in one SIMD multiply each."""
        thirty_two = LanePairs(wp.uint64(32))
        even = (x & LanePairs(_LOW_HALVES)) * m
        odd = (x >> thirty_two) * m
        hi = (even >> thirty_two) | (odd & LanePairs(_HIGH_HALVES))
        lo = (even & LanePairs(_LOW_HALVES)) | (odd << thirty_two)
        return hi, lo

    @wp.func(inline=True)
    def _splat(k: wp.uint32) -> LanePairs:
        """Every 32-bit lane equal to k, packed."""
        return LanePairs(wp.uint64(k) | (wp.uint64(k) << wp.uint64(32)))

    @wp.func(inline=True)
    def _philox4x32(c0: LanesU32, c1: LanesU32, c2: LanesU32, c3: LanesU32, k0: wp.uint32, k1: wp.uint32):
        """Philox-4x32-10 of the counters (c0, c1, c2, c3) lane by lane, under the key (k0, k1): ten
        rounds of (c0, c1, c2, c3) <- (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)),
        (k0, k1) <- (k0 + W0, k1 + W1)."""
        p0 = wp.cast(c0, LanePairs)
        p1 = wp.cast(c1, LanePairs)
        p2 = wp.cast(c2, LanePairs)
        p3 = wp.cast(c3, LanePairs)
        for _round in range(_PHILOX_ROUNDS):
            hi0, lo0 = _mulhilo(p0, _PHILOX_M0)
            hi1, lo1 = _mulhilo(p2, _PHILOX_M1)
            p0 = hi1 ^ p1 ^ _splat(k0)
            p1 = lo1
            p2 = hi0 ^ p3 ^ _splat(k1)
            p3 = lo0
            k0 = k0 + _PHILOX_W0
            k1 = k1 + _PHILOX_W1
        return wp.cast(p0, LanesU32), wp.cast(p1, LanesU32), wp.cast(p2, LanesU32), wp.cast(p3, LanesU32)

    @wp.func(inline=True)
    def _uniform(bits: LanesU32) -> Lanes:
        """u = (floor(bits / 2^8) + 1/2) * 2^-24, in the open interval (0, 1).

        24 bits is what a float32 mantissa holds; the half offset keeps log(u) finite."""
        top = Lanes(LanesInt(bits >> LanesU32(wp.uint32(8))))
        return (top + Lanes(0.5)) * _TWO_POW_M24

    @wp.func(inline=True)
    def _log(x: Lanes) -> Lanes:
        """ln x for normal x > 0: x = 2^e m with m in [sqrt(1/2), sqrt(2)) (from the float bits),
        ln m = 2 atanh(s), s = (m - 1)/(m + 1), |s| < 0.172, by its series to s^9 (truncation
        below 3e-9 relative)."""
        bits = wp.cast(x, LanesInt)
        e = (bits - LanesInt(_SQRT_HALF_BITS)) >> LanesInt(23)
        m = wp.cast(bits - (e << LanesInt(23)), Lanes)
        s = wp.cw_div(m - Lanes(1.0), m + Lanes(1.0))
        s2 = wp.cw_mul(s, s)
        series = Lanes(1.0 / 7.0) + (1.0 / 9.0) * s2
        series = Lanes(1.0 / 5.0) + wp.cw_mul(s2, series)
        series = Lanes(1.0 / 3.0) + wp.cw_mul(s2, series)
        series = Lanes(1.0) + wp.cw_mul(s2, series)
        return _LN2 * Lanes(e) + 2.0 * wp.cw_mul(s, series)

    @wp.func(inline=True)
    def _sqrt(x: Lanes) -> Lanes:
        """sqrt(x), lane by lane."""
        root = Lanes()
        for lane in range(lanes):
            root[lane] = wp.sqrt(x[lane])
        return root

    @wp.func(inline=True)
    def _box_muller(bits1: LanesU32, bits2: LanesU32):
        """(z0, z1) = sqrt(-2 ln u1) * (cos(2 pi u2), sin(2 pi u2)): two independent N(0, 1), u1 and
        u2 the uniforms of bits1 and bits2.

        With y = pi (u2 - 1/2) in (-pi/2, pi/2): cos(2 pi u2) = sin^2 y - cos^2 y and
        sin(2 pi u2) = -2 sin y cos y; sin y and cos y by their Taylor series to y^11 and y^12
        (truncation below 6e-8), so no quadrant is selected lane by lane."""
        radius = _sqrt(-2.0 * _log(_uniform(bits1)))
        y = _PI * (_uniform(bits2) - Lanes(0.5))
        y2 = wp.cw_mul(y, y)
        s = Lanes(1.0 / 362880.0) - (1.0 / 39916800.0) * y2
        s = Lanes(-1.0 / 5040.0) + wp.cw_mul(y2, s)
        s = Lanes(1.0 / 120.0) + wp.cw_mul(y2, s)
        s = Lanes(-1.0 / 6.0) + wp.cw_mul(y2, s)
        s = wp.cw_mul(y, Lanes(1.0) + wp.cw_mul(y2, s))
        c = Lanes(-1.0 / 3628800.0) + (1.0 / 479001600.0) * y2
        c = Lanes(1.0 / 40320.0) + wp.cw_mul(y2, c)
        c = Lanes(-1.0 / 720.0) + wp.cw_mul(y2, c)
        c = Lanes(1.0 / 24.0) + wp.cw_mul(y2, c)
        c = Lanes(-0.5) + wp.cw_mul(y2, c)
        c = Lanes(1.0) + wp.cw_mul(y2, c)
        cos_u = wp.cw_mul(s, s) - wp.cw_mul(c, c)
        sin_u = -2.0 * wp.cw_mul(s, c)
        return wp.cw_mul(radius, cos_u), wp.cw_mul(radius, sin_u)

    # On the CPU out of line, with every helper inlined into it: the compiler then vectorizes
    # Philox and Box-Muller as a whole (1.3x faster than inlined into the kernel at the paper's
    # sizes). On CUDA inline: out of line its four results go through local memory (the sm_90 PTX
    # of 2 lanes had a 32-byte local depot, 12 st.local and 8 ld.local; inline, none). The other
    # helpers are forced inline: left to itself the compiler outlines some, and their by-value
    # vector and array arguments, written piece by piece and read back whole, stall the CPU.
    @wp.func(inline=not outline_normals)
    def _normals(quadid: int, world0: int, step_lo: wp.uint32, step_hi: wp.uint32, seed_lo: wp.uint32,
                 seed_hi: wp.uint32):
        """The four N(0, 1) of dims 4q..4q+3 of worlds world0 + lane: Box-Muller on the pairs of the
        Philox call at counter (q, world, step), key seed."""
        worlds = LanesU32(wp.uint32(world0)) + lane_index
        r0, r1, r2, r3 = _philox4x32(
            LanesU32(wp.uint32(quadid)), worlds, LanesU32(step_lo), LanesU32(step_hi), seed_lo, seed_hi
        )
        z0, z1 = _box_muller(r0, r1)
        z2, z3 = _box_muller(r2, r3)
        return z0, z1, z2, z3

    @wp.func(inline=True)
    def _expm1(x: Lanes) -> Lanes:
        """e^x - 1 for -87 < x <= 0, to a few ulps relative also near 0: x = n ln 2 + r with n an
        integer and |r| <= ln(2)/2, e^r - 1 by its Taylor series to r^8 (truncation below 3e-9
        relative), e^x - 1 = 2^n (e^r - 1) + (2^n - 1) with 2^n put into the float bits."""
        shifted = _LOG2E * x + Lanes(_ROUNDER)
        n = shifted - Lanes(_ROUNDER)
        r = x - _LN2_HI * n - _LN2_LO * n
        p = Lanes(1.0 / 5040.0) + (1.0 / 40320.0) * r
        p = Lanes(1.0 / 720.0) + wp.cw_mul(r, p)
        p = Lanes(1.0 / 120.0) + wp.cw_mul(r, p)
        p = Lanes(1.0 / 24.0) + wp.cw_mul(r, p)
        p = Lanes(1.0 / 6.0) + wp.cw_mul(r, p)
        p = Lanes(0.5) + wp.cw_mul(r, p)
        p = r + wp.cw_mul(wp.cw_mul(r, r), p)
        exponent = wp.cast(shifted, LanesInt) - LanesInt(_ROUNDER_BITS)
        scale = wp.cast((exponent + LanesInt(127)) << LanesInt(23), Lanes)
        return wp.cw_mul(scale, p) + (scale - Lanes(1.0))

    @wp.func(inline=True)
    def _tanh(a: Lanes) -> Lanes:
        """tanh(a) = sign(a) t/(2 - t), t = -expm1(-2|a|) with |a| clamped to 9: no cancellation at
        small |a|, so one formula serves every lane (a few float32 ulps)."""
        bits = wp.cast(a, LanesInt)
        # min(|a|, 9) on the float bits, which order non-negative floats as integers.
        magnitude = wp.cast(wp.min(bits & LanesInt(0x7FFFFFFF), LanesInt(_TANH_LIMIT_BITS)), Lanes)
        t = -_expm1(-2.0 * magnitude)
        tanh_magnitude = wp.cw_div(t, Lanes(2.0) - t)
        return wp.cast(wp.cast(tanh_magnitude, LanesInt) | (bits & LanesInt(_SIGN_BIT)), Lanes)

    @wp.func(inline=True)
    def _clamped(mean: float, sigma: float, z: Lanes, lower: float, upper: float) -> Lanes:
        """clamp(mean + sigma * z, lower, upper), lane by lane (selects, which the CPU does in one
        instruction, unlike wp.min and wp.max with their NaN rules)."""
        a = Lanes(mean) + sigma * z
        for lane in range(lanes):
            a[lane] = wp.where(a[lane] < lower, lower, wp.where(a[lane] > upper, upper, a[lane]))
        return a

    @wp.func(inline=True)
    def _store(
        # In:
        world0: int,
        count: int,
        cols: wp.vec4i,
        v0: Lanes,
        v1: Lanes,
        v2: Lanes,
        v3: Lanes,
        # Out:
        out: wp.array2d(dtype=float),
    ):
        """out[world0 + lane, cols[j]] = v_j[lane] for the first count lanes.

        Row by row, so that the CPU computes a row's address once for its four stores, and last
        column first: past the last dim, cols repeats it, and its own value is then written last
        (so a partial group of four dims takes the same branch-free path as a full one)."""
        if count == lanes:
            for lane in range(lanes):
                w = world0 + lane
                out[w, cols[3]] = v3[lane]
                out[w, cols[2]] = v2[lane]
                out[w, cols[1]] = v1[lane]
                out[w, cols[0]] = v0[lane]
        else:
            for lane in range(count):
                w = world0 + lane
                out[w, cols[3]] = v3[lane]
                out[w, cols[2]] = v2[lane]
                out[w, cols[1]] = v1[lane]
                out[w, cols[0]] = v0[lane]

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
        (nominal, chunk of ``lanes`` worlds, group of four dims), launched as
        (N * ceil((M+1) / lanes), ceil(d / 4)); eps does not depend on it. The worlds of a chunk
        are the lanes of one vector.

        mean_in: actor mean (N, d); logstd_in: (N, d), a stride-0 view when state-independent;
        actions_out, eps_out: (N*(M+1), d); squashed_out: (N*(M+1), d), unused when squash_in == 0.
        """
        chunkid, quadid = wp.tid()
        group = group_size_in
        chunks = (group + lanes - 1) // lanes
        nominalid = chunkid // chunks
        first = (chunkid - nominalid * chunks) * lanes
        count = wp.min(lanes, group - first)
        world0 = nominalid * group + first
        dim0 = 4 * quadid
        dims = wp.min(4, actions_out.shape[1] - dim0)
        # Dims past d (the last group of four) repeat the last column: read and computed, and their
        # stores overwritten by the last column's own (_store).
        last = dims - 1
        cols = wp.vec4i(dim0, dim0 + wp.min(1, last), dim0 + wp.min(2, last), dim0 + wp.min(3, last))

        z0, z1, z2, z3 = _normals(quadid, world0, step_lo_in, step_hi_in, seed_lo_in, seed_hi_in)
        if first == 0:
            # The nominal world follows the mean exactly: it is the baseline R(a) of the estimator.
            z0[0] = 0.0
            z1[0] = 0.0
            z2[0] = 0.0
            z3[0] = 0.0
        n = nominalid
        a0 = _clamped(mean_in[n, cols[0]], wp.exp(logstd_in[n, cols[0]]), z0, lower_in, upper_in)
        a1 = _clamped(mean_in[n, cols[1]], wp.exp(logstd_in[n, cols[1]]), z1, lower_in, upper_in)
        a2 = _clamped(mean_in[n, cols[2]], wp.exp(logstd_in[n, cols[2]]), z2, lower_in, upper_in)
        a3 = _clamped(mean_in[n, cols[3]], wp.exp(logstd_in[n, cols[3]]), z3, lower_in, upper_in)
        _store(world0, count, cols, z0, z1, z2, z3, eps_out)
        _store(world0, count, cols, a0, a1, a2, a3, actions_out)

        if squash_in != 0:
            _store(world0, count, cols, _tanh(a0), _tanh(a1), _tanh(a2), _tanh(a3), squashed_out)

    return _perturb_actions


# Worlds per thread. On the CPU they are the SIMD lanes of one thread, and 32 (four AVX2 registers
# per vector) give the compiler enough independent work to overlap (1.3x faster than 16); a GPU
# wants many threads with few registers each (2 there is a choice by that reasoning, not measured).
_SAMPLES_PER_THREAD = {"cpu": 32, "cuda": 2}
_PERTURB_ACTIONS = {device: _sampler(lanes, outline_normals=device == "cpu")
                     for device, lanes in _SAMPLES_PER_THREAD.items()}
