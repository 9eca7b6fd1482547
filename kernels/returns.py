"""Causal TD(lambda) return-to-go over the horizon, with dones and bootstrap (docs/DESIGN.md section 4.2)."""

import warp as wp

# Targets are never differentiated: skipping the adjoint halves the compile time.
wp.set_module_options({"enable_backward": False})


@wp.kernel
def _td_lambda_returns(
    # In:
    gamma_in: float,
    lam_in: float,
    rewards_in: wp.array2d(dtype=float),
    dones_in: wp.array2d(dtype=float),
    next_values_in: wp.array2d(dtype=float),
    # Out:
    returns_out: wp.array2d(dtype=float),
):
    """Per world w, scanning t = H-1 .. 0 from A = B = 0, l = 1 (paper C.3, Eq. 22):

        l = l*lambda*(1 - d[t]) + d[t]
        A = (1 - d[t]) * (lambda*gamma*A + gamma*v[t] + (1 - l)/(1 - lambda) * r[t])
        B = gamma*(v[t]*d[t] + B*(1 - d[t])) + r[t]
        J[w, t] = (1 - lambda)*A + l*B

    c = (1 - l)/(1 - lambda) is carried by its own recurrence c = (1 - d[t])*(1 + lambda*c)
    (from c = 0 at l = 1; exact for any d): no 0/0 at lambda = 1, where J = B, the limit, and
    no cancellation in 1 - l when l is close to 1.

    rewards_in, dones_in, next_values_in, returns_out: (nworld, horizon); v = 0 where terminated.
    One thread per world scans its horizon: the scan is sequential in t, parallel in w.
    """
    worldid = wp.tid()
    horizon = rewards_in.shape[1]

    trace = float(1.0)  # l
    trace_sum = float(0.0)  # c = (1 - l)/(1 - lambda)
    a = float(0.0)
    b = float(0.0)
    for i in range(horizon):
        t = horizon - 1 - i
        r = rewards_in[worldid, t]
        d = dones_in[worldid, t]
        v = next_values_in[worldid, t]
        alive = 1.0 - d
        trace = trace * lam_in * alive + d
        trace_sum = alive * (1.0 + lam_in * trace_sum)
        a = alive * (lam_in * gamma_in * a + gamma_in * v + trace_sum * r)
        b = gamma_in * (v * d + b * alive) + r
        returns_out[worldid, t] = (1.0 - lam_in) * a + trace * b
