"""BatchedSim against C MuJoCo, plus world-layout, reset and health-check semantics."""

import mujoco
import numpy as np
import pytest
import torch
import warp as wp

from conftest import assert_same_physics
from sdpg_warp.kernels import reset as reset_kernels
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task, task_names
from sdpg_warp.tasks.in_hand import InHandTask
from helpers import contact_depths_agree

N, M = 2, 3


@pytest.fixture(scope="module")
def sims(device):
    """One BatchedSim per (task, episode_length) for the module: model builds are the slow part."""
    cache = {}

    def get(task, seed=0, **overrides):
        key = (task, seed, tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = BatchedSim(make_task(task, **overrides), N, M, device=device, seed=seed,
                                    deterministic=device != "cpu")
        sim = cache[key]
        sim.reset()
        return sim

    return get


def _random_actions(sim, rng, scale=1.0):
    a = rng.uniform(-scale, scale, size=(sim.num_worlds, sim.num_actions)).astype(np.float32)
    return torch.tensor(a, device=sim.qpos.device)


@pytest.mark.parametrize("task", task_names())
def test_step_matches_c_mujoco(sims, task):
    """20 successive steps with random controls, each from the same state in both simulators.

    Each step starts C MuJoCo (float64) from mujoco_warp's (float32) state, warm start included, so
    the check is on every step's dynamics rather than on how fast two chaotic rollouts drift apart.
    Contact impacts are where float32 and float64 solvers differ most, hence the velocity tolerance
    relative to the velocity scale.

    Contact-rich scenes (a heightfield; a cube among fingers) are compared one physics step per
    step: there float32 and float64 part within a few physics steps. mujoco_warp also picks a
    heightfield's or a box pair's contacts differently from C MuJoCo (at most 4 per heightfield pair,
    its own selection), so a step now and then has a contact one engine finds and the other lacks.
    Such steps are not compared (with one physics step, the contacts compared are those that drove
    the step); at least 3 of 4 steps must have the same contact depths in both, so a systematic
    difference (e.g. in how margins enter the contact distance) still fails.
    """
    sim = sims(task)
    contact_rich = bool(sim.mjm.nhfield) or isinstance(sim.task, InHandTask)
    if contact_rich:
        sim = sims(task, frame_skip=1)
    rng = np.random.default_rng(1)
    mjm = sim.mjm
    mjd = mujoco.MjData(mjm)
    w = sim.world_index(1, 2)
    lo, hi = sim.mjm.actuator_ctrlrange.T
    compared = stepped = 0
    for _ in range(20):
        mjd.qpos[:] = sim.qpos[w].cpu().numpy()
        mjd.qvel[:] = sim.qvel[w].cpu().numpy()
        mjd.qacc_warmstart[:] = sim.d.qacc_warmstart.numpy()[w]
        actions = _random_actions(sim, rng)
        sim.step(actions)
        if sim.terminated[w] or sim.truncated[w]:
            sim.reset_done_episodes()
            continue
        mjd.ctrl[:] = lo + 0.5 * (actions[w].cpu().numpy() + 1.0) * (hi - lo)
        for _ in range(sim.task.frame_skip):
            mujoco.mj_step(mjm, mjd)
        stepped += 1
        if contact_rich and not contact_depths_agree(sim, w, mjd):
            continue
        compared += 1
        scale = max(1.0, np.abs(mjd.qvel).max())
        np.testing.assert_allclose(sim.qpos[w].cpu().numpy(), mjd.qpos, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(sim.qvel[w].cpu().numpy(), mjd.qvel, atol=0.03 * scale, rtol=1e-3)
    assert stepped >= 10 and compared >= 0.75 * stepped, (compared, stepped)


@pytest.mark.parametrize("task", ["pointmass", "hopper"])
def test_aux_reset_then_identical_actions_stay_bitwise_identical(sims, task):
    sim = sims(task)
    rng = np.random.default_rng(2)
    for _ in range(3):  # let the worlds diverge first
        sim.step(_random_actions(sim, rng))
    sim.reset_aux_from_nominal()
    np.testing.assert_array_equal(
        sim.states.view(N, M + 1, -1).cpu().numpy(),
        np.repeat(sim.states.view(N, M + 1, -1)[:, :1].cpu().numpy(), M + 1, axis=1),
    )
    for _ in range(10):
        per_group = _random_actions(sim, rng)[::M + 1]
        sim.step(per_group.repeat_interleave(M + 1, dim=0))
        for field in (sim.qpos, sim.qvel, sim.states, sim.reward, sim.terminated, sim.episode_step):
            grouped = field.view(N, M + 1, -1)
            assert_same_physics(grouped, grouped[:, :1].expand_as(grouped), str(sim.qpos.device), task,
                                "a group diverged under identical actions")


def test_reset_aux_from_nominal_masked_copies_exactly(sims):
    """NumPy reference: masked auxiliary rows become their nominal's rows, everything else stays."""
    sim = sims("pointmass")
    rng = np.random.default_rng(3)
    sim.step(_random_actions(sim, rng))
    mask = torch.tensor(rng.random(sim.num_worlds) < 0.5, device=sim.qpos.device)
    before = {name: getattr(sim, name).cpu().numpy().copy() for name in ("qpos", "qvel", "states", "action", "episode_step")}
    before["ctrl"] = sim.d.ctrl.numpy().copy()
    before["time"] = sim.d.time.numpy().copy()
    sim.reset_aux_from_nominal(mask)
    after = {name: getattr(sim, name).cpu().numpy() for name in ("qpos", "qvel", "states", "action", "episode_step")}
    after["ctrl"] = sim.d.ctrl.numpy()
    after["time"] = sim.d.time.numpy()
    for name, old in before.items():
        expected = old.copy()
        for w in range(sim.num_worlds):
            if w % (M + 1) and mask[w]:
                expected[w] = old[w - w % (M + 1)]
        np.testing.assert_array_equal(after[name], expected, err_msg=name)


def test_reset_is_seeded_masked_and_within_noise(sims, device):
    sim = BatchedSim("pointmass", N, M, device=device, seed=0, deterministic=device != "cpu")
    sim.reset()
    q = sim.qpos.cpu().numpy()
    assert (np.abs(q - sim.task.initial_qpos(sim.mjm)) <= sim.task.reset_noise_qpos + 1e-6).all()
    assert len(np.unique(q[:, 0])) == sim.num_worlds, "worlds must get different initial states"
    twin = BatchedSim("pointmass", N, M, device=device, seed=0, deterministic=device != "cpu")
    twin.reset()
    np.testing.assert_array_equal(twin.qpos.cpu().numpy(), q)
    other = BatchedSim("pointmass", N, M, device=device, seed=1, deterministic=device != "cpu")
    other.reset()
    assert not np.array_equal(other.qpos.cpu().numpy(), q)

    rng = np.random.default_rng(4)
    sim.step(_random_actions(sim, rng))
    mask = torch.zeros(sim.num_worlds, dtype=torch.bool, device=sim.qpos.device)
    mask[[1, 5]] = True
    qpos_before, step_before = sim.qpos.clone(), sim.episode_step.clone()
    sim.reset(mask)
    unchanged = ~mask
    assert torch.equal(sim.qpos[unchanged], qpos_before[unchanged])
    assert torch.equal(sim.episode_step[unchanged], step_before[unchanged])
    assert (sim.episode_step[mask] == 0).all()
    assert not torch.equal(sim.qpos[mask], qpos_before[mask])
    # The observation of a reset world is that of its new state.
    np.testing.assert_allclose(sim.states[mask][:, :2].cpu(), sim.qpos[mask].cpu(), atol=0)


def test_truncation_at_episode_length(sims):
    sim = sims("pointmass", episode_length=3)
    zeros = torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device)
    for t in range(1, 4):
        _, terminated, truncated = sim.step(zeros)
        assert bool(truncated.all()) == (t == 3)
        assert not terminated.any()


def test_nan_world_alone_is_terminated_and_reset(sims, device):
    sim = sims("pointmass", seed=7)
    twin = BatchedSim("pointmass", N, M, device=device, seed=7, deterministic=device != "cpu")
    twin.reset()
    rng = np.random.default_rng(5)
    actions = _random_actions(sim, rng)
    bad = sim.world_index(1, 1)
    sim.qvel[bad, 0] = float("nan")
    reward, terminated, truncated = sim.step(actions)
    twin.step(actions)
    others = torch.ones(sim.num_worlds, dtype=torch.bool, device=sim.qpos.device)
    others[bad] = False
    assert terminated[bad] and not terminated[others].any()
    assert reward[bad] == 0.0
    for a, b in ((sim.qpos, twin.qpos), (sim.qvel, twin.qvel), (sim.states, twin.states), (sim.reward, twin.reward)):
        assert torch.equal(a[others], b[others])
        assert torch.isfinite(a).all()
    assert sim.episode_step[bad] == 0
    assert (np.abs(sim.qpos[bad].cpu().numpy() - sim.task.initial_qpos(sim.mjm)) <= sim.task.reset_noise_qpos + 1e-6).all()


def test_exploded_world_is_terminated(sims):
    sim = sims("pointmass")
    sim.qvel[0, 0] = 1.0e6
    _, terminated, _ = sim.step(torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device))
    assert terminated[0] and not terminated[1:].any()
    assert torch.isfinite(sim.qvel).all() and sim.qvel.abs().max() < 1e3


def test_action_scaling_to_ctrlrange(device):
    """NumPy reference of the action kernel: clamp to [-1, 1], then map onto [lo, hi]."""
    from kernels import step as step_kernels

    rng = np.random.default_rng(6)
    ranges = np.array([[-1.0, 1.0], [0.0, 2.0], [-3.0, -1.0]], dtype=np.float32)
    actions = rng.uniform(-1.5, 1.5, size=(5, 3)).astype(np.float32)
    action_out = wp.full((5, 3), np.inf, dtype=float, device=device)
    ctrl_out = wp.full((5, 3), np.inf, dtype=float, device=device)
    wp.launch(
        step_kernels._apply_action,
        dim=(5, 3),
        inputs=[wp.array(ranges, dtype=wp.vec2, device=device), wp.array(actions, device=device)],
        outputs=[action_out, ctrl_out],
        device=device,
    )
    clamped = np.clip(actions, -1, 1)
    np.testing.assert_allclose(action_out.numpy(), clamped)
    np.testing.assert_allclose(ctrl_out.numpy(), ranges[:, 0] + 0.5 * (clamped + 1) * (ranges[:, 1] - ranges[:, 0]), rtol=1e-6)


def test_episode_reset_masks(device):
    """NumPy reference of SDPG's reset rules."""
    rng = np.random.default_rng(7)
    group = 4
    term = rng.random(12) < 0.3
    trunc = rng.random(12) < 0.2
    fresh = wp.zeros(12, dtype=bool, device=device)
    from_nominal = wp.zeros(12, dtype=bool, device=device)
    ended = wp.zeros(12, dtype=bool, device=device)
    wp.launch(
        reset_kernels._episode_reset_masks,
        dim=12,
        inputs=[group, wp.array(term, dtype=bool, device=device), wp.array(trunc, dtype=bool, device=device)],
        outputs=[fresh, from_nominal, ended],
        device=device,
    )
    done = term | trunc
    nominal_done = np.repeat(done[::group], group)
    is_nominal = np.arange(12) % group == 0
    np.testing.assert_array_equal(fresh.numpy(), is_nominal & done)
    np.testing.assert_array_equal(from_nominal.numpy(), ~is_nominal & (nominal_done | done))
    # Every world whose trajectory ends: its own episode, or its nominal's (auxiliaries included).
    np.testing.assert_array_equal(ended.numpy(), done | nominal_done)


def test_bad_arguments_raise_value_error(sims, device):
    with pytest.raises(ValueError, match="unknown task"):
        BatchedSim("no_such_task", 1, 1, device=device)
    with pytest.raises(ValueError, match="num_nominal"):
        BatchedSim("pointmass", 0, 1, device=device)
    with pytest.raises(ValueError, match="num_aux"):
        BatchedSim("pointmass", 1, -1, device=device)
    sim = sims("pointmass")
    with pytest.raises(ValueError, match="actions must be"):
        sim.step(torch.zeros(sim.num_worlds, sim.num_actions + 1, device=sim.qpos.device))
    with pytest.raises(ValueError, match="mask must be"):
        sim.reset(torch.zeros(sim.num_worlds + 1, dtype=torch.bool))


def test_reset_done_episodes_follows_sdpg_rules(sims):
    sim = sims("pointmass")
    rng = np.random.default_rng(8)
    sim.step(_random_actions(sim, rng))
    sim.step(_random_actions(sim, rng))
    # Nominal 0 ended; auxiliary 2 of nominal 1 ended; nothing else.
    sim.terminated.zero_()
    sim.truncated.zero_()
    sim.terminated[sim.world_index(0, 0)] = True
    sim.truncated[sim.world_index(1, 2)] = True
    qpos_before = sim.qpos.clone()
    fresh = wp.to_torch(sim.reset_done_episodes())
    expected_fresh = torch.zeros_like(fresh)
    expected_fresh[0] = True
    assert torch.equal(fresh, expected_fresh)
    group0 = sim.qpos[: M + 1]
    assert (group0 == group0[0]).all() and not torch.equal(group0[0], qpos_before[0])
    assert (sim.episode_step[: M + 1] == 0).all()
    assert torch.equal(sim.qpos[sim.world_index(1, 2)], qpos_before[sim.world_index(1, 0)])
    for k in (0, 1, 3):
        w = sim.world_index(1, k)
        assert torch.equal(sim.qpos[w], qpos_before[w])


def test_state_dict_round_trip(sims, device):
    sim = sims("pointmass")
    rng = np.random.default_rng(9)
    sim.step(_random_actions(sim, rng))
    state = sim.state_dict()
    actions = _random_actions(sim, rng)
    sim.step(actions)
    expected = sim.qpos.clone()
    other = BatchedSim("pointmass", N, M, device=device, seed=0, deterministic=device != "cpu")
    other.load_state_dict(state)
    other.step(actions)
    assert torch.equal(other.qpos, expected)
    with pytest.raises(ValueError, match="simulator state"):
        BatchedSim("pointmass", N + 1, M, device=device).load_state_dict(state)


@pytest.mark.parametrize("task", ["pointmass", "hopper"])
def test_graph_captured_step_equals_eager(device, task):
    eager = BatchedSim(task, N, M, device=device, seed=3, deterministic=device != "cpu")
    captured = BatchedSim(task, N, M, device=device, seed=3, graph=True, deterministic=device != "cpu")
    eager.reset()
    captured.reset()
    rng = np.random.default_rng(10)
    for _ in range(8):
        actions = _random_actions(eager, rng)
        outputs_eager = [x.clone() for x in eager.step(actions)]
        outputs_captured = captured.step(actions)
        for a, b in zip(outputs_eager, outputs_captured):
            assert_same_physics(b, a, device, task)
        eager.terminated[0] = captured.terminated[0] = True  # exercise the reset graph too
        assert torch.equal(wp.to_torch(eager.reset_done_episodes()), wp.to_torch(captured.reset_done_episodes()))
        for a, b in ((eager.qpos, captured.qpos), (eager.qvel, captured.qvel), (eager.states, captured.states)):
            assert_same_physics(b, a, device, task)


def test_public_methods_scope_mujoco_warp_to_the_sim_device(sims, monkeypatch):
    # mujoco_warp launches on Warp's current device: every public entry point of the simulator must
    # run it inside a ScopedDevice of its own device (else cuda:1 or --device cpu on a GPU machine
    # would launch on the wrong device).
    import sdpg_warp.sim as sim_module

    sim = sims("pointmass")
    active, calls = [], []

    class RecordingScope:
        def __init__(self, device):
            self.device = device

        def __enter__(self):
            active.append(str(self.device))

        def __exit__(self, *exc):
            active.pop()

    class CheckedMjw:
        def __getattr__(self, name):
            real = getattr(sim_module.mjw.__wrapped__, name)

            def call(*args, **kwargs):
                calls.append((name, list(active)))
                return real(*args, **kwargs)
            return call

    checked = CheckedMjw()
    checked.__dict__["__wrapped__"] = sim_module.mjw
    monkeypatch.setattr(sim_module.wp, "ScopedDevice", RecordingScope)
    monkeypatch.setattr(sim_module, "mjw", checked)
    sim.reset()
    sim.step(torch.zeros(sim.num_worlds, sim.num_actions))
    sim.reset_done_episodes()
    assert {name for name, _ in calls} >= {"reset_data", "step"}
    assert all(scopes and scopes[-1] == sim.device for _, scopes in calls), calls
