"""ops.td_lambda_returns against the literal recursion of docs/DESIGN.md section 4.2 in NumPy."""

import numpy as np
import pytest
import torch

from sdpg_warp import ops
from sdpg_warp.profiling import set_range_hook


def reference_returns(rewards, dones, next_values, gamma, lam):
    """docs/DESIGN.md section 4.2 as written, in float64, one world at a time (lam < 1)."""
    rewards, dones, next_values = (np.asarray(x, np.float64) for x in (rewards, dones, next_values))
    returns = np.zeros_like(rewards)
    for w in range(rewards.shape[0]):
        a, b, trace = 0.0, 0.0, 1.0
        for t in reversed(range(rewards.shape[1])):
            r, d, v = rewards[w, t], dones[w, t], next_values[w, t]
            trace = trace * lam * (1 - d) + d
            a = (1 - d) * (lam * gamma * a + gamma * v + (1 - trace) / (1 - lam) * r)
            b = gamma * (v * d + b * (1 - d)) + r
            returns[w, t] = (1 - lam) * a + trace * b
    return returns


def reference_monte_carlo(rewards, dones, next_values, gamma):
    """The lam -> 1 limit: the discounted return, bootstrapped with v where done."""
    returns = np.zeros(rewards.shape)
    for w in range(rewards.shape[0]):
        future = 0.0
        for t in reversed(range(rewards.shape[1])):
            d = dones[w, t]
            future = rewards[w, t] + gamma * (d * next_values[w, t] + (1 - d) * future)
            returns[w, t] = future
    return returns


def random_rollout(num_worlds, horizon, done_rate, seed=0):
    rng = np.random.default_rng(seed)
    rewards = rng.normal(size=(num_worlds, horizon)).astype(np.float32)
    dones = (rng.random((num_worlds, horizon)) < done_rate).astype(np.float32)
    dones[:, -1] = 1.0  # docs/DESIGN.md section 3, step 2.6: every world is done at t = H-1
    next_values = rng.normal(scale=5.0, size=(num_worlds, horizon)).astype(np.float32)
    next_values[(dones == 1.0) & (rng.random(dones.shape) < 0.5)] = 0.0  # terminated: V = 0
    return rewards, dones, next_values


def run(device, rewards, dones, next_values, gamma, lam, out=None):
    tensors = [torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in (rewards, dones, next_values)]
    return ops.td_lambda_returns(*tensors, gamma, lam, out=out).cpu().numpy()


def test_worked_example(device):
    # gamma = lambda = 0.5, r = 1, v = (0, 0, 4), done only at t = 2. Lambda-returns from the
    # n-step returns G_n: t = 2: G = 1 + 0.5*4 = 3. t = 1: G1 = 1, G2 = 1 + 0.5 + 0.25*4 = 2.5,
    # J = 0.5*1 + 0.5*2.5 = 1.75. t = 0: G1 = 1, G2 = 1.5, G3 = 1 + 0.5 + 0.25 + 0.125*4 = 2.25,
    # J = 0.5*1 + 0.25*1.5 + 0.25*2.25 = 1.4375.
    rewards = np.ones((1, 3), np.float32)
    dones = np.array([[0, 0, 1]], np.float32)
    next_values = np.array([[0, 0, 4]], np.float32)
    np.testing.assert_allclose(run(device, rewards, dones, next_values, 0.5, 0.5), [[1.4375, 1.75, 3.0]], rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95])
@pytest.mark.parametrize("done_rate", [0.0, 0.15, 1.0])
def test_matches_reference(device, lam, done_rate):
    rewards, dones, next_values = random_rollout(37, 32, done_rate)
    if done_rate == 0.0:
        dones[:, -1] = 0.0  # no done at all: the scan starts unbootstrapped
    if 0.0 < done_rate < 1.0:
        assert (dones[:, :-1] == 1).any(axis=1).all(), "every world should have a done mid-horizon"
    expected = reference_returns(rewards, dones, next_values, 0.99, lam)
    np.testing.assert_allclose(run(device, rewards, dones, next_values, 0.99, lam), expected, rtol=1e-5, atol=1e-4)


def test_lambda_zero_is_one_step_td(device):
    rewards, dones, next_values = random_rollout(8, 16, 0.2)
    returns = run(device, rewards, dones, next_values, 0.9, 0.0)
    # J[t] = r[t] + gamma*v[t] (docs/DESIGN.md section 4.2 at lambda = 0).
    np.testing.assert_allclose(returns, rewards + 0.9 * next_values, rtol=1e-6, atol=1e-5)


def test_lambda_one_is_the_exact_limit(device):
    rewards, dones, next_values = random_rollout(16, 32, 0.1)
    returns = run(device, rewards, dones, next_values, 0.97, 1.0)
    assert np.isfinite(returns).all()
    expected = reference_monte_carlo(rewards, dones, next_values, 0.97)
    np.testing.assert_allclose(returns, expected, rtol=1e-5, atol=1e-4)
    near_one = reference_returns(rewards, dones, next_values, 0.97, 1.0 - 1e-9)
    np.testing.assert_allclose(returns, near_one, rtol=1e-5, atol=1e-4)


def test_writes_into_out_view(device):
    rewards, dones, next_values = random_rollout(6, 10, 0.3)
    storage = torch.full((6, 12), float("nan"), device=device)
    out = storage[:, 1:11]  # strided view: row stride 12
    returned = ops.td_lambda_returns(*(torch.from_numpy(x).to(device) for x in (rewards, dones, next_values)),
                                     0.99, 0.95, out=out)
    assert returned.data_ptr() == out.data_ptr()
    expected = reference_returns(rewards, dones, next_values, 0.99, 0.95)
    np.testing.assert_allclose(out.cpu().numpy(), expected, rtol=1e-5, atol=1e-4)
    assert torch.isnan(storage[:, 0]).all() and torch.isnan(storage[:, 11]).all()


def test_runs_in_one_nvtx_range(device):
    events = []
    x = torch.zeros(2, 3, device=device)
    set_range_hook(lambda event, name: events.append((event, name)))
    try:
        ops.td_lambda_returns(x, x, x, 0.99, 0.95)
    finally:
        set_range_hook(None)
    assert events == [("push", "td_lambda_returns"), ("pop", "td_lambda_returns")]


def _bad_calls(device):
    x = torch.zeros(4, 5, device=device)
    good = dict(rewards=x, dones=x, next_values=x, gamma=0.99, lam=0.95)
    return {
        "rank": dict(good, rewards=torch.zeros(4, 5, 1, device=device)),
        "dones shape": dict(good, dones=torch.zeros(4, 6, device=device)),
        "values shape": dict(good, next_values=torch.zeros(5, 5, device=device)),
        "dtype": dict(good, dones=torch.zeros(4, 5, dtype=torch.bool, device=device)),
        "float64": dict(good, rewards=torch.zeros(4, 5, dtype=torch.float64, device=device)),
        "lam above one": dict(good, lam=1.5),
        "gamma negative": dict(good, gamma=-0.1),
        "gamma nan": dict(good, gamma=float("nan")),
        "out shape": dict(good, out=torch.zeros(4, 4, device=device)),
        "not a tensor": dict(good, rewards=np.zeros((4, 5), np.float32)),
    }


@pytest.mark.parametrize("case", list(_bad_calls("cpu")))
def test_bad_arguments_raise(device, case):
    with pytest.raises(ValueError):
        ops.td_lambda_returns(**_bad_calls(device)[case])
