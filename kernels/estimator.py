"""Per-nominal normalized return-weighted estimate: mean and log-std targets (docs/DESIGN.md section 4.3).

World w = n*(M+1) + k holds sample k of nominal n (k = 0: the nominal itself, eps = 0), so the
M+1 samples of one group are consecutive rows of J and eps.
"""

import warp as wp

# Targets are never differentiated: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})

_STD_EPSILON = wp.constant(1.0e-6)


_SIGN_BIT = wp.constant(wp.uint32(0x80000000))
_ALL_BITS = wp.constant(wp.uint32(0xFFFFFFFF))
_DIGIT_BITS = 4  # radix-select digit: 8 passes over the group, 16 counters
_DIGIT_MASK = wp.constant(wp.uint32(15))

_digit_counts = wp.types.vector(length=16, dtype=wp.int32)


@wp.func
def _order_key(value: float) -> wp.uint32:
    """An unsigned key that orders as the float does: flip all bits of a negative value, only the
    sign bit of a positive one; both zeros map to one key (they are equal returns)."""
    bits = wp.cast(value, wp.uint32)
    key = wp.where((bits & _SIGN_BIT) != wp.uint32(0), bits ^ _ALL_BITS, bits ^ _SIGN_BIT)
    return wp.where(value == 0.0, _SIGN_BIT, key)


@wp.func
def _digit_histogram(
    # In:
    returns_in: wp.array2d(dtype=float),
    world0: int,
    t: int,
    group: int,
    prefix: wp.uint32,
    known: wp.uint32,
    shift: wp.uint32,
) -> _digit_counts:
    """counts[v] = #{k : key(J[k]) shares the prefix on the known bits and its digit at shift is v}."""
    counts = _digit_counts()
    for k in range(group):
        key = _order_key(returns_in[world0 + k, t])
        digit = int((key >> shift) & _DIGIT_MASK)
        counts[digit] = counts[digit] + wp.where((key & known) == prefix, 1, 0)
    return counts


@wp.func
def _top_k_threshold(
    # In:
    returns_in: wp.array2d(dtype=float),
    world0: int,
    t: int,
    group: int,
    top_k: int,
    first_counts: _digit_counts,
):
    """(key, index) of the top_k-th largest sample of the group at step t, in the order
    (J descending, sample index ascending): sample k is among the top_k iff
    key(J[k]) > key or (key(J[k]) == key and k <= index).

    J orders as dJ and as w = dJ/s (s > 0), so ranking J is ranking w, ties included. Radix
    selection on the order keys, _DIGIT_BITS bits a pass from the top, each pass O(M+1) with no
    sort buffer: at most 32/_DIGIT_BITS passes, fewer once every sample sharing the selected
    prefix is kept (then the threshold is their smallest key, the usual case after 2-3 passes).
    first_counts: the top digit's histogram (_digit_histogram), counted by the caller's pass."""
    prefix = wp.uint32(0)
    known = wp.uint32(0)  # the key bits fixed so far
    remaining = top_k  # how many of the samples that share the prefix are kept
    candidates = group  # how many samples share the prefix
    counts = first_counts
    digit_pass = int(0)
    while digit_pass < 32 // _DIGIT_BITS and candidates > remaining:
        shift = wp.uint32(32 - _DIGIT_BITS * (digit_pass + 1))
        if digit_pass > 0:
            counts = _digit_histogram(returns_in, world0, t, group, prefix, known, shift)
        # The largest digit whose samples, with those of the digits above, reach the rank.
        chosen = int(-1)
        for step in range(16):
            digit = 15 - step
            if chosen < 0:
                if remaining <= counts[digit]:
                    chosen = digit
                else:
                    remaining -= counts[digit]
        candidates = counts[chosen]
        prefix = prefix | (wp.uint32(chosen) << shift)
        known = known | (_DIGIT_MASK << shift)
        digit_pass += 1

    # Kept: the first `remaining` samples (by index) of the smallest key that shares the prefix.
    # Either every sample sharing the prefix is kept (candidates == remaining: the threshold is
    # their smallest key, all of its samples kept), or the prefix is the whole key and the
    # first `remaining` of its samples are kept.
    threshold = prefix
    index = int(group - 1)
    if candidates == remaining:
        threshold = _ALL_BITS
        for k in range(group):
            key = _order_key(returns_in[world0 + k, t])
            if (key & known) == prefix:
                threshold = wp.min(threshold, key)
    else:
        seen = int(0)
        for k in range(group):
            if _order_key(returns_in[world0 + k, t]) == threshold:
                seen += 1
                if seen == remaining:
                    index = k
    return threshold, index


@wp.kernel
def _top_k_weights(
    # In:
    group_size_in: int,
    returns_in: wp.array2d(dtype=float),
    # Out:
    weight_out: wp.array3d(dtype=float),
    sample_out: wp.array3d(dtype=int),
):
    """The K = top_k samples of the largest w at (n, t), ties to the lower sample index
    (_top_k_threshold), in increasing sample order: sample_out[n, t, i] = k, and
    weight_out[n, t, i] = dJ[n, k, t] / (K * s[n, t]) with s the std of dJ over all M+1.

    returns_in: (N*(M+1), H); weight_out, sample_out: (N, H, K). One thread per (n, t): the
    mean, the std and the selection are computed once per group and step, not per action dim."""
    nominalid, t = wp.tid()
    group = group_size_in
    top_k = weight_out.shape[2]
    world0 = nominalid * group
    j0 = returns_in[world0, t]

    # The mean pass also counts the top digit of the selection's keys.
    total = float(0.0)
    top_shift = wp.uint32(32 - _DIGIT_BITS)
    counts = _digit_counts()
    for k in range(group):
        jk = returns_in[world0 + k, t]
        total += jk - j0
        digit = int((_order_key(jk) >> top_shift) & _DIGIT_MASK)
        counts[digit] = counts[digit] + 1
    mean = total / float(group)
    squares = float(0.0)
    for k in range(group):
        deviation = (returns_in[world0 + k, t] - j0) - mean
        squares += deviation * deviation
    std = wp.sqrt(squares / float(group - 1)) + _STD_EPSILON
    scale = 1.0 / (float(top_k) * std)

    threshold, last = _top_k_threshold(returns_in, world0, t, group, top_k, counts)
    slot = int(0)
    for k in range(group):
        jk = returns_in[world0 + k, t]
        key = _order_key(jk)
        # Exactly top_k samples pass the test (the keys are totally ordered, NaN included);
        # the bound only guards the list's end.
        if (key > threshold or (key == threshold and k <= last)) and slot < top_k:
            weight_out[nominalid, t, slot] = (jk - j0) * scale
            sample_out[nominalid, t, slot] = k
            slot += 1


@wp.func
def _load_dims(
    # In:
    eps_in: wp.array3d(dtype=float),
    worldid: int,
    t: int,
    dim0: int,
    lanes: int,
) -> wp.vec4:
    """eps[w, t, dim0 .. dim0 + lanes - 1] as a vec4, 0 past the last dim.

    Straight-line whatever lanes is (a lane past the end re-reads the last dim, then is
    zeroed), so that the compiler packs the four lanes without a branch."""
    last = dim0 + lanes - 1
    return wp.vec4(
        eps_in[worldid, t, dim0],
        wp.where(lanes > 1, eps_in[worldid, t, wp.min(dim0 + 1, last)], 0.0),
        wp.where(lanes > 2, eps_in[worldid, t, wp.min(dim0 + 2, last)], 0.0),
        wp.where(lanes > 3, eps_in[worldid, t, wp.min(dim0 + 3, last)], 0.0),
    )


@wp.func
def _write_targets(
    # In:
    nominalid: int,
    t: int,
    dim0: int,
    lanes: int,
    mean_step: wp.vec4,
    logstd_step: wp.vec4,
    mean_lower: float,
    mean_upper: float,
    logstd_lower: float,
    logstd_upper: float,
    mean_in: wp.array3d(dtype=float),
    logstd_in: wp.array3d(dtype=float),
    # Out:
    mean_target_out: wp.array3d(dtype=float),
    logstd_target_out: wp.array3d(dtype=float),
):
    """mu_target = clamp(a_nominal + mean_step); logstd_target = clamp(logstd + sigma*logstd_step),
    with sigma = exp(logstd) (docs/DESIGN.md section 4.3), for dims dim0 .. dim0 + lanes - 1."""
    for lane in range(lanes):
        j = dim0 + lane
        logstd = logstd_in[nominalid, t, j]
        mean_target_out[nominalid, t, j] = wp.clamp(
            mean_in[nominalid, t, j] + mean_step[lane], mean_lower, mean_upper
        )
        logstd_target_out[nominalid, t, j] = wp.clamp(
            logstd + logstd_step[lane] * wp.exp(logstd), logstd_lower, logstd_upper
        )


@wp.kernel
def _weighted_targets(
    # In:
    group_size_in: int,
    mean_lower_in: float,
    mean_upper_in: float,
    logstd_lower_in: float,
    logstd_upper_in: float,
    weight_in: wp.array3d(dtype=float),
    sample_in: wp.array3d(dtype=int),
    eps_in: wp.array3d(dtype=float),
    mean_in: wp.array3d(dtype=float),
    logstd_in: wp.array3d(dtype=float),
    # Out:
    mean_target_out: wp.array3d(dtype=float),
    logstd_target_out: wp.array3d(dtype=float),
):
    """The targets of _sdpg_targets over the K kept samples of _top_k_weights (weights already
    divided by K*s):

        mean_step   = sum_i weight[n, t, i] * eps[n, k_i, t]
        logstd_step = sum_i weight[n, t, i] * (eps[n, k_i, t]^2 - 1) * sigma[n, t]

    weight_in, sample_in: (N, H, K); eps_in: (N*(M+1), H, d); the rest: (N, H, d). One thread
    per (n, t, group of four dims), as _sdpg_targets; only the kept samples' eps are read."""
    nominalid, t, quadid = wp.tid()
    world0 = nominalid * group_size_in
    dim0 = 4 * quadid
    lanes = wp.min(4, eps_in.shape[2] - dim0)
    mean_step = wp.vec4(0.0)
    logstd_step = wp.vec4(0.0)
    for i in range(weight_in.shape[2]):
        weight = weight_in[nominalid, t, i]
        eps = _load_dims(eps_in, world0 + sample_in[nominalid, t, i], t, dim0, lanes)
        mean_step += weight * eps
        logstd_step += weight * (wp.cw_mul(eps, eps) - wp.vec4(1.0))
    _write_targets(nominalid, t, dim0, lanes, mean_step, logstd_step, mean_lower_in, mean_upper_in,
                   logstd_lower_in, logstd_upper_in, mean_in, logstd_in,
                   mean_target_out, logstd_target_out)


@wp.kernel
def _sdpg_targets(
    # In:
    group_size_in: int,
    mean_lower_in: float,
    mean_upper_in: float,
    logstd_lower_in: float,
    logstd_upper_in: float,
    returns_in: wp.array2d(dtype=float),
    eps_in: wp.array3d(dtype=float),
    mean_in: wp.array3d(dtype=float),
    logstd_in: wp.array3d(dtype=float),
    # Out:
    mean_target_out: wp.array3d(dtype=float),
    logstd_target_out: wp.array3d(dtype=float),
):
    """For nominal n, step t, action dim j, over all M+1 samples k (docs/DESIGN.md section 4.3):

        dJ[n, k, t]        = J[n, k, t] - J[n, 0, t]
        s[n, t]            = std_k(dJ[n, :, t]) + 1e-6   (unbiased)
        w[n, k, t]         = dJ[n, k, t] / s[n, t]
        mean_step[n, t]    = (1/(M+1)) * sum_k w[n, k, t] * eps[n, k, t]
        logstd_step[n, t]  = (1/(M+1)) * sum_k w[n, k, t] * (eps[n, k, t]^2 - 1) * sigma[n, t]
        mu_target          = clamp(a_nominal[n, t] + mean_step, mean bounds)
        logstd_target      = clamp(logstd[n, t] + logstd_step, logstd bounds)

    with sigma = exp(logstd). returns_in: (N*(M+1), H); eps_in: (N*(M+1), H, d);
    mean_in, logstd_in, *_out: (N, H, d). (Top-k: _top_k_weights, _weighted_targets.)

    s is common to the sum, so it divides the sums of dJ-weighted terms at the end: the squared
    deviations and the weighted sums share one pass over the group, after the pass for the mean
    (two passes keep the variance free of cancellation; equal returns give exactly zero steps).
    One thread per (n, t, group of four dims), dims fastest: the two passes over the group's
    J[., t] column serve four dims, and for each k a thread reads 16 contiguous bytes of the
    world's eps[w, t, :] row next to its neighbours' (and the CPU adds the four lanes at once).
    """
    nominalid, t, quadid = wp.tid()
    group = group_size_in
    world0 = nominalid * group
    dim0 = 4 * quadid
    lanes = wp.min(4, eps_in.shape[2] - dim0)
    j0 = returns_in[world0, t]

    total = float(0.0)
    for k in range(group):
        total += returns_in[world0 + k, t] - j0
    mean = total / float(group)

    squares = float(0.0)
    mean_sum = wp.vec4(0.0)
    logstd_sum = wp.vec4(0.0)
    for k in range(group):
        dj = returns_in[world0 + k, t] - j0
        deviation = dj - mean
        squares += deviation * deviation
        eps = _load_dims(eps_in, world0 + k, t, dim0, lanes)
        mean_sum += dj * eps
        logstd_sum += dj * (wp.cw_mul(eps, eps) - wp.vec4(1.0))

    std = wp.sqrt(squares / float(group - 1)) + _STD_EPSILON
    scale = 1.0 / (float(group) * std)
    _write_targets(nominalid, t, dim0, lanes, mean_sum * scale, logstd_sum * scale, mean_lower_in, mean_upper_in,
                   logstd_lower_in, logstd_upper_in, mean_in, logstd_in,
                   mean_target_out, logstd_target_out)
