"""ops.sample_actions against a NumPy reference of docs/DESIGN.md section 3, step 2.3 and a plain-Python Philox."""

import math

import numpy as np
import pytest
import torch

from sdpg_warp import ops
from sdpg_warp.kernels import perturb as _perturb
from sdpg_warp.profiling import set_range_hook

MASK32 = 0xFFFFFFFF


def philox4x32(counter, key):
    """Philox-4x32-10 in plain Python integers (Salmon et al., SC'11)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK32, (p0 >> 32) ^ c3 ^ k1, p0 & MASK32
        k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
    return c0, c1, c2, c3


def reference_eps(num_nominal, num_aux, action_dim, seed, step):
    """eps[w, j]: normal j % 4 of Philox(counter = (j // 4, w, step), key = seed), Box-Muller
    on 24-bit uniforms; 0 on nominal worlds."""
    num_worlds = num_nominal * (num_aux + 1)
    eps = np.zeros((num_worlds, action_dim))
    for w in range(num_worlds):
        if w % (num_aux + 1) == 0:
            continue
        for q in range((action_dim + 3) // 4):
            bits = philox4x32((q, w, step & MASK32, step >> 32), (seed & MASK32, seed >> 32))
            u = [((b >> 8) + 0.5) / 2**24 for b in bits]
            z = []
            for u1, u2 in ((u[0], u[1]), (u[2], u[3])):
                radius = math.sqrt(-2.0 * math.log(u1))
                z += [radius * math.cos(2.0 * math.pi * u2), radius * math.sin(2.0 * math.pi * u2)]
            for lane in range(4):
                if 4 * q + lane < action_dim:
                    eps[w, 4 * q + lane] = z[lane]
    return eps


def reference_actions(mean, logstd, eps, num_aux, bounds):
    """actions[w] = clamp(mean[n] + exp(logstd[n]) * eps[w], bounds), w = n*(M+1) + k."""
    mean = np.asarray(mean, np.float64)
    logstd = np.broadcast_to(np.asarray(logstd, np.float64), mean.shape)
    actions = np.zeros_like(eps)
    for w in range(eps.shape[0]):
        n = w // (num_aux + 1)
        actions[w] = np.clip(mean[n] + np.exp(logstd[n]) * eps[w], *bounds)
    return actions


def test_philox_reference_known_answers():
    # Known-answer vectors of Philox-4x32-10 from the Random123 distribution.
    assert philox4x32((0, 0, 0, 0), (0, 0)) == (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)
    assert philox4x32((MASK32,) * 4, (MASK32, MASK32)) == (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)
    assert philox4x32(
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)
    ) == (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)


@pytest.mark.parametrize("seed, step", [(0, 0), (7, 12345), (2**64 - 1, 2**40 + 3)])
def test_eps_is_the_keyed_philox_normal(device, seed, step):
    mean = torch.zeros(2, 6, device=device)
    logstd = torch.zeros(6, device=device)
    _, eps = ops.sample_actions(mean, logstd, 3, seed, step)
    np.testing.assert_allclose(eps.cpu().numpy(), reference_eps(2, 3, 6, seed, step), rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("variant", ["cpu", "cuda"])
@pytest.mark.parametrize(
    "num_nominal, num_aux, action_dim",
    # Groups of M+1 = 1, 10, 64 and 70 samples (whole, partial and single chunks of samples per
    # thread) and d = 1, 5, 8, 21 (whole and partial groups of four dims).
    [(3, 0, 5), (2, 9, 1), (2, 63, 21), (1, 69, 8)],
)
def test_eps_does_not_depend_on_the_launch_shape(device, monkeypatch, variant, num_nominal, num_aux,
                                                 action_dim):
    # The kernel's thread layout changes with N, M and d, and with the device (the CPU's kernel
    # handles more worlds per thread than the GPU's; both are run here, on the test's device);
    # every eps must still be the reference normal of its own (seed, step, world, dim).
    kind = "cuda" if torch.device(device).type == "cuda" else "cpu"
    monkeypatch.setitem(_perturb._PERTURB_ACTIONS, kind, _perturb._PERTURB_ACTIONS[variant])
    monkeypatch.setitem(_perturb._SAMPLES_PER_THREAD, kind, _perturb._SAMPLES_PER_THREAD[variant])
    mean = torch.zeros(num_nominal, action_dim, device=device)
    _, eps = ops.sample_actions(mean, torch.zeros(action_dim, device=device), num_aux, 99, 3)
    expected = reference_eps(num_nominal, num_aux, action_dim, 99, 3)
    np.testing.assert_allclose(eps.cpu().numpy(), expected, rtol=1e-5, atol=2e-6)


def test_squash_is_tanh_to_float32_precision(device):
    # Nominal worlds only (M = 0, eps = 0): actions = mean exactly, squashed = tanh(mean). The
    # kernel's tanh is t/(2 - t), t = -expm1(-2|a|), with expm1's argument reduced by multiples of
    # ln 2 (the first boundary at |a| = ln(2)/4 = 0.1733) and |a| clamped to 9.
    values = np.concatenate([
        [0.0, -0.0, 1e-30, -1e-7, 1e-3, 0.1249999, 0.125, -0.1250001, 0.1732867, -0.1732868, 0.5, -1.0, 2.0, 5.0,
         -8.9999, 9.0, -9.5, 20.0, -88.0],
        np.linspace(-12.0, 12.0, 4001),
        np.geomspace(1e-6, 1.0, 500),
    ]).astype(np.float32)
    mean = torch.from_numpy(values).reshape(-1, 1).to(device)
    squashed = torch.full_like(mean, float("nan"))
    actions, _ = ops.sample_actions(
        mean, torch.zeros(1, device=device), 0, 0, 0, mean_bounds=(-100.0, 100.0), squashed_out=squashed
    )
    assert torch.equal(actions, mean)
    expected = np.tanh(values.astype(np.float64))
    got = squashed.cpu().numpy()[:, 0].astype(np.float64)
    assert np.all(np.abs(got - expected) <= 4e-7 * np.abs(expected) + 1e-37), np.abs(got - expected).max()
    assert np.all(np.abs(got) <= 1.0) and np.array_equal(np.sign(got), np.sign(expected))


@pytest.mark.parametrize("state_independent", [False, True])
def test_actions_match_reference(device, state_independent):
    num_nominal, num_aux, action_dim, horizon, t = 3, 5, 7, 4, 2
    num_worlds = num_nominal * (num_aux + 1)
    gen = torch.Generator().manual_seed(0)
    mean = (torch.rand(num_nominal, action_dim, generator=gen) * 3.0 - 1.5).to(device)
    logstd_shape = (action_dim,) if state_independent else (num_nominal, action_dim)
    logstd = (torch.rand(logstd_shape, generator=gen) * 2.0 - 1.5).to(device)
    bounds = (-1.25, 1.5)
    # Rollout buffers [W, H, d]; this step writes only their t-th slices.
    actions_buffer = torch.full((num_worlds, horizon, action_dim), float("nan"), device=device)
    eps_buffer = torch.full((num_worlds, horizon, action_dim), float("inf"), device=device)
    squashed = torch.full((num_worlds, action_dim), float("nan"), device=device)
    actions, eps = ops.sample_actions(
        mean, logstd, num_aux, seed=3, step=17, mean_bounds=bounds, squashed_out=squashed,
        out=(actions_buffer[:, t], eps_buffer[:, t]),
    )
    assert actions.data_ptr() == actions_buffer[:, t].data_ptr() and eps.data_ptr() == eps_buffer[:, t].data_ptr()
    eps_np = eps.cpu().numpy().astype(np.float64)
    expected = reference_actions(mean.cpu().numpy(), logstd.cpu().numpy(), eps_np, num_aux, bounds)
    np.testing.assert_allclose(actions.cpu().numpy(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(squashed.cpu().numpy(), np.tanh(expected), rtol=1e-6, atol=1e-6)
    assert (expected == bounds[0]).any() and (expected == bounds[1]).any(), "clamp not exercised"
    # Other steps of the rollout buffers are untouched.
    others = [s for s in range(horizon) if s != t]
    assert torch.isnan(actions_buffer[:, others]).all() and torch.isinf(eps_buffer[:, others]).all()
    # Allocating path: the same numbers.
    actions2, eps2 = ops.sample_actions(mean, logstd, num_aux, seed=3, step=17, mean_bounds=bounds)
    assert torch.equal(actions2, actions) and torch.equal(eps2, eps)
    # NumPy integers key the same noise as Python ints.
    eps3 = ops.sample_actions(mean, logstd, num_aux, seed=np.int64(3), step=np.uint64(17), mean_bounds=bounds)[1]
    assert torch.equal(eps3, eps)


def test_repeated_calls_into_the_same_buffers_launch_what_the_checked_path_launches(device):
    """A call whose tensors (address, shape, strides, dtype, device) and fixed arguments were seen
    before takes the recorded launch: its results for new keys, an updated mean and log-std in the
    same tensors, and another slice of the buffers all equal the allocating (never recorded) path;
    bad keys and bad tensors still raise."""
    num_nominal, num_aux, action_dim, horizon = 2, 3, 5, 3
    num_worlds = num_nominal * (num_aux + 1)
    mean = torch.zeros(num_nominal, action_dim, device=device)
    logstd = torch.zeros(action_dim, device=device)
    actions_buffer = torch.zeros((num_worlds, horizon, action_dim), device=device)
    eps_buffer = torch.zeros_like(actions_buffer)
    squashed = torch.zeros(num_worlds, action_dim, device=device)
    gen = torch.Generator().manual_seed(1)
    for seed, step, t in [(1, 2, 0), (1, 3, 0), (2**40 + 5, 2**33 + 1, 0), (7, 9, 1), (7, 10, 1)]:
        mean.copy_(torch.rand(mean.shape, generator=gen).to(device) * 2 - 1)  # in place: same address
        logstd.copy_(torch.rand(logstd.shape, generator=gen).to(device) - 1)
        actions, eps = ops.sample_actions(mean, logstd, num_aux, seed, step, squashed_out=squashed,
                                          out=(actions_buffer[:, t], eps_buffer[:, t]))
        expected_actions, expected_eps = ops.sample_actions(mean, logstd, num_aux, seed, step)
        assert torch.equal(actions, expected_actions) and torch.equal(eps, expected_eps), (seed, step, t)
        assert torch.equal(actions_buffer[:, t], expected_actions)
        assert torch.allclose(squashed, torch.tanh(expected_actions), rtol=1e-6, atol=1e-6)
    out = (actions_buffer[:, 1], eps_buffer[:, 1])
    with pytest.raises(ValueError, match="step must be in"):
        ops.sample_actions(mean, logstd, num_aux, 7, -1, squashed_out=squashed, out=out)
    with pytest.raises(ValueError, match="mean must be float32"):
        ops.sample_actions(mean.double(), logstd, num_aux, 7, 11, squashed_out=squashed, out=out)


def test_nominal_worlds_follow_the_mean(device):
    num_nominal, num_aux, action_dim = 4, 3, 5
    mean = torch.linspace(-1.0, 1.0, num_nominal * action_dim, device=device).reshape(num_nominal, action_dim)
    actions, eps = ops.sample_actions(mean, torch.zeros(action_dim, device=device), num_aux, 1, 2)
    group_eps = eps.reshape(num_nominal, num_aux + 1, action_dim)
    assert (group_eps[:, 0] == 0.0).all() and (group_eps[:, 1:] != 0.0).all()
    assert torch.equal(actions.reshape(num_nominal, num_aux + 1, action_dim)[:, 0], mean)


def test_reproducible_for_a_key_and_different_for_another(device):
    mean = torch.zeros(2, 9, device=device)
    logstd = torch.zeros(9, device=device)

    def eps(seed, step):
        return ops.sample_actions(mean, logstd, 7, seed, step)[1]

    reference = eps(11, 5)
    assert torch.equal(eps(11, 5), reference)
    aux = reference.reshape(2, 8, 9)[:, 1:]
    for seed, step in [(11, 6), (12, 5), (11 + 2**32, 5), (11, 5 + 2**32)]:
        other = eps(seed, step).reshape(2, 8, 9)[:, 1:]
        # Independent draws: no element in common (a float32 match by chance is ~1e-7 likely).
        assert not torch.isclose(other, aux, rtol=0.0, atol=1e-6).any(), (seed, step)


def test_normal_statistics(device):
    # 4 nominals x 999 auxiliaries x 50 dims = 199,800 samples; 5-sigma bounds throughout.
    num_nominal, num_aux, action_dim = 4, 999, 50
    mean = torch.zeros(num_nominal, action_dim, device=device)
    logstd = torch.zeros(action_dim, device=device)
    eps = ops.sample_actions(mean, logstd, num_aux, seed=2024, step=1)[1].cpu().numpy().astype(np.float64)
    eps_next_step = ops.sample_actions(mean, logstd, num_aux, seed=2024, step=2)[1].cpu().numpy()
    aux = eps.reshape(num_nominal, num_aux + 1, action_dim)[:, 1:]
    x = aux.reshape(-1)
    n = x.size
    assert abs(x.mean()) < 5.0 / math.sqrt(n)
    assert abs(x.var() - 1.0) < 5.0 * math.sqrt(2.0 / n)
    # Tails: the fraction beyond 1, 2 and 3 sigma against the normal law (binomial bounds).
    for z in (1.0, 2.0, 3.0):
        p = math.erfc(z / math.sqrt(2.0))
        assert abs((np.abs(x) > z).mean() - p) < 5.0 * math.sqrt(p * (1.0 - p) / n), z
    # No correlation between neighbouring dims (the same and different Philox groups),
    # neighbouring worlds, or consecutive steps: E[x y] = 0 with std 1/sqrt(n).
    pairs = {
        "dims": (aux[:, :, :-1], aux[:, :, 1:]),
        "worlds": (aux[:, :-1, :], aux[:, 1:, :]),
        "steps": (aux, eps_next_step.reshape(num_nominal, num_aux + 1, action_dim)[:, 1:]),
    }
    for name, (a, b) in pairs.items():
        assert abs((a * b).mean()) < 5.0 / math.sqrt(a.size), name


def test_runs_in_one_nvtx_range(device):
    events = []
    set_range_hook(lambda event, name: events.append((event, name)))
    try:
        ops.sample_actions(torch.zeros(1, 2, device=device), torch.zeros(2, device=device), 1, 0, 0)
    finally:
        set_range_hook(None)
    assert events == [("push", "sample_actions"), ("pop", "sample_actions")]


def _bad_calls(device):
    f32 = dict(device=device, dtype=torch.float32)
    mean, logstd = torch.zeros(2, 3, **f32), torch.zeros(3, **f32)
    good = dict(mean=mean, logstd=logstd, num_aux=1, seed=0, step=0)
    worlds = torch.zeros(4, 3, **f32)
    return {
        "mean rank": dict(good, mean=torch.zeros(2, 3, 1, **f32)),
        "mean dtype": dict(good, mean=torch.zeros(2, 3, dtype=torch.float64, device=device)),
        "logstd dims": dict(good, logstd=torch.zeros(4, **f32)),
        "logstd nominals": dict(good, logstd=torch.zeros(3, 3, **f32)),
        "logstd rank": dict(good, logstd=torch.zeros(2, 3, 1, **f32)),
        "num_aux negative": dict(good, num_aux=-1),
        "num_aux float": dict(good, num_aux=1.0),
        "seed negative": dict(good, seed=-1),
        "step too large": dict(good, step=2**64),
        "bounds reversed": dict(good, mean_bounds=(2.0, -2.0)),
        "squashed shape": dict(good, squashed_out=torch.zeros(2, 3, **f32)),
        "out shape": dict(good, out=(worlds, torch.zeros(4, 2, **f32))),
        "out dtype": dict(good, out=(worlds, torch.zeros(4, 3, dtype=torch.float64, device=device))),
        "out count": dict(good, out=(worlds,)),
        "out expanded": dict(good, out=(worlds, torch.zeros(1, 3, **f32).expand(4, 3))),
    }


@pytest.mark.parametrize("case", list(_bad_calls("cpu")))
def test_bad_arguments_raise(device, case):
    with pytest.raises(ValueError):
        ops.sample_actions(**_bad_calls(device)[case])
