"""NominalRenderer: depth against C MuJoCo's mj_ray, RGB foreground, world selection, frame stack.

The simulator stand-in has exactly the attributes the renderer reads from ``BatchedSim`` (so these
tests need no physics); every renderer of a (task, modality, colouring) is built once per module.
"""

import types

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp.render import NominalRenderer
from sdpg_warp.tasks import make_task, task_names
from helpers import DEPTH_ATOL, DEPTH_RTOL, MAX_EDGE_FRACTION, random_qpos, reference_rays, set_worlds, stand_in

SIZE = 32
NUM_NOMINAL = 2
NUM_AUX = 2


def _recoloured(mjm: mujoco.MjModel, rgba) -> mujoco.MjModel:
    """The model with every robot geom (any body but the world) in one flat colour."""
    robot = mjm.geom_bodyid > 0
    mjm.geom_rgba[robot] = rgba
    mjm.geom_matid[robot] = -1
    return mjm


@pytest.fixture(scope="module")
def renderer(device):
    """``renderer(task, modality, colour=None)``: a cached NominalRenderer on a fresh stand-in sim."""
    cache = {}

    def get(task: str, modality: str, colour=None) -> NominalRenderer:
        key = (task, modality, colour)
        if key not in cache:
            mjm = make_task(task).mj_model()
            if colour is not None:
                mjm = _recoloured(mjm, colour)
            sim = stand_in(mjm, device)
            cache[key] = NominalRenderer(sim, width=SIZE, height=SIZE, frames=3, modality=modality)
        return cache[key]

    return get


def _edge_ring(mask: np.ndarray) -> np.ndarray:
    """Pixels within one pixel (8-neighbourhood) of the mask's boundary."""
    padded = np.pad(mask, 1, mode="edge")
    rows, cols = mask.shape
    shifts = [padded[1 + dy : 1 + dy + rows, 1 + dx : 1 + dx + cols] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.any(shifts, axis=0) & ~np.all(shifts, axis=0)


# ------------------------------------------------------------------------------------ construction


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(width=0), "width"),
        (dict(height=-1), "height"),
        (dict(frames=0), "frames"),
        (dict(width=8.5), "width"),
        (dict(modality="gray"), "modality"),
        (dict(camera="nope"), "camera"),
    ],
)
def test_invalid_arguments_raise(device, kwargs, message):
    sim = stand_in(make_task("pointmass").mj_model(), device)
    with pytest.raises(ValueError, match=message):
        NominalRenderer(sim, **kwargs)


# --------------------------------------------------------------------------- images vs C MuJoCo


@pytest.mark.parametrize("task", task_names())
def test_depth_matches_mj_ray(renderer, task):
    r = renderer(task, "depth")
    mjm = r.sim.mjm
    rng = np.random.default_rng(0)
    for _ in range(2):
        qpos = random_qpos(mjm, rng, NUM_NOMINAL)
        set_worlds(r, qpos, aux_qpos=random_qpos(mjm, rng, NUM_NOMINAL * NUM_AUX, scale=1.0))
        depth = r.render()[:, -1].cpu().numpy()
        for n in range(NUM_NOMINAL):
            expected, _ = reference_rays(mjm, qpos[n], r.camera_ids[0], SIZE)
            expected = np.minimum(expected, r.zfar)  # misses and hits past the far plane read zfar
            bad = np.abs(depth[n] - expected) > DEPTH_ATOL + DEPTH_RTOL * expected
            assert bad.mean() <= MAX_EDGE_FRACTION, f"{task} nominal {n}: {bad.sum()} pixels differ"
            assert np.isfinite(depth[n]).all() and (depth[n] > 0).all()


@pytest.mark.parametrize("task", task_names())
def test_rgb_foreground_is_where_rays_hit_the_robot(renderer, task):
    """Recolouring the robot changes exactly the pixels whose mj_ray hits a robot geom."""
    red = renderer(task, "rgb", colour=(1.0, 0.0, 0.0, 1.0))
    green = renderer(task, "rgb", colour=(0.0, 1.0, 0.0, 1.0))
    mjm = red.sim.mjm
    qpos = random_qpos(mjm, np.random.default_rng(1), NUM_NOMINAL)
    set_worlds(red, qpos)
    set_worlds(green, qpos)
    red_rgb = red.render()[:, -3:].cpu().numpy().astype(int)
    green_rgb = green.render()[:, -3:].cpu().numpy().astype(int)
    for n in range(NUM_NOMINAL):
        rendered = np.any(red_rgb[n] != green_rgb[n], axis=0)
        _, geom = reference_rays(mjm, qpos[n], red.camera_ids[0], SIZE)
        expected = (geom >= 0) & (mjm.geom_bodyid[np.maximum(geom, 0)] > 0)
        assert expected.sum() >= 1, f"{task}: the track camera does not see the robot"
        wrong = rendered != expected
        assert not np.any(wrong & ~_edge_ring(expected)), f"{task} nominal {n}: foreground differs off the edges"
        assert wrong.mean() <= MAX_EDGE_FRACTION
        # Channel order: the red robot is red where it is seen.
        inside = expected & rendered
        assert np.all(red_rgb[n, 0][inside] > red_rgb[n, 1][inside])
        assert np.all(green_rgb[n, 1][inside] > green_rgb[n, 0][inside])


# ---------------------------------------------------------------------------------- world choice


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_only_nominal_worlds_are_rendered(renderer, modality):
    r = renderer("pointmass", modality)
    rng = np.random.default_rng(2)
    qpos = random_qpos(r.sim.mjm, rng, NUM_NOMINAL)
    set_worlds(r, qpos)
    same = _frames(r.render(), modality)[:, -1].clone()
    set_worlds(r, qpos, aux_qpos=random_qpos(r.sim.mjm, rng, NUM_NOMINAL * NUM_AUX))
    assert torch.equal(_frames(r.render(), modality)[:, -1], same)
    # ... while each nominal sees its own world.
    assert not torch.equal(same[0], same[1])


# ----------------------------------------------------------------------------------- frame stack


def _frames(obs: torch.Tensor, modality: str) -> torch.Tensor:
    """[N, F, C, H, W] view of a stack."""
    channels = 3 if modality == "rgb" else 1
    return obs.reshape(obs.shape[0], -1, channels, *obs.shape[2:])


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_stack_order_and_reset(renderer, modality):
    r = renderer("pointmass", modality)
    poses = random_qpos(r.sim.mjm, np.random.default_rng(3), 5 * NUM_NOMINAL).reshape(5, NUM_NOMINAL, -1)
    everyone = torch.ones(NUM_NOMINAL, dtype=torch.bool)
    # The frame of each pose on its own: a reset fills all F slots with it.
    single = []
    for pose in poses:
        set_worlds(r, pose)
        frames = _frames(r.reset(everyone), modality)
        assert torch.equal(frames, frames[:, -1:].expand_as(frames))
        single.append(frames[:, -1].clone())
    for a in range(len(poses)):
        for b in range(a):
            assert not torch.equal(single[a], single[b]), "different poses gave the same image"

    set_worlds(r, poses[0])
    r.reset(everyone)
    for pose in poses[1:4]:
        set_worlds(r, pose)
        obs = r.render()
    frames = _frames(obs, modality)
    for slot, pose_index in enumerate((1, 2, 3)):  # oldest first, newest last
        assert torch.equal(frames[:, slot], single[pose_index])

    # reset refills only the masked nominals; [W] masks use the nominal entries only.
    set_worlds(r, poses[4])
    before = frames.clone()
    world_mask = torch.zeros(r.sim.num_worlds, dtype=torch.bool)
    world_mask[1:] = True  # every auxiliary entry, and nominal 1's entry
    frames = _frames(r.reset(world_mask), modality)
    assert torch.equal(frames[0], before[0])
    assert torch.equal(frames[1], single[4][1].unsqueeze(0).expand_as(frames[1]))

    # render(reset_mask=...) refills the masked nominals and pushes the frame for the others.
    set_worlds(r, poses[1])
    frames = _frames(r.render(reset_mask=torch.tensor([True, False])), modality)
    assert torch.equal(frames[0], single[1][0].unsqueeze(0).expand_as(frames[0]))
    assert torch.equal(frames[1], torch.stack([single[4][1], single[4][1], single[1][1]]))


def test_reset_rejects_a_mask_of_the_wrong_size(renderer):
    r = renderer("pointmass", "rgb")
    with pytest.raises(ValueError, match="mask"):
        r.reset(torch.ones(NUM_NOMINAL + 1, dtype=torch.bool))


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_stack_is_a_zero_copy_view(renderer, modality):
    r = renderer("pointmass", modality)
    obs = r.render()
    assert obs is r.render()
    assert obs.data_ptr() == r.stack.ptr
    expected_shape = (NUM_NOMINAL, 3 * 3 if modality == "rgb" else 3, SIZE, SIZE)
    assert tuple(obs.shape) == expected_shape
    assert obs.dtype == (torch.uint8 if modality == "rgb" else torch.float32)
    r.stack.fill_(7)  # a Warp write is seen through the Torch tensor...
    assert torch.all(obs == 7)
    obs[0, 0, 0, 0] = 3  # ... and a Torch write through the Warp array
    assert r.stack.numpy()[0, 0, 0, 0] == 3
    r.reset(torch.ones(NUM_NOMINAL, dtype=torch.bool))


def test_with_batched_sim(device):
    """The real simulator: a [W] termination mask refills the reset nominals after a step."""
    sim_module = pytest.importorskip("sdpg_warp.sim")
    sim = sim_module.BatchedSim("pointmass", num_nominal=NUM_NOMINAL, num_aux=1, device=device, seed=0)
    sim.reset()
    r = NominalRenderer(sim, width=16, height=16, frames=2)
    first = r.render().clone()
    sim.action.fill_(1.0)
    for _ in range(3):
        _, terminated, truncated = sim.step()
        obs = r.render(reset_mask=terminated | truncated)
    assert not torch.equal(obs[:, -3:], first[:, -3:]), "the pushed frame did not follow the moving mass"
