"""World resets: auxiliary-from-nominal state copies, randomized initial states, reset masks.

World layout (docs/DESIGN.md section 2): world ``w = n*(M+1) + k``; ``k = 0`` is nominal ``n``, ``k = 1..M``
its auxiliaries. ``group_size`` below is ``M + 1``.
"""

import warp as wp

from sdpg_warp.tasks.common import streams

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.kernel
def _copy_nominal_state(
    # In:
    group_size_in: int,
    mask_in: wp.array(dtype=bool),
    time_in: wp.array(dtype=float),
    qpos_in: wp.array2d(dtype=float),
    qvel_in: wp.array2d(dtype=float),
    act_in: wp.array2d(dtype=float),
    ctrl_in: wp.array2d(dtype=float),
    qacc_warmstart_in: wp.array2d(dtype=float),
    mocap_pos_in: wp.array2d(dtype=wp.vec3),
    mocap_quat_in: wp.array2d(dtype=wp.quat),
    action_in: wp.array2d(dtype=float),
    episode_step_in: wp.array(dtype=int),
    states_in: wp.array2d(dtype=float),
    metrics_in: wp.array2d(dtype=float),
    # Out:
    time_out: wp.array(dtype=float),
    qpos_out: wp.array2d(dtype=float),
    qvel_out: wp.array2d(dtype=float),
    act_out: wp.array2d(dtype=float),
    ctrl_out: wp.array2d(dtype=float),
    qacc_warmstart_out: wp.array2d(dtype=float),
    mocap_pos_out: wp.array2d(dtype=wp.vec3),
    mocap_quat_out: wp.array2d(dtype=wp.quat),
    action_out: wp.array2d(dtype=float),
    episode_step_out: wp.array(dtype=int),
    states_out: wp.array2d(dtype=float),
    metrics_out: wp.array2d(dtype=float),
):
    """Auxiliary world w <- its nominal n*(M+1), for every field the next step depends on: the
    simulator's per-world state that follows the nominal (``BatchedSim._world_state``), in its order.

    The ``_in`` and ``_out`` arrays are the same buffers: a thread reads only nominal rows and
    writes only its own auxiliary row, so no thread reads what another writes.
    """
    worldid = wp.tid()
    if worldid % group_size_in == 0 or not mask_in[worldid]:
        return
    src = worldid - worldid % group_size_in
    time_out[worldid] = time_in[src]
    for i in range(qpos_in.shape[1]):
        qpos_out[worldid, i] = qpos_in[src, i]
    for i in range(qvel_in.shape[1]):
        qvel_out[worldid, i] = qvel_in[src, i]
        qacc_warmstart_out[worldid, i] = qacc_warmstart_in[src, i]
    for i in range(act_in.shape[1]):
        act_out[worldid, i] = act_in[src, i]
    for i in range(ctrl_in.shape[1]):
        ctrl_out[worldid, i] = ctrl_in[src, i]
        action_out[worldid, i] = action_in[src, i]
    for i in range(mocap_pos_in.shape[1]):
        mocap_pos_out[worldid, i] = mocap_pos_in[src, i]
        mocap_quat_out[worldid, i] = mocap_quat_in[src, i]
    episode_step_out[worldid] = episode_step_in[src]
    for i in range(states_in.shape[1]):
        states_out[worldid, i] = states_in[src, i]
    for i in range(metrics_in.shape[1]):
        metrics_out[worldid, i] = metrics_in[src, i]


@wp.kernel
def _randomize_initial_state(
    # In:
    seed_in: int,
    noise_qpos_in: float,
    noise_qvel_in: float,
    mask_in: wp.array(dtype=bool),
    qpos_init_in: wp.array(dtype=float),
    quat_adr_in: wp.array(dtype=int),
    reset_count_in: wp.array(dtype=int),
    # Out:
    qpos_out: wp.array2d(dtype=float),
    qvel_out: wp.array2d(dtype=float),
    action_out: wp.array2d(dtype=float),
    episode_step_out: wp.array(dtype=int),
    reset_count_out: wp.array(dtype=int),
):
    """qpos = qpos_init_in + U(-noise_qpos_in, noise_qpos_in) (quaternions renormalized), qvel =
    U(-noise_qvel_in, noise_qvel_in).

    Runs after ``mujoco_warp.reset_data`` reset the rest of the masked worlds' data. The
    generator is keyed by (seed_in, world, how often this world was reset), so runs are reproducible.
    """
    worldid = wp.tid()
    if not mask_in[worldid]:
        return
    count = reset_count_in[worldid]
    rng = streams.reset_rng(seed_in + streams.INITIAL_STATE, count, worldid)
    for i in range(qpos_out.shape[1]):
        qpos_out[worldid, i] = qpos_init_in[i] + noise_qpos_in * (2.0 * wp.randf(rng) - 1.0)
    for j in range(quat_adr_in.shape[0]):
        adr = quat_adr_in[j]
        q = wp.quat(
            qpos_out[worldid, adr + 1], qpos_out[worldid, adr + 2], qpos_out[worldid, adr + 3], qpos_out[worldid, adr]
        )
        q = wp.normalize(q)
        qpos_out[worldid, adr] = q[3]
        qpos_out[worldid, adr + 1] = q[0]
        qpos_out[worldid, adr + 2] = q[1]
        qpos_out[worldid, adr + 3] = q[2]
    for i in range(qvel_out.shape[1]):
        qvel_out[worldid, i] = noise_qvel_in * (2.0 * wp.randf(rng) - 1.0)
    for i in range(action_out.shape[1]):
        action_out[worldid, i] = 0.0
    episode_step_out[worldid] = 0
    reset_count_out[worldid] = count + 1


@wp.kernel
def _copy_rows_masked(
    # In:
    mask_in: wp.array(dtype=bool),
    src_in: wp.array2d(dtype=float),
    # Out:
    dst_out: wp.array2d(dtype=float),
):
    """dst[w, i] = src[w, i] where mask[w]."""
    worldid, i = wp.tid()
    if mask_in[worldid]:
        dst_out[worldid, i] = src_in[worldid, i]


@wp.kernel
def _episode_reset_masks(
    # In:
    group_size_in: int,
    terminated_in: wp.array(dtype=bool),
    truncated_in: wp.array(dtype=bool),
    # Out:
    fresh_out: wp.array(dtype=bool),
    from_nominal_out: wp.array(dtype=bool),
    done_out: wp.array(dtype=bool),
):
    """SDPG's reset rules (docs/DESIGN.md section 3, step 2.6) as masks over worlds.

    fresh[w]: w is a nominal whose episode ended (terminated or truncated): new initial state.
    from_nominal[w]: w is an auxiliary that ended, or whose nominal ended: copy the nominal's state
    (after the fresh resets).
    done[w]: w's trajectory ends at this step: fresh or from_nominal. An auxiliary moved onto its
    nominal's new episode is done too, so that no return runs across the two episodes.
    """
    worldid = wp.tid()
    nominal = worldid - worldid % group_size_in
    nominal_done = terminated_in[nominal] or truncated_in[nominal]
    if worldid == nominal:
        fresh_out[worldid] = nominal_done
        from_nominal_out[worldid] = False
        done_out[worldid] = nominal_done
    else:
        fresh_out[worldid] = False
        ended = nominal_done or terminated_in[worldid] or truncated_in[worldid]
        from_nominal_out[worldid] = ended
        done_out[worldid] = ended
