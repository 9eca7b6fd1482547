"""Visual randomization per nominal (the nominal renderer's draws): the draw kernel against a NumPy
reference, images that change per nominal and repeat by seed and reset count, physics untouched,
depth noise statistics, redraws on nominal resets only, exact resume, and the render Model's nominal
rows of per-world physics fields."""

import dataclasses

import numpy as np
import pytest
import torch

from sdpg_warp.kernels import visual as kernels
from sdpg_warp.randomization import Randomization, with_overrides
from sdpg_warp.render.nominal import NominalRenderer
from sdpg_warp.render.visual import VisualRandomizer
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task
from sdpg_warp.tasks.common import streams
from test_randomization import _Stream

N, M = 2, 3
G = M + 1
SIZE = 16
TASK = "pointmass"  # one light, one material, a fixed camera
VISUAL = Randomization(rgba_scale=(0.3, 1.5), light_pos=(-0.5, 0.5), light_diffuse_scale=(0.5, 1.5),
                       camera_pos=(-0.05, 0.05), camera_rot=(-0.1, 0.1), camera_fovy=(-5.0, 5.0),
                       depth_noise=(0.01, 0.05))
"""Every visual quantity drawn."""


def _sim(device, spec=VISUAL, seed=3):
    sim = BatchedSim(TASK, N, M, device=device, seed=seed, randomize=spec if spec is not None else False)
    sim.reset()
    return sim


def _same_state(sim):
    """Every world at world 0's state, so the nominals' images differ by their draws only."""
    sim.qpos.copy_(sim.qpos[:1].expand_as(sim.qpos))
    sim.qvel.zero_()


def _rotation(angles):
    cx, cy, cz = np.cos(angles).astype(np.float32)
    sx, sy, sz = np.sin(angles).astype(np.float32)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]], dtype=np.float32)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=np.float32)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]], dtype=np.float32)
    return rx @ ry @ rz


def _reference(spec, mjm, seed, nominal_world, count, camera_ids):
    """One render world's draw in NumPy, in the kernel's stream order."""
    rng = _Stream(seed + count * streams.RESET_STRIDE + streams.VISUAL_DRAW, nominal_world)
    r = spec.visual_ranges()
    f32 = lambda a: np.array(a, dtype=np.float32)  # noqa: E731
    out = {"geom_rgba": f32(mjm.geom_rgba), "mat_rgba": f32(mjm.mat_rgba), "light_diffuse": f32(mjm.light_diffuse),
           "cam_fovy": f32(mjm.cam_fovy), "light_offset": np.zeros((mjm.nlight, 3), np.float32),
           "cam_offset": np.zeros((mjm.ncam, 3), np.float32), "cam_rot": np.tile(np.eye(3, dtype=np.float32),
                                                                                 (mjm.ncam, 1, 1))}
    default = np.array([0.5, 0.5, 0.5, 1.0], np.float32)
    for table, rows in (("geom_rgba", [g for g in range(mjm.ngeom) if not (
            mjm.geom_matid[g] >= 0 and np.array_equal(out["geom_rgba"][g], default))]), ("mat_rgba", range(mjm.nmat))):
        for i in rows:
            factors = [rng.uniform(*r["rgba_scale"]) for _ in range(3)]
            out[table][i, :3] = np.clip(out[table][i, :3] * np.array(factors, np.float32), 0, 1)
    for light in range(mjm.nlight):
        out["light_offset"][light] = [rng.uniform(*r["light_pos"]) for _ in range(3)]
        out["light_diffuse"][light] *= rng.uniform(*r["light_diffuse_scale"])
    for cam in camera_ids:
        out["cam_offset"][cam] = [rng.uniform(*r["camera_pos"]) for _ in range(3)]
        out["cam_rot"][cam] = _rotation(np.array([rng.uniform(*r["camera_rot"]) for _ in range(3)], np.float32))
        out["cam_fovy"][cam] += rng.uniform(*r["camera_fovy"])
    out["depth_sigma"] = rng.uniform(*r["depth_noise"])
    return out


def _draws(renderer) -> dict:
    v = renderer._visual
    out = {name: array.numpy().copy() for name, array in v.fields.items()}
    out.update(light_offset=v.light_offset.numpy().copy(), cam_offset=v.cam_offset.numpy().copy(),
               cam_rot=v.cam_rot.numpy().copy(), depth_sigma=v.depth_sigma.numpy().copy())
    return out


def _assert_reference(renderer, n):
    sim = renderer.sim
    count = int(sim.reset_counts.numpy()[n * G])
    expected = _reference(VISUAL, sim.mjm, sim.seed, n * G, count, renderer.camera_ids)
    for name, values in _draws(renderer).items():
        np.testing.assert_allclose(values[n], expected[name], rtol=1e-6, atol=1e-6, err_msg=f"{name}, nominal {n}")


@pytest.fixture(scope="module")
def sim(device):
    return _sim(device)


def test_draw_matches_numpy_reference_and_differs_across_nominals(sim):
    r = NominalRenderer(sim, SIZE, SIZE, 1, visual=VISUAL)
    assert sorted(r._visual.fields) == ["cam_fovy", "geom_rgba", "light_diffuse", "mat_rgba"]
    for n in range(N):
        _assert_reference(r, n)
    for name, values in _draws(r).items():
        assert not np.array_equal(values[0], values[1]), f"{name}: two nominals drew the same"


def test_images_change_per_nominal_and_repeat_by_seed(device):
    sim = _sim(device)
    _same_state(sim)
    plain = NominalRenderer(sim, SIZE, SIZE, 1).render().clone()
    torch.testing.assert_close(plain[0], plain[1], rtol=0, atol=0)
    seen = NominalRenderer(sim, SIZE, SIZE, 1, visual=VISUAL).render().clone()
    assert not torch.equal(seen, plain), "the visual draws changed no image"
    assert not torch.equal(seen[0], seen[1]), "two nominals in one state saw the same image"
    again = NominalRenderer(sim, SIZE, SIZE, 1, visual=VISUAL, graph=True).render_step().clone()
    assert torch.equal(seen, again), "the same seed and reset counts drew another image"
    other = _sim(device, seed=4)
    other.qpos.copy_(sim.qpos)
    other_seen = NominalRenderer(other, SIZE, SIZE, 1, visual=VISUAL).render().clone()
    assert not torch.equal(seen, other_seen), "another seed drew the same image"


def test_physics_is_bit_identical_with_visual_randomization(device):
    runs = []
    for spec in (VISUAL, None):
        sim = _sim(device, spec)
        rng = np.random.default_rng(0)
        actions = [torch.tensor(rng.uniform(-1, 1, (N * G, sim.num_actions)).astype(np.float32)) for _ in range(5)]
        renderer = NominalRenderer(sim, SIZE, SIZE, 1, visual=spec)
        for a in actions:
            sim.step(a.to(sim.qpos.device))
            sim.reset_done_episodes()
            renderer.render_step()
        runs.append(sim.qpos.cpu().numpy().copy())
    np.testing.assert_array_equal(runs[0], runs[1])


def test_depth_noise_statistics(device):
    sim = _sim(device)
    sigma = 0.03
    noisy_spec = Randomization(depth_noise=(sigma, sigma))
    clean = NominalRenderer(sim, 32, 32, 1, "depth").render().clone()
    noisy = NominalRenderer(sim, 32, 32, 1, "depth", visual=noisy_spec).render().clone()
    diff = (noisy - clean).cpu().numpy().ravel()
    assert abs(diff.mean()) < 4 * sigma / np.sqrt(diff.size)
    assert abs(diff.std() - sigma) < 0.1 * sigma
    none = NominalRenderer(sim, 32, 32, 1, "depth", visual=Randomization(depth_noise=(0.0, 0.0))).render()
    torch.testing.assert_close(none, clean, rtol=0, atol=0)
    # A drawn standard deviation lies in its range, one per nominal.
    r = NominalRenderer(sim, SIZE, SIZE, 1, "depth", visual=VISUAL)
    drawn = r._visual.depth_sigma.numpy()
    assert np.all((drawn >= 0.01) & (drawn <= 0.05)) and drawn[0] != drawn[1]
    # The noise is new at every frame: a step moves the key even where the scene stays put.
    far = NominalRenderer(sim, 32, 32, 2, "depth", visual=noisy_spec, depth_far=100.0)
    first = far.render().clone()
    sim.episode_step.add_(1)
    second = far.render().clone()
    assert not torch.equal(first[:, 1], second[:, 1])


def test_redraw_on_nominal_reset_only(device):
    sim = _sim(device)
    r = NominalRenderer(sim, SIZE, SIZE, 1, visual=VISUAL)
    before = _draws(r)
    sim.step(torch.zeros(N * G, sim.num_actions, device=sim.qpos.device))
    aux_only = torch.zeros(N * G, dtype=torch.bool, device=sim.qpos.device)
    aux_only[1:G] = True
    sim.reset(aux_only)
    r.render()
    for name, values in _draws(r).items():
        np.testing.assert_array_equal(values, before[name], err_msg=f"{name}: an auxiliary reset redrew")
    sim.truncated.zero_()
    sim.terminated.zero_()
    sim.truncated[G] = True
    sim.reset_done_episodes()
    r.render_step()
    after = _draws(r)
    for name, values in after.items():
        np.testing.assert_array_equal(values[0], before[name][0], err_msg=f"{name}: nominal 0 redrew")
        assert not np.array_equal(values[1], before[name][1]), f"{name}: nominal 1 kept its draw"
    _assert_reference(r, 1)


def test_exact_resume_with_visual_randomization(device):
    sim = _sim(device)
    rng = np.random.default_rng(1)
    actions = [torch.tensor(rng.uniform(-1, 1, (N * G, sim.num_actions)).astype(np.float32), device=sim.qpos.device)
               for _ in range(6)]
    sim.truncated.zero_()
    sim.truncated[0] = True
    sim.reset_done_episodes()  # nominal 0 at its second episode
    saved = sim.state_dict()

    def run():
        renderer = NominalRenderer(sim, SIZE, SIZE, 2, "depth", visual=VISUAL)
        frames = []
        for i, a in enumerate(actions):
            sim.step(a)
            if i == 2:
                sim.truncated[G] = True
            sim.reset_done_episodes()
            frames.append(renderer.render_step().cpu().numpy().copy())
        return frames

    first = run()
    sim.load_state_dict(saved)
    second = run()
    for i, (a, b) in enumerate(zip(first, second)):
        np.testing.assert_array_equal(a, b, err_msg=f"frame {i}")


def test_render_model_reads_the_nominal_rows_of_per_world_physics(device):
    """hopper's ``track`` camera follows the subtree centre of mass: with randomized masses render
    world n must read nominal n's (world n*(M+1)) masses, not world n's."""
    spec = Randomization(body="torso", added_mass=(-0.5, 2.0), com_offset=(-0.05, 0.05))
    sim = BatchedSim("hopper", N, M, device=device, seed=2, randomize=spec)
    sim.reset()
    r = NominalRenderer(sim, SIZE, SIZE, 1)
    for name in ("body_mass", "body_ipos", "body_subtreemass"):
        rows = getattr(r._model, name).numpy()
        np.testing.assert_array_equal(rows, sim.world_values(name).cpu().numpy()[::G], err_msg=name)
        assert not np.array_equal(rows[1], sim.world_values(name).cpu().numpy()[1]), name
    sim.truncated.zero_()
    sim.truncated[G] = True
    sim.reset_done_episodes()
    r.render_step()
    np.testing.assert_array_equal(r._model.body_mass.numpy(), sim.world_values("body_mass").cpu().numpy()[::G])


def test_visual_spec_checks():
    spec = with_overrides(None, ["camera_rot=-0.1,0.1", "rgba_scale=0.5,1.5", "depth_noise=none"])
    assert spec.camera_rot == (-0.1, 0.1) and spec.rgba_scale == (0.5, 1.5) and spec.depth_noise is None
    assert spec.visual_ranges() == {"rgba_scale": (0.5, 1.5), "camera_rot": (-0.1, 0.1)}
    assert spec.physics_ranges() == {} and not spec.empty
    assert with_overrides(None, ["camera_pos=0.1,-0.1"]).problems() == ["randomization camera_pos=(0.1, -0.1): "
                                                                        "min above max"]
    assert with_overrides(None, ["depth_noise=-0.1,0.1"]).problems() == ["randomization depth_noise=(-0.1, 0.1): "
                                                                         "must be >= 0"]
    assert with_overrides(None, ["rgba_scale=-1,1"]).problems()
    assert dataclasses.replace(spec, light_diffuse_scale=(-1.0, 1.0)).problems()
    with pytest.raises(ValueError, match="field of view"):
        VisualRandomizer(Randomization(camera_fovy=(-500.0, 0.0)), make_task(TASK).mj_model(), None, 1, 1, [0], 0,
                         "cpu")


def test_camera_and_light_moves_match_numpy_reference(sim):
    """After the kinematics, camera c of render world n sits at p + R o and turns to R Q (p, R its
    undrawn pose, o and Q its draw), and light l at its position plus its drawn offset."""
    plain = NominalRenderer(sim, SIZE, SIZE, 1)
    drawn = NominalRenderer(sim, SIZE, SIZE, 1, visual=VISUAL)
    plain.render()
    drawn.render()
    draws = _draws(drawn)
    pos, mat = plain._data.cam_xpos.numpy(), plain._data.cam_xmat.numpy()
    expected_pos = pos + np.einsum("ncij,ncj->nci", mat, draws["cam_offset"])
    expected_mat = np.einsum("ncij,ncjk->ncik", mat, draws["cam_rot"])
    np.testing.assert_allclose(drawn._data.cam_xpos.numpy(), expected_pos, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(drawn._data.cam_xmat.numpy(), expected_mat, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(drawn._data.light_xpos.numpy(), plain._data.light_xpos.numpy() + draws["light_offset"],
                               rtol=1e-6, atol=1e-6)
    assert not np.allclose(drawn._data.cam_xpos.numpy(), pos)
