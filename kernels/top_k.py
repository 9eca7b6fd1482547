"""Top-k selection of the estimate's weights: the K largest w of each (nominal, step), in one pass
per bisection step over the group (docs/DESIGN.md section 4.3).

Sample k of nominal n is kept iff it is among the K largest returns J[n, :, t] (J, dJ and w order
alike), ties to the lower sample index. Returns are ranked by an integer order key (_order_key),
so signed zeros have a place in one total order; non-finite returns (a blown-up world) rank below
every finite one and are kept with weight 0 only when fewer than K are finite, and the mean and
std of dJ run over the finite samples (docs/DESIGN.md section 4.3). The K-th largest key T is found by
bisection on the key (at most 32 steps, each a count over the group: O(32 (M+1)) per group,
fewer when a step's count is exactly K), then one pass in sample order lists the kept samples.

A thread takes ``lanes`` consecutive steps t of one nominal, one per lane of Warp vectors (16 on
the CPU: every pass is whole-vector arithmetic, which the CPU compiler turns into SIMD
instructions; 1 on a GPU, where each (n, t) is a thread of its own).
"""

import warp as wp

from sdpg_warp.kernels.estimator import _STD_EPSILON

# Targets are never differentiated: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})
# On the CPU, let the SLP vectorizer search LLVM's default depth of 12 (Warp's flags set 4), deep
# enough to pack the lane-by-lane statements below into vector instructions.
wp.set_module_options({
    "cpu_compiler_flags": f"{wp.config.cpu_compiler_flags or '-march=native'} -mllvm=-slp-recursion-max-depth=12"
})

_LOW_BITS = wp.constant(0x7FFFFFFF)
_KEY_MIN = wp.constant(-2147483648)
_KEY_MAX = wp.constant(2147483647)


@wp.func
def _order_key(value: float) -> int:
    """A signed 32-bit key that orders as the float does (NaN above +inf when positive, below -inf
    when negative): the bits of a negative value with all but the sign bit flipped, those of a
    positive one as they are; both zeros map to 0 (they are equal returns)."""
    bits = wp.cast(value, int)
    return wp.where(value == 0.0, 0, bits ^ ((bits >> 31) & _LOW_BITS))


@wp.func
def _upper_midpoint(low: int, high: int) -> int:
    """ceil((low + high) / 2) for low <= high, with no overflow (the halved span in 32-bit unsigned)."""
    span = wp.uint32(high) - wp.uint32(low)
    return int(wp.uint32(low) + (span >> wp.uint32(1)) + (span & wp.uint32(1)))


def _selector(lanes: int) -> wp.Kernel:
    """The selection kernel with ``lanes`` steps per thread, one per lane of Warp vectors."""
    Lanes = wp.types.vector(length=lanes, dtype=float)
    LanesInt = wp.types.vector(length=lanes, dtype=int)

    @wp.kernel
    def _top_k_weights(
        # In:
        group_size_in: int,
        top_k_in: int,
        returns_in: wp.array2d(dtype=float),
        # Out:
        deviation_out: wp.array2d(dtype=Lanes),
        key_out: wp.array2d(dtype=LanesInt),
        weight_out: wp.array3d(dtype=float),
        sample_out: wp.array3d(dtype=int),
        non_finite_out: wp.array2d(dtype=int),
    ):
        """The K = top_k_in samples of the largest w at (n, t), ties to the lower sample index, in
        increasing sample order: sample_out[n, t, i] = k and weight_out[n, t, i] = dJ[n, k, t] / (K s[n, t])
        for i < K, with s the std of dJ over the F finite samples (+1e-6); the average is over
        K' = min(K, F) samples: non-finite samples rank last and are listed with weight 0, and a
        non-finite nominal gives every listed sample weight 0 (its (n, t) is skipped).
        non_finite_out: (N, H), the number of non-finite J[n, :, t].

        returns_in: (N*(M+1), H). deviation_out, key_out: (N*(M+1), ceil(H / lanes)) scratch, dJ and
        the order key of J for the thread's lanes (written by the first pass, read by the others).
        weight_out, sample_out: (N, H, K+1); column K is scratch (the list pass writes every sample
        at the next free slot, branch-free, and only a kept one advances it).

        One thread per (n, chunk of ``lanes`` steps), launched as N * ceil(H / lanes); lanes past
        t = H-1 repeat its step (same reads, same values written to the same places)."""
        chunkid = wp.tid()
        group = group_size_in
        top_k = top_k_in
        horizon = returns_in.shape[1]
        chunks = key_out.shape[1]
        nominalid = chunkid // chunks
        chunk = chunkid - nominalid * chunks
        world0 = nominalid * group
        steps = LanesInt()
        for lane in range(lanes):
            steps[lane] = wp.min(chunk * lanes + lane, horizon - 1)
        j0 = Lanes()
        nominal_finite = LanesInt()
        for lane in range(lanes):
            j0[lane] = returns_in[world0, steps[lane]]
            nominal_finite[lane] = wp.where(wp.isfinite(j0[lane]), 1, 0)

        # dJ (0 where unusable: a non-finite sample or nominal) and the keys (non-finite lowest),
        # once; the sum of dJ, the counts and each lane's key range.
        total = Lanes()
        finite = LanesInt()
        usable = LanesInt()
        low = LanesInt(_KEY_MAX)
        high = LanesInt(_KEY_MIN)
        for k in range(group):
            deviation = Lanes()
            key = LanesInt()
            for lane in range(lanes):
                jk = returns_in[world0 + k, steps[lane]]
                ok = wp.isfinite(jk)
                use = ok and nominal_finite[lane] == 1
                deviation[lane] = wp.where(use, jk - j0[lane], 0.0)
                key[lane] = wp.where(ok, _order_key(jk), _KEY_MIN)
                finite[lane] += wp.where(ok, 1, 0)
                usable[lane] += wp.where(use, 1, 0)
                low[lane] = wp.where(key[lane] < low[lane], key[lane], low[lane])
                high[lane] = wp.where(key[lane] > high[lane], key[lane], high[lane])
            total += deviation
            deviation_out[world0 + k, chunk] = deviation
            key_out[world0 + k, chunk] = key
        mean = Lanes()
        for lane in range(lanes):
            mean[lane] = total[lane] / float(wp.max(usable[lane], 1))
        squares = Lanes()
        for k in range(group):
            deviation = deviation_out[world0 + k, chunk]
            key = key_out[world0 + k, chunk]
            for lane in range(lanes):
                # _KEY_MIN marks exactly the non-finite samples (a finite key lies above it): they
                # add no deviation. With a non-finite nominal every dJ and the mean are 0 already.
                centered = wp.where(key[lane] == _KEY_MIN, 0.0, deviation[lane] - mean[lane])
                squares[lane] += centered * centered
        scale = Lanes()
        for lane in range(lanes):
            averaged = float(wp.max(wp.min(top_k, usable[lane]), 1))
            std = wp.sqrt(squares[lane] / float(wp.max(usable[lane] - 1, 1))) + _STD_EPSILON
            scale[lane] = 1.0 / (averaged * std)
            non_finite_out[nominalid, steps[lane]] = group - finite[lane]

        # Bisection for T, the K-th largest key: count(key >= low) >= K, T in [low, high], and
        # above = count(key > high). A step whose count is exactly K ends a lane at once (the keys
        # >= its midpoint are the K kept: T = midpoint - 1, above = K).
        above = LanesInt()
        unsettled = int(0)
        for lane in range(lanes):
            unsettled += wp.where(low[lane] < high[lane], 1, 0)
        while unsettled > 0:
            middle = LanesInt()
            for lane in range(lanes):
                middle[lane] = _upper_midpoint(low[lane], high[lane])
            count = LanesInt()
            for k in range(group):
                key = key_out[world0 + k, chunk]
                for lane in range(lanes):
                    count[lane] += wp.where(key[lane] >= middle[lane], 1, 0)
            unsettled = int(0)
            for lane in range(lanes):
                active = low[lane] < high[lane]
                reached = count[lane] >= top_k
                exact = count[lane] == top_k
                settled_at = middle[lane] - 1
                low[lane] = wp.where(active and reached, wp.where(exact, settled_at, middle[lane]), low[lane])
                high[lane] = wp.where(active, wp.where(reached and not exact, high[lane], settled_at), high[lane])
                above[lane] = wp.where(active and (exact or not reached), count[lane], above[lane])
                unsettled += wp.where(low[lane] < high[lane], 1, 0)

        # The list, in sample order: keys above T, then the first K - above samples whose key is T.
        ties = LanesInt()
        slot = LanesInt()
        for k in range(group):
            key = key_out[world0 + k, chunk]
            deviation = deviation_out[world0 + k, chunk]
            for lane in range(lanes):
                tied = key[lane] == low[lane]
                kept = key[lane] > low[lane] or (tied and ties[lane] < top_k - above[lane])
                ties[lane] += wp.where(tied, 1, 0)
                # Exactly K samples are kept (the keys are totally ordered); the bound only guards
                # the scratch column.
                i = wp.min(slot[lane], top_k)
                weight_out[nominalid, steps[lane], i] = deviation[lane] * scale[lane]
                sample_out[nominalid, steps[lane], i] = k
                slot[lane] += wp.where(kept, 1, 0)

    return _top_k_weights


# Steps per thread. On the CPU they are the SIMD lanes of one thread (16: one AVX-512 register,
# two AVX2 ones); a GPU runs one (n, t) per thread.
_STEPS_PER_THREAD = {"cpu": 16, "cuda": 1}
_TOP_K_WEIGHTS = {device: _selector(lanes) for device, lanes in _STEPS_PER_THREAD.items()}
