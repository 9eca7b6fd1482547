"""Guards every task kernel runs: a non-finite state (a solver blow-up) is terminated with zeroed
outputs, and task metrics carry over within an episode."""

import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.func
def state_is_finite(
    worldid: int,
    # In:
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
) -> bool:
    """True when every qpos and qvel entry is finite (false after a solver blow-up)."""
    bad = int(0)
    for i in range(qpos_in.shape[1]):
        if not wp.isfinite(qpos_in[worldid, i]):
            bad += 1
    for i in range(qvel_in.shape[1]):
        if not wp.isfinite(qvel_in[worldid, i]):
            bad += 1
    return bad == 0


@wp.func
def clear_world(
    worldid: int,
    # Out:
    state_out: wp.array2d(dtype=float),
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
    terminated_out: wp.array(dtype=int),
):
    """A non-finite state is terminated with zero obs, terms and reward, so no NaN reaches returns or critic.

    The authors terminate such worlds and zero their reward (SDPG envs/genesis_env/genesis_env.py).
    """
    for i in range(state_out.shape[1]):
        state_out[worldid, i] = 0.0
    for i in range(terms_out.shape[1]):
        terms_out[worldid, i] = 0.0
    reward_out[worldid] = 0.0
    terminated_out[worldid] = 1


@wp.func
def previous_metric(
    worldid: int,
    i: int,
    # In:
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
) -> float:
    """Task metric i of the world before this step: 0 on the first step of an episode (``Task.measure``)."""
    return wp.where(episode_step_in[worldid] == 0, 0.0, metrics_in[worldid, i])


@wp.func
def hold_metrics(
    worldid: int,
    # In:
    episode_step_in: wp.array(dtype=int),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    metrics_out: wp.array2d(dtype=float),
):
    """A non-finite state keeps the metrics of the last finite one (0 on an episode's first step),
    so a blown-up episode reports what it reached before."""
    for i in range(metrics_out.shape[1]):
        metrics_out[worldid, i] = previous_metric(worldid, i, episode_step_in, metrics_in)
