"""Per-step simulator kernels: action to control, and the end-of-step bookkeeping and health check."""

import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.kernel
def _apply_action(
    # In:
    ctrlrange_in: wp.array(dtype=wp.vec2),
    action_in: wp.array2d(dtype=float),
    # Out:
    action_out: wp.array2d(dtype=float),
    ctrl_out: wp.array2d(dtype=float),
):
    """a = clamp(action, -1, 1); ctrl = lo + (a + 1)/2 * (hi - lo) for actuator range [lo, hi].

    ``action_in`` may be the same buffer as ``action_out`` (the simulator's action buffer, written
    by the sampler): each element is read and written by the same thread.
    """
    worldid, actid = wp.tid()
    a = wp.clamp(action_in[worldid, actid], -1.0, 1.0)
    r = ctrlrange_in[actid]
    action_out[worldid, actid] = a
    ctrl_out[worldid, actid] = r[0] + 0.5 * (a + 1.0) * (r[1] - r[0])


@wp.func
def _is_bad(x: float, limit: float) -> bool:
    # NaN fails every comparison, so test "not within" rather than "outside".
    return not (wp.abs(x) <= limit)


@wp.kernel
def _finish_step(
    # In:
    episode_length_in: int,
    max_abs_qpos_in: float,
    max_abs_qvel_in: float,
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    task_terminated_in: wp.array(dtype=int),
    episode_step_in: wp.array(dtype=int),
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    episode_step_out: wp.array(dtype=int),
    terminated_out: wp.array(dtype=bool),
    truncated_out: wp.array(dtype=bool),
    unhealthy_out: wp.array(dtype=bool),
):
    """Advances the episode step; truncation at ``episode_length_in``; health check.

    A world whose qpos/qvel is non-finite or beyond the limits (physics blew up), or whose task
    outputs are non-finite, is unhealthy: it is terminated, its reward, reward terms and obs are
    zeroed (no NaN leaks), and the simulator resets it.
    """
    worldid = wp.tid()
    bad = bool(False)
    for i in range(qpos_in.shape[1]):
        bad = bad or _is_bad(qpos_in[worldid, i], max_abs_qpos_in)
    for i in range(qvel_in.shape[1]):
        bad = bad or _is_bad(qvel_in[worldid, i], max_abs_qvel_in)
    bad = bad or _is_bad(reward_out[worldid], 1.0e30)
    for i in range(state_out.shape[1]):
        bad = bad or _is_bad(state_out[worldid, i], 1.0e30)
    if bad:
        reward_out[worldid] = 0.0
        for i in range(terms_out.shape[1]):
            terms_out[worldid, i] = 0.0
        for i in range(state_out.shape[1]):
            state_out[worldid, i] = 0.0
    step = episode_step_in[worldid] + 1
    episode_step_out[worldid] = step
    terminated_out[worldid] = bad or task_terminated_in[worldid] != 0
    truncated_out[worldid] = step >= episode_length_in
    unhealthy_out[worldid] = bad


@wp.kernel
def _accumulate_physics_stats(
    # In:
    overflow_in: wp.array(dtype=int),
    solver_niter_in: wp.array(dtype=int),
    overflow_seen_in: wp.array(dtype=int),
    solver_niter_max_in: wp.array(dtype=int),
    solver_niter_sum_in: wp.array(dtype=int),
    # Out:
    overflow_seen_out: wp.array(dtype=int),
    solver_niter_max_out: wp.array(dtype=int),
    solver_niter_sum_out: wp.array(dtype=int),
):
    """After each physics step: ORs mujoco_warp's overflow bits into the epoch's, and takes in the
    solver's iteration count (max and sum per world).

    mujoco_warp clears a world's overflow bits when it resets that world, which the same step may
    do (an unhealthy world) before anyone reads them: the epoch's copy keeps them until logging.
    The ``*_in`` and ``*_out`` of a kind may be one buffer: each element belongs to one thread.
    """
    worldid = wp.tid()
    niter = solver_niter_in[worldid]
    overflow_seen_out[worldid] = overflow_seen_in[worldid] | overflow_in[worldid]
    solver_niter_max_out[worldid] = wp.max(solver_niter_max_in[worldid], niter)
    solver_niter_sum_out[worldid] = solver_niter_sum_in[worldid] + niter
