"""The top-k selection kernel (sdpg_warp.kernels.top_k) against a NumPy ranking of the returns."""

import numpy as np
import pytest
import torch

from sdpg_warp import ops
from sdpg_warp.kernels import top_k as _top_k


def order_keys(J):
    """The kernel's integer order key in NumPy: int32 bits, all but the sign flipped when negative,
    both zeros 0."""
    bits = np.asarray(J, np.float32).view(np.int32).astype(np.int64)
    keys = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return np.where(np.asarray(J) == 0.0, 0, keys)


def reference_list(J, num_nominal, top_k):
    """(samples, weights) of shape (N, H, K): the K largest keys of each (n, t), ties to the lower
    sample index, listed in sample order; weights dJ / (K s) in float64."""
    group = J.shape[0] // num_nominal
    returns = J.reshape(num_nominal, group, -1)
    keys = order_keys(returns)
    horizon = returns.shape[2]
    samples = np.zeros((num_nominal, horizon, top_k), np.int64)
    weights = np.zeros((num_nominal, horizon, top_k))
    for n in range(num_nominal):
        for t in range(horizon):
            ranked = np.lexsort((np.arange(group), -keys[n, :, t]))
            samples[n, t] = np.sort(ranked[:top_k])
            dJ = returns[n, :, t].astype(np.float64) - returns[n, 0, t]
            with np.errstate(invalid="ignore"):
                weights[n, t] = dJ[samples[n, t]] / (top_k * (dJ.std(ddof=1) + 1e-6))
    return samples, weights


def select(device, J, num_nominal, top_k):
    group = J.shape[0] // num_nominal
    weights, samples = ops._select_top_k(torch.from_numpy(J).to(device), num_nominal, group, top_k)
    return samples[..., :top_k].cpu().numpy(), weights[..., :top_k].cpu().numpy()


def returns_of(kind, num_worlds, horizon, rng):
    if kind == "normal":
        return (rng.normal(size=(num_worlds, horizon)) * 3.0).astype(np.float32)
    if kind == "ties":
        return rng.integers(-2, 3, size=(num_worlds, horizon)).astype(np.float32)
    if kind == "magnitudes":  # signs, exponents from 1e-38 to 1e38, signed zeros and denormals
        J = (rng.choice([-1.0, 1.0], (num_worlds, horizon)) * 10.0 ** rng.uniform(-38, 38, (num_worlds, horizon)))
        J = J.astype(np.float32)
        J.flat[::7] = 0.0
        J.flat[3::7] = -0.0
        J.flat[5::11] = np.float32(1e-45)
        return J
    if kind == "equal":
        return np.full((num_worlds, horizon), -4.0, np.float32)
    raise ValueError(kind)


@pytest.fixture(params=["cpu", "cuda"])
def variant(request, device, monkeypatch):
    """The CPU's kernel (16 steps per thread) or the GPU's (one), run on the test's device."""
    kind = "cuda" if torch.device(device).type == "cuda" else "cpu"
    monkeypatch.setitem(_top_k._TOP_K_WEIGHTS, kind, _top_k._TOP_K_WEIGHTS[request.param])
    monkeypatch.setitem(_top_k._STEPS_PER_THREAD, kind, _top_k._STEPS_PER_THREAD[request.param])
    return request.param


@pytest.mark.parametrize("kind", ["normal", "ties", "magnitudes", "equal"])
@pytest.mark.parametrize("num_aux,top_k", [(63, 1), (63, 16), (63, 63), (6, 3)])
def test_list_matches_the_ranking(device, variant, kind, num_aux, top_k):
    # H = 37: three chunks of 16 steps per thread, the last one partial (CPU variant).
    num_nominal, horizon = 3, 37
    rng = np.random.default_rng(num_aux + top_k)
    J = returns_of(kind, num_nominal * (num_aux + 1), horizon, rng)
    samples, weights = select(device, J, num_nominal, top_k)
    expected_samples, expected_weights = reference_list(J, num_nominal, top_k)
    np.testing.assert_array_equal(samples, expected_samples)
    if kind != "magnitudes":  # whose float32 squares overflow: the ranking is what is checked there
        np.testing.assert_allclose(weights, expected_weights, rtol=2e-5, atol=1e-6)


def test_infinite_and_nan_returns_keep_a_total_order(device, variant):
    # +NaN ranks above +inf, -NaN below -inf; every list still holds K distinct samples.
    num_nominal, num_aux, horizon, top_k = 2, 15, 4, 5
    rng = np.random.default_rng(0)
    J = rng.normal(size=(num_nominal * (num_aux + 1), horizon)).astype(np.float32)
    J[1, :] = np.inf
    J[2, :] = np.nan
    J[3, :] = -np.inf
    J[4, :] = -np.float32(np.nan)
    J[20, 1] = np.nan
    samples, _ = select(device, J, num_nominal, top_k)
    expected_samples, _ = reference_list(J, num_nominal, top_k)
    np.testing.assert_array_equal(samples, expected_samples)
    assert (expected_samples[0, :, :2] == [1, 2]).all() and 4 not in expected_samples[0]
