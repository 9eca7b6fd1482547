"""Per-nominal normalized return-weighted estimate: mean and log-std targets (DESIGN 4.3).

World w = n*(M+1) + k holds sample k of nominal n (k = 0: the nominal itself, eps = 0), so the
M+1 samples of one group are consecutive rows of J and eps.
"""

import warp as wp

# Targets are never differentiated: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})

_STD_EPSILON = wp.constant(1.0e-6)


@wp.func
def _top_k_rank(
    # In:
    returns_in: wp.array2d(dtype=float),
    world0: int,
    t: int,
    group: int,
    k: int,
) -> int:
    """rank[n, k, t] = #{j : dJ[n, j, t] > dJ[n, k, t]} + #{j < k : dJ[n, j, t] = dJ[n, k, t]}.

    w = dJ/s orders as dJ (s > 0), so sample k is among the top k' weights iff rank < k'; ties
    go to the lower index, so exactly k' samples are kept."""
    j0 = returns_in[world0, t]
    djk = returns_in[world0 + k, t] - j0
    rank = int(0)
    for j in range(group):
        dj = returns_in[world0 + j, t] - j0
        if dj > djk or (dj == djk and j < k):
            rank += 1
    return rank


@wp.kernel
def _top_k_mask(
    # In:
    num_aux_in: int,
    top_k_in: int,
    returns_in: wp.array2d(dtype=float),
    # Out:
    kept_out: wp.array2d(dtype=int),
):
    """kept[n*(M+1) + k, t] = 1 if rank[n, k, t] < top_k else 0 (_top_k_rank).

    returns_in, kept_out: (N*(M+1), H). One thread per (world, t): the O(M) rank is computed once
    per sample, not once per action dim in _sdpg_targets."""
    worldid, t = wp.tid()
    group = num_aux_in + 1
    world0 = (worldid // group) * group
    kept_out[worldid, t] = wp.where(_top_k_rank(returns_in, world0, t, group, worldid - world0) < top_k_in, 1, 0)


@wp.kernel
def _sdpg_targets(
    # In:
    num_aux_in: int,
    top_k_in: int,
    mean_lower_in: float,
    mean_upper_in: float,
    logstd_lower_in: float,
    logstd_upper_in: float,
    returns_in: wp.array2d(dtype=float),
    eps_in: wp.array3d(dtype=float),
    actions_nominal_in: wp.array3d(dtype=float),
    logstd_in: wp.array3d(dtype=float),
    kept_in: wp.array2d(dtype=int),
    # Out:
    mean_target_out: wp.array3d(dtype=float),
    logstd_target_out: wp.array3d(dtype=float),
):
    """For nominal n, step t, action dim j, over the K kept samples k (all M+1, or the top_k
    largest w as marked by _top_k_mask):

        dJ[n, k, t]        = J[n, k, t] - J[n, 0, t]
        s[n, t]            = std_k(dJ[n, :, t]) + 1e-6   (unbiased, over all M+1 samples)
        w[n, k, t]         = dJ[n, k, t] / s[n, t]
        mean_step[n, t]    = (1/K) * sum_k w[n, k, t] * eps[n, k, t]
        logstd_step[n, t]  = (1/K) * sum_k w[n, k, t] * (eps[n, k, t]^2 - 1) * sigma[n, t]
        mu_target          = clamp(a_nominal[n, t] + mean_step, mean bounds)
        logstd_target      = clamp(logstd[n, t] + logstd_step, logstd bounds)

    with sigma = exp(logstd). returns_in: (N*(M+1), H); eps_in: (N*(M+1), H, d);
    actions_nominal_in, logstd_in, *_out: (N, H, d); kept_in: (N*(M+1), H), read only when
    top_k_in < M+1.

    s is common to the sum, so it divides the sums of dJ-weighted terms at the end: the squared
    deviations and the weighted sums share one pass over the group, after the pass for the mean
    (two passes keep the variance free of cancellation; equal returns give exactly zero steps).
    One thread per (n, t, j), j fastest: for each k a warp reads consecutive (t, j) of one
    world's contiguous eps[w, :, :] block, and the d threads of (n, t) share the group's J[., t]
    column through the cache (cheaper than a separate launch for s).
    """
    nominalid, t, dimid = wp.tid()
    group = num_aux_in + 1
    world0 = nominalid * group
    keep_all = top_k_in >= group
    j0 = returns_in[world0, t]

    total = float(0.0)
    for k in range(group):
        total += returns_in[world0 + k, t] - j0
    mean = total / float(group)

    squares = float(0.0)
    mean_sum = float(0.0)
    logstd_sum = float(0.0)
    for k in range(group):
        dj = returns_in[world0 + k, t] - j0
        deviation = dj - mean
        squares += deviation * deviation
        keep = True
        if not keep_all:
            keep = kept_in[world0 + k, t] != 0
        if keep:
            eps = eps_in[world0 + k, t, dimid]
            mean_sum += dj * eps
            logstd_sum += dj * (eps * eps - 1.0)

    std = wp.sqrt(squares / float(group - 1)) + _STD_EPSILON
    scale = 1.0 / (float(wp.min(top_k_in, group)) * std)
    mean_step = mean_sum * scale
    logstd_step = logstd_sum * scale * wp.exp(logstd_in[nominalid, t, dimid])
    mean_target_out[nominalid, t, dimid] = wp.clamp(
        actions_nominal_in[nominalid, t, dimid] + mean_step, mean_lower_in, mean_upper_in
    )
    logstd_target_out[nominalid, t, dimid] = wp.clamp(
        logstd_in[nominalid, t, dimid] + logstd_step, logstd_lower_in, logstd_upper_in
    )
