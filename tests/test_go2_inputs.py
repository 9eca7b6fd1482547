"""The inputs the authors give the Go2 actor: a non-square depth frame cropped, resampled, clipped and
mapped to [-0.5, 0.5] (against mj_ray and Torch's bicubic ``interpolate``), a history of
proprioception in the rollout state (against its NumPy twin, across a constructed reset; restored
by a checkpoint for an exact resume), the small depth encoder, go2_terrain's defaults and the ONNX
export of its actor.

The renderer tests use the hopper's chase camera (a cheap model); the history tests walker_hurdle,
the cheapest ego-centric task; only the export builds go2_terrain, in C MuJoCo.
"""

import dataclasses

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import export
from sdpg_warp.config import task_defaults
from sdpg_warp.networks import Actor, SmallDepthEncoder
from sdpg_warp.render import NominalRenderer
from sdpg_warp.render.ego import ProprioImageObservation, np_push_proprio, unpack
from sdpg_warp.runner import Runner
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task
from helpers import DEPTH_ATOL, DEPTH_RTOL, GEOM_GROUPS, MAX_EDGE_FRACTION, random_qpos, set_worlds, stand_in

HEIGHT, WIDTH = 20, 30
"""A non-square render (the Go2's is 60 x 106)."""
CROP = (1, 2, 3, 4)
"""(top, bottom, left, right): 17 x 23 left."""
RESAMPLED = (16, 19)


@pytest.fixture(scope="module")
def hopper(device):
    """A stand-in simulator of the hopper (2 nominal worlds; tests/test_render.py)."""
    return stand_in(make_task("hopper").mj_model(), device)


def _reference_depth(mjm, qpos, camera_id: int, height: int, width: int) -> np.ndarray:
    """C MuJoCo z-depth [height, width] of the camera's pixel-centre rays (mj_ray), inf for misses:
    a vertical field of view fovy, the horizontal one wider by width / height, row 0 at the top."""
    mjd = mujoco.MjData(mjm)
    mjd.qpos[:] = qpos
    mujoco.mj_forward(mjm, mjd)
    half_height = np.tan(np.deg2rad(mjm.cam_fovy[camera_id]) / 2)
    half_width = half_height * width / height
    x = (2 * (np.arange(width) + 0.5) / width - 1) * half_width
    y = (1 - 2 * (np.arange(height) + 0.5) / height) * half_height
    depth = np.empty((height, width))
    geomid = np.zeros(1, dtype=np.int32)
    for row in range(height):
        for col in range(width):
            local = np.array([x[col], y[row], -1.0])
            local /= np.linalg.norm(local)
            dist = mujoco.mj_ray(mjm, mjd, mjd.cam_xpos[camera_id], mjd.cam_xmat[camera_id].reshape(3, 3) @ local,
                                 GEOM_GROUPS, 1, -1, geomid)
            depth[row, col] = dist * -local[2] if dist >= 0 else np.inf
    return depth


def test_non_square_cropped_depth_matches_mj_ray(hopper):
    """Rendered at 20 x 30, cut to 17 x 23, clipped at `far` and mapped to [-0.5, 0.5]: each pixel is
    its mj_ray's depth so formatted."""
    mjm = hopper.mjm
    qpos = random_qpos(mjm, np.random.default_rng(1), 2)
    raw = NominalRenderer(hopper, WIDTH, HEIGHT, 1, "depth")
    set_worlds(raw, qpos)
    metres = raw.render()[:, -1].cpu().numpy()
    assert metres.shape == (2, HEIGHT, WIDTH)
    far = float(np.median(metres))
    r = NominalRenderer(hopper, WIDTH, HEIGHT, 2, "depth", image_crop=CROP, depth_far=far)
    image = r.render()[:, -1].cpu().numpy()
    assert image.shape == (2, HEIGHT - 3, WIDTH - 7) and r.stack.shape == (2, 2, HEIGHT - 3, WIDTH - 7)
    top, bottom, left, right = CROP
    for n in range(2):
        depth = _reference_depth(mjm, qpos[n], r.camera_ids[0], HEIGHT, WIDTH)[top:HEIGHT - bottom, left:WIDTH - right]
        expected = np.minimum(depth, far) / far - 0.5  # a miss (inf) reads far: +0.5
        bad = np.abs(image[n] - expected) > (DEPTH_ATOL + DEPTH_RTOL * np.minimum(depth, far)) / far
        assert bad.mean() <= MAX_EDGE_FRACTION, f"nominal {n}: {bad.sum()} pixels differ"
        assert (expected < 0.5).any() and (expected == 0.5).any(), "both kept and clipped pixels are tested"
    assert image.min() >= -0.5 and image.max() <= 0.5


def test_resampled_depth_is_torch_bicubic_of_the_crop(hopper):
    """The crop resampled to 16 x 19 equals Torch's bicubic interpolate (align_corners False) of
    the crop, clipped and mapped first, as the authors' pipeline; a resample to the cropped size copies."""
    qpos = random_qpos(hopper.mjm, np.random.default_rng(2), 2)
    far = 3.0
    crop = NominalRenderer(hopper, WIDTH, HEIGHT, 1, "depth", image_crop=CROP, depth_far=far)
    set_worlds(crop, qpos)
    cropped = crop.render().clone()
    resampled = NominalRenderer(hopper, WIDTH, HEIGHT, 1, "depth", image_crop=CROP, image_hw=RESAMPLED,
                                depth_far=far).render()
    expected = torch.nn.functional.interpolate(cropped.cpu(), size=RESAMPLED, mode="bicubic", align_corners=False)
    assert resampled.shape == (2, 1, *RESAMPLED)
    torch.testing.assert_close(resampled.cpu(), expected, rtol=0, atol=2e-6)
    # Upsampling too (the taps clamp at the borders as Torch's).
    up = NominalRenderer(hopper, WIDTH, HEIGHT, 1, "depth", image_crop=CROP, image_hw=(21, 29), depth_far=far).render()
    expected = torch.nn.functional.interpolate(cropped.cpu(), size=(21, 29), mode="bicubic", align_corners=False)
    torch.testing.assert_close(up.cpu(), expected, rtol=0, atol=2e-6)
    same = NominalRenderer(hopper, WIDTH, HEIGHT, 1, "depth", image_crop=CROP, image_hw=(17, 23), depth_far=far)
    assert torch.equal(same.render(), cropped)


@pytest.mark.parametrize("kwargs, message", [
    (dict(modality="rgb", image_crop=(0, 0, 1, 1)), "depth images only"),
    (dict(image_crop=(10, 10, 0, 0)), "image_crop"),
    (dict(image_crop=(0, 1, 2)), "image_crop"),
    (dict(image_hw=(0, 5)), "image_hw"),
    (dict(depth_far=0.0), "depth_far"),
])
def test_bad_formats_raise(hopper, kwargs, message):
    args = dict(width=WIDTH, height=HEIGHT, frames=1, modality="depth") | kwargs
    with pytest.raises(ValueError, match=message):
        NominalRenderer(hopper, **args)


# ------------------------------------------------------------------------- proprioception history


@pytest.fixture(scope="module")
def walker(device):
    sim = BatchedSim("walker_hurdle", 2, 1, device=device, seed=0)
    sim.reset()
    return sim


def test_history_shifts_and_restarts_with_the_episode(walker):
    """Over 5 steps, with nominal 1's episode ended by hand after step 2: the history is its NumPy
    twin's (oldest first, current last; zeros before a new episode's first step), and the packed row
    carries it."""
    sim = walker
    renderer = NominalRenderer(sim, 16, 16, 1, "depth", camera=sim.task.camera)
    obs = ProprioImageObservation(sim, renderer, proprio_history=3)
    p = sim.task.proprio_dim
    assert obs.history.shape == (2, 3, p) and not obs.history.any()
    reference = np.zeros((2, 3, p), dtype=np.float32)
    gen = torch.Generator().manual_seed(0)
    for step in range(5):
        reference = np_push_proprio(reference, sim.states.cpu().numpy(), sim.group_size, sim.fresh.cpu().numpy())
        packed = obs.render_step()
        np.testing.assert_array_equal(obs.history.cpu().numpy(), reference)
        _, proprio = unpack(packed, obs.image_shape, 3 * p)
        assert torch.equal(proprio, obs.history.flatten(1))
        if step == 3:  # the step after the constructed reset: nominal 1 restarted
            assert not reference[1, :2].any() and reference[1, 2].any() and reference[0, :2].any()
        sim.step(torch.rand(sim.num_worlds, sim.num_actions, generator=gen).to(sim.action.device) * 2 - 1)
        if step == 2:
            sim.terminated[sim.world_index(1, 0)] = True
        sim.reset_done_episodes()


def test_np_push_proprio_by_hand():
    # history [[1], [2]] then state 3: [[2], [3]]; a fresh nominal: [[0], [3]].
    history = np.array([[[1.0], [2.0]], [[1.0], [2.0]]])
    states = np.array([[3.0, 9.0], [7.0, 7.0], [3.0, 9.0], [7.0, 7.0]])
    out = np_push_proprio(history, states, 2, np.array([False, False, True, False]))
    np.testing.assert_array_equal(out, [[[2.0], [3.0]], [[0.0], [3.0]]])


def _tiny(device, **overrides):
    cfg = task_defaults("walker_hurdle", "depth")
    return dataclasses.replace(cfg, device=device, num_nominal=2, num_aux=1, horizon=3, image_size=16, frames=1,
                               encoder_dim=8, proprio_hidden=(8,), actor_hidden=(8,), critic_hidden=(8,),
                               critic_minibatch=8, epochs=2, proprio_history=4, **overrides)


def test_checkpoint_restores_the_history_for_an_exact_resume(device, tmp_path):
    cfg = _tiny(device)
    straight = Runner(cfg)
    straight.train()
    first = Runner(dataclasses.replace(cfg, epochs=1))
    first.train()
    path = str(tmp_path / "checkpoint.pt")
    first.save(path)
    history = first.renderer.history.clone()
    assert history[:, :-1].any(), "older steps are in the history"
    resumed = Runner(cfg)
    assert not resumed.renderer.history.any()
    resumed.load(path)
    assert torch.equal(resumed.renderer.history, history)
    resumed.train()
    assert torch.equal(resumed.renderer.history, straight.renderer.history)
    for key, value in straight.algo.actor.state_dict().items():
        assert torch.equal(value, resumed.algo.actor.state_dict()[key]), key
    with pytest.raises(ValueError, match="proprio_history"):
        Runner(dataclasses.replace(cfg, proprio_history=2)).load(path)


# ------------------------------------------------------------------------------ encoder, defaults


def test_small_depth_encoder_is_the_authors_layout(device):
    # 1 x 58 x 87 -> conv 5x5: 54 x 83 -> pool: 27 x 41 -> conv 3x3: 25 x 39, 64 channels (62,400).
    encoder = SmallDepthEncoder("depth", (1, 58, 87), 32, depth_max=None).to(device)
    kinds = [type(layer).__name__ for layer in (*encoder.convs, *encoder.trunk)]
    assert kinds == ["Conv2d", "MaxPool2d", "ELU", "Conv2d", "ELU", "Flatten", "Linear", "ELU", "Linear", "Tanh"]
    assert encoder.trunk[0].in_features == 64 * 25 * 39 and encoder.trunk[0].out_features == 128
    images = torch.rand(3, 1, 58, 87, device=device) - 0.5
    features = encoder(images)
    assert features.shape == (3, 32) and features.abs().max() < 1.0
    assert torch.equal(encoder.preprocess(images), images), "depth in [-0.5, 0.5] enters as it is"
    with pytest.raises(ValueError, match="depth"):
        SmallDepthEncoder("rgb", (3, 58, 87), 32)
    two = Actor("depth", (2, 20, 24), 4, (16, 8), (8,), 0.0, 2.0, -5.0, 2.0, encoder="depth_small")
    assert [type(e).__name__ for e in two.encoder.cameras] == ["SmallDepthEncoder"] * 2
    assert two(torch.rand(5, 2, 20, 24))[0].shape == (5, 4)


def test_go2_defaults_follow_the_authors_actor_inputs():
    depth = task_defaults("go2_terrain", "depth")
    assert (depth.frames, depth.render_hw, depth.image_crop, depth.image_hw) == (1, (60, 106), (0, 2, 4, 4), (58, 87))
    assert (depth.depth_far, depth.encoder, depth.encoder_dim, depth.proprio_history) == (2.0, "depth_small", 32, 20)
    assert depth.actor_obs_shape(129, 45) == (58 * 87 + 20 * 45,)
    assert task_defaults("go2_terrain", "rgb").proprio_history == 20
    state = task_defaults("go2_terrain", "state")
    assert (state.proprio_history, state.encoder, state.depth_far, state.render_hw) == (1, "drqv2", None, ())
    for cfg in (depth, state):
        cfg.validate()
    walker = task_defaults("walker_hurdle", "depth")
    assert (walker.proprio_history, walker.encoder, walker.image_hw) == (1, "drqv2", ())


@pytest.mark.parametrize("overrides, message", [
    (dict(obs="rgb", image_hw=(), image_crop=(0, 0, 1, 1), depth_far=None), "format depth images"),
    (dict(obs="rgb", image_hw=(), image_crop=(), depth_far=None), "depth_small takes depth"),
    (dict(obs="state", proprio_history=2), "proprio-history"),
    (dict(task="hopper", proprio_history=2), "no proprioception"),
    (dict(image_crop=(30, 30, 0, 0)), "leaves nothing"),
    (dict(image_hw=(8, 87)), ">= 16 pixels"),
    (dict(depth_far=float("nan")), "depth-far"),
    (dict(render_hw=(60,)), "render-hw"),
])
def test_bad_image_settings_are_one_line_errors(overrides, message):
    cfg = dataclasses.replace(task_defaults("go2_terrain", "depth"), **overrides)
    with pytest.raises(ValueError, match=message):
        cfg.validate()


# ----------------------------------------------------------------------------------------- export


@pytest.mark.task("go2_terrain")
def test_onnx_export_of_a_go2_depth_actor_matches_torch(tmp_path):
    """The exported go2 depth actor takes images [B, 1, 58, 87] and proprio_history [B, 20, 45] and
    gives the Torch actor's actions on the packed rows those make."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="the README's install (.[test]) brings onnxruntime")
    cfg = task_defaults("go2_terrain", "depth")
    torch.manual_seed(0)
    actor = Actor.from_config(cfg, cfg.actor_obs_shape(129, 45), 12, 45)
    gen = torch.Generator().manual_seed(1)
    actor.update_normalizer(torch.randn(64, cfg.actor_obs_shape(129, 45)[0], generator=gen) * 3.0 + 1.0)
    state = {"version": 2, "config": dataclasses.asdict(cfg), "epoch": 1, "algo": {"actor": actor.state_dict()},
             "sim": {}, "frame_stack": None, "episodes": {}, "torch_rng": torch.get_rng_state()}
    torch.save(state, tmp_path / "checkpoint.pt")
    assert export.main([str(tmp_path), "--out", str(tmp_path / "go2.onnx")]) == 0
    policy, (images, history), names = export.load_policy(str(tmp_path))
    assert names == ("images", "proprio_history")
    assert images.shape == (1, 1, 58, 87) and history.shape == (1, 20, 45)
    images = torch.rand(4, 1, 58, 87, generator=gen) - 0.5
    history = torch.randn(4, 20, 45, generator=gen)
    session = onnxruntime.InferenceSession(str(tmp_path / "go2.onnx"))
    actions = session.run(None, {"images": images.numpy(), "proprio_history": history.numpy()})[0]
    with torch.no_grad():
        expected = torch.tanh(actor(torch.cat([images.flatten(1), history.flatten(1)], dim=1))[0]).numpy()
    np.testing.assert_allclose(actions, expected, atol=1e-5)
