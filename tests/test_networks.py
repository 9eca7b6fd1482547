"""Tests of sdpg_warp.networks: shapes, bounds, running statistics against NumPy, input scaling."""

import math

import numpy as np
import pytest
import torch

from sdpg_warp.networks import Actor, Critic, ImageEncoder, RunningMeanStd

NUM_ACTIONS = 3
FRAMES = 2


def _obs_shape(kind: str, size: int) -> tuple:
    return {"state": (5,), "rgb": (3 * FRAMES, size, size), "depth": (FRAMES, size, size)}[kind]


def _random_obs(kind: str, shape: tuple, batch: int, device: str) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    if kind == "rgb":
        return torch.randint(0, 256, (batch, *shape), generator=gen, dtype=torch.uint8).to(device)
    if kind == "depth":
        return (torch.rand((batch, *shape), generator=gen) * 12.0).to(device)
    return torch.randn((batch, *shape), generator=gen).to(device)


def _actor(kind: str, shape: tuple, device: str, **overrides) -> Actor:
    args = dict(encoder_dim=16, hidden=(16, 8), init_logstd=-0.5, mean_bound=2.0, logstd_min=-5.0,
                logstd_max=2.0)
    args.update(overrides)
    return Actor(kind, shape, NUM_ACTIONS, **args).to(device)


@pytest.mark.parametrize("kind,size", [("state", 0), ("rgb", 16), ("rgb", 84), ("depth", 16), ("depth", 84)])
def test_actor_shapes(kind, size, device):
    torch.manual_seed(0)
    shape = _obs_shape(kind, size)
    actor = _actor(kind, shape, device)
    mean, logstd = actor(_random_obs(kind, shape, 2, device))
    assert mean.shape == (2, NUM_ACTIONS)
    assert logstd.shape == (NUM_ACTIONS,)
    assert torch.all(logstd == -0.5)
    # Output gain 0.01: the initial means sit near zero.
    assert mean.abs().max() < 0.5


@pytest.mark.parametrize("kind,size", [("rgb", 16), ("depth", 84)])
def test_encoder_output(kind, size, device):
    torch.manual_seed(0)
    shape = _obs_shape(kind, size)
    encoder = ImageEncoder(kind, shape, encoder_dim=8).to(device)
    features = encoder(_random_obs(kind, shape, 3, device))
    assert features.shape == (3, 8)
    assert features.abs().max() < 1.0  # tanh


def test_encoder_rejects_small_images():
    with pytest.raises(ValueError, match=">= 16"):
        ImageEncoder("rgb", (3, 8, 8), encoder_dim=8)


def test_encoder_input_scaling(device):
    rgb = ImageEncoder("rgb", (3, 16, 16), encoder_dim=4, depth_max=10.0).to(device)
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8, device=device)
    # x / 255 - 0.5: 0 -> -0.5, 51 -> 0.2 - 0.5 = -0.3, 255 -> 0.5.
    torch.testing.assert_close(rgb.preprocess(pixels), torch.tensor([-0.5, -0.3, 0.5], device=device))
    depth = ImageEncoder("depth", (1, 16, 16), encoder_dim=4, depth_max=10.0).to(device)
    metres = torch.tensor([0.0, 5.0, 10.0, 20.0, math.inf], device=device)
    # clamp(x, 0, 10) / 10 - 0.5: 0 -> -0.5, 5 -> 0, 10 and beyond (and misses, inf) -> 0.5.
    torch.testing.assert_close(depth.preprocess(metres), torch.tensor([-0.5, 0.0, 0.5, 0.5, 0.5], device=device))


def test_actor_bounds(device):
    torch.manual_seed(0)
    actor = _actor("state", (5,), device, mean_bound=1.5, logstd_min=-2.0, logstd_max=0.5)
    with torch.no_grad():
        actor.head[-1].bias.copy_(torch.tensor([100.0, -100.0, 0.0]))  # push two means far out
        actor.logstd.copy_(torch.tensor([3.0, -9.0, 0.1]))
    mean, logstd = actor(_random_obs("state", (5,), 4, device))
    assert torch.all(mean[:, 0] == 1.5) and torch.all(mean[:, 1] == -1.5)
    assert mean.abs().max() <= 1.5
    torch.testing.assert_close(logstd, torch.tensor([0.5, -2.0, 0.1], device=device))
    actor.project_logstd_()
    torch.testing.assert_close(actor.logstd.detach(), torch.tensor([0.5, -2.0, 0.1], device=device))


def test_running_mean_std_matches_numpy(device):
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)) for n in (5, 7, 1, 16)]
    rms = RunningMeanStd((4,)).to(device)
    for batch in batches:
        rms.update(torch.tensor(batch, dtype=torch.float32, device=device))
    # Float32 inputs, float64 statistics: the merge itself adds no error beyond float32 rounding.
    data = np.concatenate([b.astype(np.float32) for b in batches]).astype(np.float64)
    np.testing.assert_allclose(rms.mean.cpu().numpy(), data.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rms.var.cpu().numpy(), data.var(axis=0), rtol=1e-12, atol=1e-12)
    assert rms.count.item() == 29


def test_running_mean_std_leading_dims_and_empty(device):
    x = torch.arange(24, dtype=torch.float32, device=device).reshape(2, 3, 4)
    rms = RunningMeanStd((4,)).to(device)
    rms.update(x[:, :0])  # empty batch: no change, no division by zero
    assert rms.count.item() == 0
    rms.update(x)
    flat = x.reshape(6, 4).double()
    torch.testing.assert_close(rms.mean, flat.mean(0))
    torch.testing.assert_close(rms.var, flat.var(0, unbiased=False))


def test_running_mean_std_normalize_clips(device):
    rms = RunningMeanStd((2,), clip=5.0, eps=1e-5).to(device)
    rms.update(torch.tensor([[0.0, 1.0], [2.0, 1.0]], device=device))  # mean [1, 1], var [1, 0]
    out = rms.normalize(torch.tensor([[3.0, 1.0], [100.0, 2.0]], device=device))
    # (3 - 1)/sqrt(1 + 1e-5); (1 - 1)/sqrt(1e-5) = 0; 99/~1 -> clip 5; 1/sqrt(1e-5) = 316 -> clip 5.
    expected = torch.tensor([[2.0 / math.sqrt(1.0 + 1e-5), 0.0], [5.0, 5.0]], device=device)
    torch.testing.assert_close(out, expected)
    assert out.dtype == torch.float32


def test_normalizers_in_state_dict(device):
    actor = _actor("state", (5,), device)
    actor.update_normalizer(torch.ones(3, 5, device=device))
    state = actor.state_dict()
    assert {"obs_rms.mean", "obs_rms.var", "obs_rms.count", "logstd"} <= set(state)
    assert state["obs_rms.count"].item() == 3
    critic = Critic(5, (8,)).to(device)
    assert {"obs_rms.mean", "obs_rms.var", "obs_rms.count"} <= set(critic.state_dict())
    image_actor = _actor("rgb", (3, 16, 16), device)
    image_actor.update_normalizer(torch.zeros(1, 3, 16, 16, device=device))  # no-op for images
    assert not any("obs_rms" in key for key in image_actor.state_dict())


def test_critic_shape_and_normalization(device):
    torch.manual_seed(0)
    critic = Critic(5, (16, 16)).to(device)
    states = torch.randn(7, 5, device=device) * 50.0 + 10.0
    assert critic(states).shape == (7,)
    critic.update_normalizer(states)
    # After the update the network sees unit-scale inputs: (x - mean)/std of this batch.
    normalized = critic.obs_rms.normalize(states)
    torch.testing.assert_close(normalized.mean(0), torch.zeros(5, device=device), atol=1e-5, rtol=0)
