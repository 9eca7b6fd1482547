"""ops.sdpg_targets against the per-nominal estimate of docs/DESIGN.md section 4.3 written as NumPy loops."""

import numpy as np
import pytest
import torch

from sdpg_warp import ops
from sdpg_warp.profiling import set_range_hook

MEAN_BOUNDS = (-1.5, 1.5)
LOGSTD_BOUNDS = (-1.0, 0.25)


def reference_targets(J, eps, mean, logstd, num_aux, mean_bounds, logstd_bounds, top_k=None):
    """docs/DESIGN.md section 4.3 in float64, one (nominal, step) at a time; top-k keeps the k largest w, ties to
    the lower sample index, and averages over those k. Non-finite returns are left out (the statistics and the
    average run over the F finite samples, top-k over min(k, F)); a non-finite nominal return gives zero steps."""
    J, eps, mean, logstd = (np.asarray(x, np.float64) for x in (J, eps, mean, logstd))
    num_nominal, horizon, num_actions = mean.shape
    group = num_aux + 1
    returns = J.reshape(num_nominal, group, horizon)
    noise = eps.reshape(num_nominal, group, horizon, num_actions)
    mean_target = np.zeros_like(mean)
    logstd_target = np.zeros_like(logstd)
    for n in range(num_nominal):
        for t in range(horizon):
            mean_step = logstd_step = np.zeros(num_actions)
            if np.isfinite(returns[n, 0, t]):
                finite = np.flatnonzero(np.isfinite(returns[n, :, t]))
                dJ = returns[n, finite, t] - returns[n, 0, t]
                s = (dJ.std(ddof=1) if len(finite) > 1 else 0.0) + 1e-6
                w = dJ / s
                order = np.arange(len(finite)) if top_k is None else np.argsort(-w, kind="stable")[:top_k]
                e = noise[n, finite[order], t]
                sigma = np.exp(logstd[n, t])
                mean_step = (w[order, None] * e).sum(axis=0) / len(order)
                logstd_step = (w[order, None] * (e * e - 1.0)).sum(axis=0) / len(order) * sigma
            mean_target[n, t] = np.clip(mean[n, t] + mean_step, *mean_bounds)
            logstd_target[n, t] = np.clip(logstd[n, t] + logstd_step, *logstd_bounds)
    return mean_target, logstd_target


def random_batch(num_nominal, num_aux, horizon, num_actions, seed=0, integer_returns=False):
    rng = np.random.default_rng(seed)
    num_worlds = num_nominal * (num_aux + 1)
    if integer_returns:  # few distinct values: many ties for top-k
        J = rng.integers(-2, 3, size=(num_worlds, horizon)).astype(np.float32)
    else:
        J = (rng.normal(size=(num_worlds, horizon)) * 3.0 + 10.0).astype(np.float32)
    eps = rng.normal(size=(num_worlds, horizon, num_actions)).astype(np.float32)
    eps.reshape(num_nominal, num_aux + 1, horizon, num_actions)[:, 0] = 0.0
    mean = rng.uniform(-1.6, 1.6, size=(num_nominal, horizon, num_actions)).astype(np.float32)
    logstd = rng.uniform(-1.2, 0.4, size=(num_nominal, horizon, num_actions)).astype(np.float32)
    return J, eps, mean, logstd


def to_device(device, *arrays):
    return [torch.from_numpy(a).to(device) for a in arrays]


@pytest.mark.parametrize("top_k", [None, 1, 3, 8])
def test_matches_reference(device, top_k):
    num_nominal, num_aux, horizon, num_actions = 3, 7, 4, 5
    J, eps, mean, logstd = random_batch(num_nominal, num_aux, horizon, num_actions)
    J.reshape(num_nominal, num_aux + 1, horizon)[1, :, 2] = 3.7  # a zero-variance group
    shape = (num_nominal, horizon, num_actions)
    out = (torch.full(shape, float("nan"), device=device), torch.full(shape, float("inf"), device=device))
    # eps as a strided view of a wider buffer, as a rollout storage slice would be.
    eps_storage = torch.zeros(eps.shape[:2] + (num_actions + 3,), device=device)
    eps_storage[..., :num_actions] = torch.from_numpy(eps).to(device)
    J_t, actions_t, logstd_t = to_device(device, J, mean, logstd)
    mean_target, logstd_target = ops.sdpg_targets(
        J_t, eps_storage[..., :num_actions], actions_t, logstd_t, num_aux,
        mean_bounds=MEAN_BOUNDS, logstd_bounds=LOGSTD_BOUNDS, top_k=top_k, out=out,
    )
    assert mean_target.data_ptr() == out[0].data_ptr() and logstd_target.data_ptr() == out[1].data_ptr()
    expected_mean, expected_logstd = reference_targets(
        J, eps, mean, logstd, num_aux, MEAN_BOUNDS, LOGSTD_BOUNDS, top_k
    )
    np.testing.assert_allclose(mean_target.cpu().numpy(), expected_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logstd_target.cpu().numpy(), expected_logstd, rtol=1e-5, atol=1e-5)
    # Equal returns: zero step, and no NaN from 0/0.
    np.testing.assert_array_equal(mean_target[1, 2].cpu().numpy(), np.clip(mean[1, 2], *MEAN_BOUNDS))
    np.testing.assert_array_equal(logstd_target[1, 2].cpu().numpy(), np.clip(logstd[1, 2], *LOGSTD_BOUNDS))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("top_k", [None, 3, 8])
def test_a_non_finite_auxiliary_is_left_out_of_its_group_only(device, top_k, bad):
    # One blown-up auxiliary world (group 1, step 2) neither poisons nor steers its group: that
    # group's estimate is the one over its finite samples; every other (n, t) is bit for bit what it
    # was without it. (Warp's clamp once turned the NaN into targets at the lower bounds.)
    num_nominal, num_aux, horizon, num_actions = 3, 7, 4, 5
    arrays = random_batch(num_nominal, num_aux, horizon, num_actions, seed=6)
    clean = [t.clone() for t in ops.sdpg_targets(*to_device(device, *arrays), num_aux, top_k=top_k)]
    J = arrays[0].copy()
    J.reshape(num_nominal, num_aux + 1, horizon)[1, 5, 2] = bad
    mean_target, logstd_target = ops.sdpg_targets(*to_device(device, J, *arrays[1:]), num_aux, top_k=top_k)
    expected_mean, expected_logstd = reference_targets(J, *arrays[1:], num_aux, (-2.0, 2.0), (-5.0, 2.0), top_k)
    np.testing.assert_allclose(mean_target[1, 2].cpu().numpy(), expected_mean[1, 2], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logstd_target[1, 2].cpu().numpy(), expected_logstd[1, 2], rtol=1e-5, atol=1e-5)
    assert not np.allclose(expected_mean[1, 2], reference_targets(*arrays, num_aux, (-2.0, 2.0), (-5.0, 2.0),
                                                                  top_k)[0][1, 2])
    others = torch.ones(num_nominal, horizon, dtype=torch.bool)
    others[1, 2] = False
    assert torch.equal(mean_target[others], clean[0][others]) and torch.equal(logstd_target[others], clean[1][others])


@pytest.mark.parametrize("top_k", [None, 2, 6])
def test_a_non_finite_nominal_skips_its_step_and_the_samples_are_counted(device, top_k):
    # (0, 1): a NaN nominal -> zero steps; (2, 3): an inf nominal and two more non-finite samples;
    # (1, 0): six of eight auxiliaries non-finite (fewer finite samples than top-k keeps).
    num_nominal, num_aux, horizon, num_actions = 3, 7, 4, 5
    J, eps, mean, logstd = random_batch(num_nominal, num_aux, horizon, num_actions, seed=7)
    returns = J.reshape(num_nominal, num_aux + 1, horizon)
    returns[0, 0, 1] = np.nan
    returns[2, [0, 3, 7], 3] = [np.inf, np.nan, -np.inf]
    returns[1, 2:, 0] = np.nan
    counts = torch.full((num_nominal, horizon), -1, dtype=torch.int32, device=device)
    mean_target, logstd_target = ops.sdpg_targets(*to_device(device, J, eps, mean, logstd), num_aux, top_k=top_k,
                                                  non_finite_out=counts)
    expected = np.zeros((num_nominal, horizon), np.int32)
    expected[0, 1], expected[2, 3], expected[1, 0] = 1, 3, 6
    np.testing.assert_array_equal(counts.cpu().numpy(), expected)
    for n, t in ((0, 1), (2, 3)):
        np.testing.assert_array_equal(mean_target[n, t].cpu().numpy(), mean[n, t])
        np.testing.assert_array_equal(logstd_target[n, t].cpu().numpy(), np.clip(logstd[n, t], -5.0, 2.0))
    expected_mean, expected_logstd = reference_targets(J, eps, mean, logstd, num_aux, (-2.0, 2.0), (-5.0, 2.0), top_k)
    np.testing.assert_allclose(mean_target.cpu().numpy(), expected_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logstd_target.cpu().numpy(), expected_logstd, rtol=1e-5, atol=1e-5)


def test_all_samples_is_no_top_k(device):
    J, eps, mean, logstd = to_device(device, *random_batch(2, 5, 3, 4, seed=1))
    every = ops.sdpg_targets(J, eps, mean, logstd, 5, top_k=6)
    plain = ops.sdpg_targets(J, eps, mean, logstd, 5)
    assert torch.equal(every[0], plain[0]) and torch.equal(every[1], plain[1])


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_top_k_ties_go_to_the_lower_index(device, top_k):
    arrays = random_batch(4, 6, 3, 3, seed=2, integer_returns=True)
    mean_target, logstd_target = ops.sdpg_targets(*to_device(device, *arrays), 6, top_k=top_k)
    expected_mean, expected_logstd = reference_targets(*arrays, 6, (-2.0, 2.0), (-5.0, 2.0), top_k)
    np.testing.assert_allclose(mean_target.cpu().numpy(), expected_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logstd_target.cpu().numpy(), expected_logstd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("returns", ["continuous", "ties", "signed_zeros"])
@pytest.mark.parametrize("top_k", [1, 2, 16, 63])
def test_top_k_selection_at_the_paper_group_size(device, returns, top_k):
    # M = 63: the selection's bisection ends early on distinct returns and runs to the last bit on
    # tied ones; -0.0 and +0.0 are equal returns (ties to the lower index), as in the reference.
    num_nominal, num_aux, horizon, num_actions = 3, 63, 5, 2
    arrays = random_batch(num_nominal, num_aux, horizon, num_actions, seed=5, integer_returns=returns != "continuous")
    J = arrays[0]
    if returns == "signed_zeros":
        J[:] = np.where(J > 0, 0.0, np.where(J < 0, -0.0, J)).astype(np.float32)
        J[::3] = 1.5
        assert (np.signbit(J) & (J == 0)).any() and (~np.signbit(J) & (J == 0)).any()
    mean_target, logstd_target = ops.sdpg_targets(*to_device(device, *arrays), num_aux, top_k=top_k)
    expected_mean, expected_logstd = reference_targets(*arrays, num_aux, (-2.0, 2.0), (-5.0, 2.0), top_k)
    np.testing.assert_allclose(mean_target.cpu().numpy(), expected_mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(logstd_target.cpu().numpy(), expected_logstd, rtol=1e-5, atol=1e-5)


def test_all_equal_returns_give_the_nominal(device):
    J, eps, mean, logstd = random_batch(2, 3, 5, 2, seed=3)
    J[:] = -4.0
    mean_target, logstd_target = ops.sdpg_targets(*to_device(device, J, eps, mean, logstd), 3)
    assert torch.equal(mean_target.cpu(), torch.from_numpy(mean))
    assert torch.equal(logstd_target.cpu(), torch.from_numpy(logstd))


def test_step_follows_the_smoothed_gradient(device):
    # One step (H = 1) of R(a) = -||a - a*||^2. Its Gaussian smoothing is R(a) - sigma^2 d, whose
    # gradient in a is the exact -2 (a - a*); the smoothed objective decreases in sigma.
    num_nominal, num_aux, num_actions, sigma = 4, 255, 4, 0.3
    rng = np.random.default_rng(4)
    a_nominal = torch.from_numpy(rng.uniform(-1.0, 1.0, (num_nominal, num_actions)).astype(np.float32)).to(device)
    a_star = torch.from_numpy(rng.uniform(-1.0, 1.0, (num_nominal, num_actions)).astype(np.float32)).to(device)
    logstd = torch.full((num_nominal, num_actions), float(np.log(sigma)), device=device)
    wide = (-10.0, 10.0)
    actions, eps = ops.sample_actions(a_nominal, logstd, num_aux, seed=5, step=0, mean_bounds=wide)
    target_of_world = a_star.repeat_interleave(num_aux + 1, dim=0)
    J = -((actions - target_of_world) ** 2).sum(dim=1, keepdim=True)
    mean_target, logstd_target = ops.sdpg_targets(
        J, eps[:, None], a_nominal[:, None], logstd[:, None], num_aux, mean_bounds=wide, logstd_bounds=wide
    )
    step = (mean_target[:, 0] - a_nominal).cpu().numpy().astype(np.float64)
    gradient = (-2.0 * (a_nominal - a_star)).cpu().numpy().astype(np.float64)
    cosine = (step * gradient).sum(axis=1) / np.linalg.norm(step, axis=1) / np.linalg.norm(gradient, axis=1)
    assert (cosine >= 0.95).all(), cosine
    assert (logstd_target[:, 0] - logstd).mean() < 0.0


def test_runs_in_one_nvtx_range(device):
    events = []
    arrays = to_device(device, *random_batch(1, 1, 1, 1))
    set_range_hook(lambda event, name: events.append((event, name)))
    try:
        ops.sdpg_targets(*arrays, 1)
    finally:
        set_range_hook(None)
    assert events == [("push", "sdpg_targets"), ("pop", "sdpg_targets")]


def _bad_calls(device):
    J, eps, mean, logstd = to_device(device, *random_batch(2, 3, 4, 5))
    good = dict(returns=J, eps=eps, mean=mean, logstd=logstd, num_aux=3)
    return {
        "J worlds": dict(good, returns=J[:-1]),
        "num_aux mismatch": dict(good, num_aux=2),
        "num_aux zero": dict(good, num_aux=0),
        "J horizon": dict(good, returns=J[:, :-1]),
        "J rank": dict(good, returns=J[..., None]),
        "eps dims": dict(good, eps=eps[..., :-1]),
        "eps rank": dict(good, eps=eps[..., 0]),
        "logstd shape": dict(good, logstd=logstd[:, :-1]),
        "J float64": dict(good, returns=J.double()),
        "eps float16": dict(good, eps=eps.half()),
        "top_k zero": dict(good, top_k=0),
        "top_k too large": dict(good, top_k=5),
        "top_k bool": dict(good, top_k=True),
        "bounds reversed": dict(good, logstd_bounds=(2.0, -5.0)),
        "out shape": dict(good, out=(torch.zeros(2, 4, 5, device=device), torch.zeros(2, 4, 4, device=device))),
        "count dtype": dict(good, non_finite_out=torch.zeros(2, 4, device=device)),
        "count shape": dict(good, non_finite_out=torch.zeros(2, 5, dtype=torch.int32, device=device)),
    }


@pytest.mark.parametrize("case", list(_bad_calls("cpu")))
def test_bad_arguments_raise(device, case):
    with pytest.raises(ValueError):
        ops.sdpg_targets(**_bad_calls(device)[case])
