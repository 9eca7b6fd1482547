"""Per-nominal normalized return-weighted estimate: mean and log-std targets (docs/DESIGN.md section 4.3).

World w = n*(M+1) + k holds sample k of nominal n (k = 0: the nominal itself, eps = 0), so the
M+1 samples of one group are consecutive rows of J and eps.
"""

import warp as wp

# Targets are never differentiated: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})

_STD_EPSILON = wp.constant(1.0e-6)


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
    top_k_in: int,
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
    """The targets of _sdpg_targets over the K = top_k_in kept samples listed by the top-k
    selection (sdpg_warp.kernels.top_k; weights already divided by K*s):

        mean_step   = sum_i weight[n, t, i] * eps[n, k_i, t]
        logstd_step = sum_i weight[n, t, i] * (eps[n, k_i, t]^2 - 1) * sigma[n, t]

    weight_in, sample_in: (N, H, >= K), the first K slots read; eps_in: (N*(M+1), H, d); the
    rest: (N, H, d). One thread per (n, t, group of four dims), as _sdpg_targets; only the kept
    samples' eps are read (a gather of K rows per (n, t))."""
    nominalid, t, quadid = wp.tid()
    world0 = nominalid * group_size_in
    dim0 = 4 * quadid
    lanes = wp.min(4, eps_in.shape[2] - dim0)
    mean_step = wp.vec4(0.0)
    logstd_step = wp.vec4(0.0)
    for i in range(top_k_in):
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
    non_finite_out: wp.array2d(dtype=int),
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
    mean_in, logstd_in, *_targets_out: (N, H, d). (Top-k: sdpg_warp.kernels.top_k, then _weighted_targets.)

    Non-finite returns (a blown-up world): the sums, the mean and the std run over the F finite
    samples of the group only (1/F in place of 1/(M+1)); a non-finite nominal J[n, 0, t] leaves
    no usable sample, and its (n, t) gets zero steps (the caller gives it no weight in the loss).
    non_finite_out: (N, H), the number of non-finite J[n, :, t].

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
    nominal_finite = wp.isfinite(j0)

    # The sums run over the usable samples: finite, of a finite nominal (a non-finite nominal
    # leaves none, so its steps are exactly zero).
    total = float(0.0)
    finite = int(0)
    usable = int(0)
    for k in range(group):
        jk = returns_in[world0 + k, t]
        ok = wp.isfinite(jk)
        finite += wp.where(ok, 1, 0)
        usable += wp.where(ok and nominal_finite, 1, 0)
        total += wp.where(ok and nominal_finite, jk - j0, 0.0)
    mean = total / float(wp.max(usable, 1))

    squares = float(0.0)
    mean_sum = wp.vec4(0.0)
    logstd_sum = wp.vec4(0.0)
    for k in range(group):
        jk = returns_in[world0 + k, t]
        ok = wp.isfinite(jk) and nominal_finite
        dj = wp.where(ok, jk - j0, 0.0)
        deviation = wp.where(ok, dj - mean, 0.0)
        squares += deviation * deviation
        eps = _load_dims(eps_in, world0 + k, t, dim0, lanes)
        mean_sum += dj * eps
        logstd_sum += dj * (wp.cw_mul(eps, eps) - wp.vec4(1.0))

    std = wp.sqrt(squares / float(wp.max(usable - 1, 1))) + _STD_EPSILON
    scale = 1.0 / (float(wp.max(usable, 1)) * std)
    _write_targets(nominalid, t, dim0, lanes, mean_sum * scale, logstd_sum * scale, mean_lower_in, mean_upper_in,
                   logstd_lower_in, logstd_upper_in, mean_in, logstd_in,
                   mean_target_out, logstd_target_out)
    if quadid == 0:
        non_finite_out[nominalid, t] = group - finite
