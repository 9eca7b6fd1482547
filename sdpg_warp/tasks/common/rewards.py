"""Reward plumbing: the reward as the sum of the weighted terms, and the action cost, each a
``@wp.func`` with a NumPy twin (``np_*``) where a reference needs one."""

import numpy as np
import warp as wp

# Nothing here is differentiated: no adjoint code (faster compiles).
wp.set_module_options({"enable_backward": False})


@wp.func
def action_cost(worldid: int, weight: float, action_in: wp.array2d(dtype=float)) -> float:
    """action = weight * sum_i a_i^2 over the applied action a in [-1, 1] (weight < 0: a penalty)."""
    total = float(0.0)
    for i in range(action_in.shape[1]):
        a = action_in[worldid, i]
        total += a * a
    return weight * total


@wp.func
def write_reward(
    worldid: int,
    # Out:
    terms_out: wp.array2d(dtype=float),
    reward_out: wp.array(dtype=float),
):
    """reward = the sum of the world's reward terms (each task writes its terms first)."""
    total = float(0.0)
    for i in range(terms_out.shape[1]):
        total += terms_out[worldid, i]
    reward_out[worldid] = total


def np_action_cost(action: np.ndarray, weight: float) -> float:
    """NumPy twin of :func:`action_cost`."""
    return weight * float(np.sum(np.square(action)))
