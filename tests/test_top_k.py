"""The top-k selection kernel (sdpg_warp.kernels.top_k) against a NumPy ranking of the returns."""

import numpy as np
import pytest
import torch

from sdpg_warp import ops
from sdpg_warp.kernels import top_k as _top_k


KEY_MIN = -(2 ** 31)


def order_keys(J):
    """The kernel's integer order key in NumPy: int32 bits, all but the sign flipped when negative,
    both zeros 0; a non-finite return the lowest key of all."""
    J = np.asarray(J, np.float32)
    bits = J.view(np.int32).astype(np.int64)
    keys = np.where(bits < 0, bits ^ 0x7FFFFFFF, bits)
    return np.where(~np.isfinite(J), KEY_MIN, np.where(J == 0.0, 0, keys))


def reference_list(J, num_nominal, top_k):
    """(samples, weights) of shape (N, H, K): the K largest keys of each (n, t), ties to the lower
    sample index, listed in sample order; weights dJ / (K' s) in float64 over the F finite samples
    (K' = min(K, F)), 0 for a non-finite sample, every weight 0 when the nominal is non-finite."""
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
            finite = np.isfinite(returns[n, :, t])
            if not finite[0]:
                continue
            dJ = np.where(finite, returns[n, :, t].astype(np.float64) - returns[n, 0, t], 0.0)
            std = dJ[finite].std(ddof=1) if finite.sum() > 1 else 0.0
            with np.errstate(invalid="ignore", over="ignore"):
                weights[n, t] = dJ[samples[n, t]] / (min(top_k, finite.sum()) * (std + 1e-6))
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


def test_non_finite_returns_rank_last_with_no_weight(device, variant):
    # A blown-up world's return (inf, NaN) is never kept while K finite ones are left, and it takes
    # no part in the statistics; a non-finite nominal zeroes its step's weights. Before, +NaN and
    # +inf ranked first and made every weight of their (n, t) NaN.
    num_nominal, num_aux, horizon, top_k = 2, 15, 4, 5
    rng = np.random.default_rng(0)
    J = rng.normal(size=(num_nominal * (num_aux + 1), horizon)).astype(np.float32)
    J[1, :] = np.inf
    J[2, :] = np.nan
    J[3, :] = -np.inf
    J[4, :] = -np.float32(np.nan)
    J[20, 1] = np.nan
    J[16, 2] = np.inf  # group 1's nominal at step 2
    J[17:, 3] = np.nan  # group 1 at step 3: one finite sample, fewer than K
    counts = torch.full((num_nominal, horizon), -1, dtype=torch.int32, device=device)
    weights, listed = ops._select_top_k(torch.from_numpy(J).to(device), num_nominal, num_aux + 1, top_k, counts)
    samples, weights = listed[..., :top_k].cpu().numpy(), weights[..., :top_k].cpu().numpy()
    expected_samples, expected_weights = reference_list(J, num_nominal, top_k)
    np.testing.assert_array_equal(samples, expected_samples)
    np.testing.assert_allclose(weights, expected_weights, rtol=2e-5, atol=1e-6)
    assert not {1, 2, 3, 4} & set(expected_samples[0].ravel()) and np.isfinite(weights).all()
    assert (weights[1, 2] == 0.0).all() and (weights[1, 3] == 0.0).all()
    np.testing.assert_array_equal(counts.cpu().numpy(), [[4, 4, 4, 4], [0, 1, 1, 15]])
