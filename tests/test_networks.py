"""Tests of sdpg_warp.networks: shapes, bounds, running statistics against NumPy, input scaling and
the image normalizer."""

import math

import numpy as np
import pytest
import torch

from sdpg_warp.networks import Actor, Critic, ImageEncoder, RunningMeanStd, mlp

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
    assert mean.abs().max() <= 2.0


def test_mlp_heads_follow_the_authors_layout():
    # Linear -> ELU -> LayerNorm per hidden layer, then a bare Linear; orthogonal gain sqrt(2) on
    # every layer, output included (W W^T = 2 I for a wide-to-narrow orthogonal matrix), zero biases.
    torch.manual_seed(0)
    net = mlp(12, (16, 8), 3)
    kinds = [type(layer).__name__ for layer in net]
    assert kinds == ["Linear", "ELU", "LayerNorm", "Linear", "ELU", "LayerNorm", "Linear"]
    for layer in net:
        if isinstance(layer, torch.nn.Linear):
            w = layer.weight.detach().double()
            small = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            torch.testing.assert_close(small, 2.0 * torch.eye(min(w.shape), dtype=torch.float64), atol=1e-5, rtol=0)
            assert torch.all(layer.bias == 0.0)
    actor = _actor("state", (5,), "cpu")
    critic = Critic(5, (8, 8))
    assert [type(layer).__name__ for layer in actor.head].count("LayerNorm") == 2
    assert [type(layer).__name__ for layer in critic.net].count("LayerNorm") == 2


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
    # DrQ-v2's fixed centring x / 255 - 0.5 (the authors').
    rgb = ImageEncoder("rgb", (3, 16, 16), encoder_dim=4, depth_max=10.0).to(device)
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8, device=device).repeat_interleave(256).reshape(3, 16, 16)
    expected = torch.tensor([-0.5, -0.3, 0.5], device=device).repeat_interleave(256).reshape(3, 16, 16)
    # 0 -> -0.5, 51 -> 0.2 - 0.5 = -0.3, 255 -> 0.5 (up to the normalizer's eps in the scale).
    torch.testing.assert_close(rgb.preprocess(pixels[None])[0], expected, rtol=1e-5, atol=1e-5)
    depth = ImageEncoder("depth", (5, 16, 16), encoder_dim=4, depth_max=10.0).to(device)
    metres = torch.tensor([0.0, 5.0, 10.0, 20.0, math.inf], device=device)[:, None, None].expand(5, 16, 16)
    # clamp(x, 0, 10) / 10 - 0.5: 0 -> -0.5, 5 -> 0, 10 and beyond (and misses, inf) -> 0.5.
    expected = torch.tensor([-0.5, 0.0, 0.5, 0.5, 0.5], device=device)[:, None, None].expand(5, 16, 16)
    torch.testing.assert_close(depth.preprocess(metres[None])[0], expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["rgb", "depth"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_encoder_makes_one_float_copy_of_the_images(device, kind, channels_last):
    # Before the first convolution, the only new image-sized float tensor is the one conversion
    # (the channels-last reorder happens on the uint8 images); the scaling is in place, bitwise
    # the same as x / 255 - 0.5, and never touches the caller's images.
    from torch.utils._python_dispatch import TorchDispatchMode

    shape = _obs_shape(kind, 16)
    encoder = ImageEncoder(kind, shape, encoder_dim=4, depth_max=10.0).to(device)
    if channels_last:
        encoder.use_channels_last()
    obs = _random_obs(kind, shape, 2, device)
    before = obs.clone()
    allocations = []

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if name == "convolution":
                allocations.append("conv")
            elif (not name.endswith("_") and isinstance(out, torch.Tensor) and out.is_floating_point()
                  and out.numel() == obs.numel() and "conv" not in allocations):
                allocations.append(name)
            return out

    with torch.no_grad(), Record():
        encoder(obs)
    assert len(allocations[:allocations.index("conv")]) == 1, allocations
    assert torch.equal(obs, before)
    x = encoder.preprocess(obs)
    expected = obs.float() / 255.0 - 0.5 if kind == "rgb" else obs.clamp(0.0, 10.0) / 10.0 - 0.5
    assert torch.equal(x, expected)


def test_image_actor_keeps_no_pixel_statistics(device):
    actor = _actor("rgb", (3, 16, 16), device)
    actor.update_normalizer(torch.zeros(2, 3, 16, 16, dtype=torch.uint8, device=device))  # a no-op
    assert not any("rms" in key for key in actor.state_dict())


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


def test_actor_mean_clamp_passes_gradient(device):
    # A mean saturated beyond its bound still gets the regression gradient toward a target inside
    # the bounds (straight-through clamp); with a plain clamp it would get none and stay stuck.
    torch.manual_seed(0)
    actor = _actor("state", (5,), device, mean_bound=1.5)
    with torch.no_grad():
        actor.head[-1].bias.copy_(torch.tensor([100.0, -100.0, 0.0]))
    mean, _ = actor(_random_obs("state", (5,), 4, device))
    target = torch.tensor([1.0, -1.5, 0.0], device=device).expand(4, 3)
    ((mean - target) ** 2).mean().backward()
    grad = actor.head[-1].bias.grad
    assert grad[0] > 0.0  # descent lowers the first mean toward 1.0
    assert grad[1] == 0.0  # at the bound and on target: nothing to do


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


def test_running_mean_std_does_not_clip_by_default(device):
    rms = RunningMeanStd((1,)).to(device)
    rms.update(torch.tensor([[0.0], [2.0]], device=device))  # mean 1, var 1
    out = rms.normalize(torch.tensor([[101.0]], device=device))
    torch.testing.assert_close(out, torch.tensor([[100.0 / math.sqrt(1.0 + 1e-5)]], device=device))


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


def test_critic_shape_and_normalization(device):
    torch.manual_seed(0)
    critic = Critic(5, (16, 16)).to(device)
    states = torch.randn(7, 5, device=device) * 50.0 + 10.0
    assert critic(states).shape == (7,)
    critic.update_normalizer(states)
    # After the update the network sees unit-scale inputs: (x - mean)/std of this batch.
    normalized = critic.obs_rms.normalize(states)
    torch.testing.assert_close(normalized.mean(0), torch.zeros(5, device=device), atol=1e-5, rtol=0)
