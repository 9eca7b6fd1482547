"""The ego-centric tasks (walker_hurdle, g1_hurdle, go2_terrain) and their machinery: task kernels against their
NumPy references, hurdle placement against its distribution, physics against C MuJoCo, the ego
camera against mj_ray, group identity, the packed actor observation and the proprioception
encoder, short training runs from pixels and proprioception.

One simulator (N=2, M=3) per task is built per module; tests that move hurdles or worlds set them
first. g1_hurdle and go2_terrain read their Unitree robots from MENAGERIE_ROOT (tests/conftest.py; skipped without it).
"""

import dataclasses
import types

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import export, train
from sdpg_warp.config import task_defaults
from sdpg_warp.networks import Actor, ProprioImageEncoder
from sdpg_warp.render import NominalRenderer
from sdpg_warp.render.ego import ProprioImageObservation, packed_size, unpack
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import go2_terrain, hurdles, make_task, terrain, walker_hurdle
from sdpg_warp.tasks.menagerie import RobotNotFound
from helpers import (
    check_ego_export, check_measure_reference, check_reference, contact_depths_agree, measure_rows, reference_rays,
    task_inputs,
)

TASKS = ("walker_hurdle", "g1_hurdle")
"""The hurdle tasks."""
EGO_TASKS = TASKS + ("go2_terrain",)
TRACK = walker_hurdle.TRACK
QPOS_SPREAD = {"walker_hurdle": 1.0, "g1_hurdle": 0.3}
"""Half-width of the random qpos offsets: wide enough to cross every termination bound."""
HEIGHT_QPOS = {"walker_hurdle": 1, "g1_hurdle": 2}
"""qpos index of the height the termination reads (the walker's rootz, the G1's base z)."""
HURDLE_IN_REACH = 0.02
"""Top (m) of the hurdle put under the robot's feet in the C MuJoCo comparison: touched from the
first step, shallow enough that the solver converges (a 0.1 m one cuts 8 cm into the G1's ankle)."""
NUM_NOMINAL, NUM_AUX = 2, 3
SIZE = 16


@pytest.fixture(scope="module")
def sims(device):
    """``sims(task)``: the module's freshly reset simulator of the task (built once)."""
    cache = {}

    def get(task: str, **overrides) -> BatchedSim:
        key = (task, tuple(sorted(overrides.items())))
        if key not in cache:
            cache[key] = BatchedSim(make_task(task, **overrides), NUM_NOMINAL, NUM_AUX, device=device, seed=0)
            cache[key].reset()
        return cache[key]

    return get


@pytest.fixture(scope="module")
def sim(sims):
    """The walker_hurdle simulator (tests of the shared machinery)."""
    return sims("walker_hurdle")


def _mocap(sim) -> np.ndarray:
    return sim.d.mocap_pos.numpy().copy()


def _set_mocap(sim, mocap: np.ndarray) -> None:
    sim.d.mocap_pos.assign(wp.array(mocap.astype(np.float32), dtype=wp.vec3, device=sim.device))


# ------------------------------------------------------------------------------- task kernel


@pytest.mark.parametrize("task", TASKS)
def test_evaluate_matches_reference(sims, device, task):
    """Random states anywhere along tracks drawn by the placement kernel, one below the height
    bound and one non-finite."""
    sim = sims(task)
    task, mjm = sim.task, sim.mjm
    rng = np.random.default_rng(0)
    num = 16
    qpos = task.initial_qpos(mjm) + rng.uniform(-QPOS_SPREAD[task.name], QPOS_SPREAD[task.name], (num, mjm.nq))
    if mjm.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE:
        qpos[:, 3:7] /= np.linalg.norm(qpos[:, 3:7], axis=1, keepdims=True)
    qpos[:, 0] = rng.uniform(-1.0, 20.0, num)  # anywhere along the track
    qvel = rng.normal(0.0, 2.0, (num, mjm.nv))
    action = rng.uniform(-1.0, 1.0, (num, mjm.nu))
    mocap = _mocap(sim)[rng.integers(0, sim.num_worlds, num)]
    qpos[2, HEIGHT_QPOS[task.name]] = -10.0  # terminates
    qpos[3] = np.nan
    obs, _, _, terminated = check_reference(task, task_inputs(task, mjm, qpos, qvel, action, mocap_pos=mocap), device)
    assert (obs[:, task.proprio_dim:] > 0.05).any(), "no hurdle in any critic view: the heights go untested"
    assert terminated[2] == 1 and terminated[3] == 1


@pytest.mark.parametrize("task", TASKS)
def test_placement_follows_the_authors_distribution(device, task):
    """Every world's track: per level, spacing and heights inside their ranges; masked worlds only;
    reproducible for a (seed, reset count), different for another count or world."""
    track = make_task(task).track
    worlds = 256
    d = types.SimpleNamespace(mocap_pos=wp.zeros((worlds, track.num_hurdles), dtype=wp.vec3, device=device))
    mask = np.ones(worlds, dtype=bool)
    mask[7] = False
    mask_wp = wp.array(mask, dtype=bool, device=device)
    counts = wp.array(np.ones(worlds, dtype=np.int32), dtype=int, device=device)
    track.place(d, 3, mask_wp, counts)
    pos = d.mocap_pos.numpy().reshape(worlds, track.num_levels, track.hurdles_per_level, 3)
    assert np.all(pos[7] == 0.0)
    pos = pos[mask]
    starts = track.level_length * np.arange(track.num_levels)[None, :, None]
    gaps = np.diff(np.concatenate([np.broadcast_to(starts, pos.shape[:2] + (1,)), pos[..., 0]], axis=2), axis=2)
    lo, hi = track.spacing
    assert gaps.min() >= lo - 1e-5 and gaps.max() <= hi + 1e-5
    assert gaps.max() - gaps.min() > 0.9 * (hi - lo)  # the whole range is used
    top = pos[..., 2] + track.max_height
    difficulty = np.arange(track.num_levels)[None, :, None] / track.num_levels
    low = track.height_low[0] + track.height_low[1] * difficulty
    high = track.height_high[0] + track.height_high[1] * difficulty
    assert np.all(top >= low - 1e-5) and np.all(top <= high + 1e-5)
    assert np.all(pos[..., 1] == 0.0)
    # The host twin (tools/contact_budget.py's tracks) draws from the same distribution: per-hurdle
    # means of x and top height agree within 5 standard errors.
    rng = np.random.default_rng(0)
    host = np.stack([track.sample(rng) for _ in range(len(pos))]).reshape(pos.shape)
    for a, b in ((pos[..., 0], host[..., 0]), (top, host[..., 2] + track.max_height)):
        error = np.sqrt((a.var(0) + b.var(0)) / len(a)) + 1e-6
        assert np.all(np.abs(a.mean(0) - b.mean(0)) < 5 * error)
    again = types.SimpleNamespace(mocap_pos=wp.zeros_like(d.mocap_pos))
    track.place(again, 3, mask_wp, counts)
    np.testing.assert_array_equal(again.mocap_pos.numpy(), d.mocap_pos.numpy())
    track.place(again, 3, mask_wp, wp.array(np.full(worlds, 2, np.int32), dtype=int, device=device))
    assert not np.allclose(again.mocap_pos.numpy()[0], d.mocap_pos.numpy()[0])
    assert not np.allclose(d.mocap_pos.numpy()[0], d.mocap_pos.numpy()[1])


def test_ground_height_reference_reads_hurdle_tops():
    mocap = np.zeros((TRACK.num_hurdles, 3))
    mocap[:, 0] = 100.0
    mocap[0] = (2.0, 0.0, 0.4 - TRACK.max_height)
    half = TRACK.half_lengths()
    w, h = TRACK.half_width, TRACK.max_height
    assert hurdles.np_ground_height(2.0 + 0.9 * half[0], 0.9 * w, mocap, half, w, h) == pytest.approx(0.4)
    assert hurdles.np_ground_height(2.0 + 1.1 * half[0], 0.0, mocap, half, w, h) == 0.0
    assert hurdles.np_ground_height(2.0, 1.1 * w, mocap, half, w, h) == 0.0


# ------------------------------------------------------------------------------- task metrics


@pytest.mark.parametrize("task", TASKS)
def test_hurdle_metrics_count_the_hurdles_behind_the_base(sims, device, task):
    """Hand-built states on world 0's track: at the start, between hurdles 2 and 3 (2 cleared), over
    hurdle 2 (not cleared yet: its far edge is ahead), past every hurdle; a non-finite state keeps
    the metrics before it, or none on an episode's first step."""
    sim = sims(task)
    task, mjm = sim.task, sim.mjm
    mocap = _mocap(sim)[0]
    far = mocap[:task.track.num_hurdles, 0] + task.track.half_lengths()
    start = task.initial_qpos(mjm)[0]
    x = np.array([start, 0.5 * (far[1] + far[2]), mocap[2, 0], far[-1] + 1.0, 3.0, 3.0])
    qpos = np.tile(task.initial_qpos(mjm), (len(x), 1))
    qpos[:, 0] = x
    qpos[4:, 3] = np.nan
    qvel = np.zeros((len(x), mjm.nv))
    episode_step = np.array([0, 5, 5, 5, 7, 0])
    previous = np.full((len(x), 2), np.inf)
    previous[4] = (1.0, 2.5)
    mocaps = np.tile(mocap, (len(x), 1, 1))
    measured = measure_rows(task, device, episode_step, previous, qpos=qpos, qvel=qvel, mocap_pos=mocaps)
    np.testing.assert_array_equal(measured[:, 0], [0, 2, 2, task.track.num_hurdles, 1, 0])
    np.testing.assert_allclose(measured[:4, 1], (x - start)[:4], atol=1e-6)
    np.testing.assert_array_equal(measured[4:, 1], [2.5, 0.0])
    check_measure_reference(task, measured, episode_step, previous, *zip(qpos, qvel, mocaps))


@pytest.mark.task("go2_terrain")
def test_go2_metrics_are_the_mean_tracking_error_and_the_terrain_row(sims, device):
    """Hand-built states: a command of (1, 0) m/s tracked at 0.5 m/s (error 0.5) on an episode's first
    step, then at 0 m/s after 3 steps of mean 0.5 ((3 * 0.5 + 1) / 4 = 0.625); a base turned 90
    degrees moving along world +y (its own +x) tracks (1, 0) exactly; rows 3, 0 (border before the
    grid) and 9 (border after it); a non-finite state keeps the metrics before it."""
    sim = sims("go2_terrain")
    task, mjm = sim.task, sim.mjm
    size = go2_terrain.TERRAIN.size
    qpos = np.tile(task.initial_qpos(mjm), (5, 1))
    qpos[:, 0] = [3 * size + 1.0, -5.0, 100.0, 9 * size + 0.5, 10.0]
    qpos[2, 3:7] = (np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5))  # yaw 90 degrees
    qpos[4, 3] = np.nan
    qvel = np.zeros((5, mjm.nv))
    qvel[0, 0], qvel[2, 1], qvel[3, :2] = 0.5, 1.0, (0.3, 0.4)
    mocap = np.zeros((5, mjm.nmocap, 3))
    mocap[:, go2_terrain.COMMAND_BODY] = (1.0, 0.0, 0.0)
    mocap[3, go2_terrain.COMMAND_BODY] = (0.0, 0.0, 0.0)
    episode_step = np.array([0, 3, 9, 0, 4])
    previous = np.array([[np.inf, np.inf], [0.5, 7.0], [0.0, 1.0], [np.inf, np.inf], [0.25, 2.0]])
    measured = measure_rows(task, device, episode_step, previous, qpos=qpos, qvel=qvel, mocap_pos=mocap)
    np.testing.assert_allclose(measured[:, 0], [0.5, 0.625, 0.0, 0.5, 0.25], atol=1e-6)
    np.testing.assert_array_equal(measured[:, 1], [3, 0, 9, 9, 2])
    check_measure_reference(task, measured, episode_step, previous, *zip(qpos, qvel, mocap))


@pytest.mark.task("go2_terrain")
def test_go2_simulator_step_keeps_the_running_mean_and_restarts_it_each_episode(sims):
    """Through the simulator: after each step every world's tracking error is the mean of the step
    errors of its episode so far (the reference on the state after the step: the command is only
    redrawn every 200 steps); a reset starts the mean afresh; the metrics are simulator state."""
    sim = sims("go2_terrain")
    sim.reset()
    task = sim.task
    rng = np.random.default_rng(2)
    expected = np.zeros((sim.num_worlds, 2))
    for t in range(4):
        sim.step(torch.as_tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32,
                                 device=sim.qpos.device))
        qpos, qvel, mocap = sim.qpos.cpu().numpy(), sim.qvel.cpu().numpy(), _mocap(sim)
        expected = np.stack([task.reference_measure(qpos[w], qvel[w], mocap[w], expected[w], t)
                             for w in range(sim.num_worlds)])
        np.testing.assert_allclose(sim.metrics.cpu().numpy(), expected, rtol=1e-4, atol=1e-5)
    assert not sim.terminated.any(), "a reset inside the run would restart the mean the reference continues"
    assert (expected[:, 0] > 0.0).all()
    np.testing.assert_array_equal(sim.state_dict()["metrics"], sim.metrics.cpu().numpy())
    sim.reset()
    sim.step(torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device))
    qpos, qvel, mocap = sim.qpos.cpu().numpy(), sim.qvel.cpu().numpy(), _mocap(sim)
    first = [task.reference_measure(qpos[w], qvel[w], mocap[w], expected[w], 0) for w in range(sim.num_worlds)]
    np.testing.assert_allclose(sim.metrics.cpu().numpy(), np.stack(first), rtol=1e-4, atol=1e-5)
    sim.reset()


def test_auxiliaries_take_their_nominals_metrics_and_checkpoints_keep_them(sim):
    """The metrics are per-world simulator state: an auxiliary moved onto its nominal takes its
    metrics with its episode step, ``state_dict`` holds them, and a checkpoint written before the
    task metrics (no ``metrics``) loads with them at zero."""
    W, g = sim.num_worlds, sim.group_size
    sim.metrics.copy_(torch.arange(2 * W, dtype=torch.float32).reshape(W, 2))
    sim.reset_aux_from_nominal()
    grouped = sim.metrics.view(NUM_NOMINAL, g, 2)
    assert torch.equal(grouped, grouped[:, :1].expand_as(grouped))
    assert torch.equal(grouped[:, 0], torch.tensor([[0.0, 1.0], [2.0 * g, 2.0 * g + 1.0]]))
    state = sim.state_dict()
    np.testing.assert_array_equal(state["metrics"], sim.metrics.cpu().numpy())
    del state["metrics"]
    sim.load_state_dict(state)
    assert not sim.metrics.any()
    sim.reset()


# ------------------------------------------------------------------------------- simulation


@pytest.mark.parametrize("task", TASKS)
def test_step_matches_c_mujoco_with_a_hurdle_in_reach(sims, task):
    """80 steps from mujoco_warp's state in both simulators, a low hurdle under the robot's feet so
    that hurdle contacts are part of the dynamics (as tests/test_sim.py, same tolerances and the same
    treatment as its contact-rich scenes: one physics step per step, steps whose contact depths
    differ between the engines not compared, at least 3 of 4 compared)."""
    sim = sims(task, frame_skip=1)
    sim.reset()
    mjm = sim.mjm
    mjd = mujoco.MjData(mjm)
    w = sim.world_index(1, 2)
    mocap = _mocap(sim)
    mocap[w, 0] = (sim.qpos[w, 0].item() + 0.1, 0.0, HURDLE_IN_REACH - sim.task.track.max_height)
    _set_mocap(sim, mocap)
    mjd.mocap_pos[:] = mocap[w]
    rng = np.random.default_rng(1)
    lo, hi = mjm.actuator_ctrlrange.T
    touched = stepped = compared = 0
    for _ in range(80):
        mjd.qpos[:] = sim.qpos[w].cpu().numpy()
        mjd.qvel[:] = sim.qvel[w].cpu().numpy()
        mjd.qacc_warmstart[:] = sim.d.qacc_warmstart.numpy()[w]
        actions = torch.as_tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32,
                                  device=sim.qpos.device)
        sim.step(actions)
        assert torch.isfinite(sim.qpos).all() and torch.isfinite(sim.states).all()
        if sim.terminated[w] or sim.truncated[w]:
            break
        mjd.ctrl[:] = lo + 0.5 * (actions[w].cpu().numpy() + 1.0) * (hi - lo)
        for _ in range(sim.task.frame_skip):
            mujoco.mj_step(mjm, mjd)
        hurdle0 = mjm.geom("hurdle0").id
        touched += any(hurdle0 in (c.geom1, c.geom2) for c in mjd.contact[: mjd.ncon])
        stepped += 1
        if not contact_depths_agree(sim, w, mjd):
            continue
        compared += 1
        scale = max(1.0, np.abs(mjd.qvel).max())
        np.testing.assert_allclose(sim.qpos[w].cpu().numpy(), mjd.qpos, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(sim.qvel[w].cpu().numpy(), mjd.qvel, atol=0.03 * scale, rtol=1e-3)
    assert touched, "the robot never touched the hurdle: the test checks no hurdle contact"
    assert stepped >= 20 and compared >= 0.75 * stepped, (compared, stepped)


@pytest.mark.parametrize("task", EGO_TASKS)
def test_groups_are_identical_after_reset_aux_from_nominal(sims, task):
    """Fresh resets draw every world its own track; the auxiliaries then take their nominal's whole
    state, track included, and identical actions keep them bitwise identical."""
    sim = sims(task)
    sim.reset()
    g = sim.group_size
    assert not np.allclose(_mocap(sim)[0], _mocap(sim)[1])
    sim.reset_aux_from_nominal()
    actions = torch.rand(NUM_NOMINAL, sim.num_actions, device=sim.qpos.device) * 2 - 1
    for _ in range(3):
        for name in ("qpos", "qvel", "states"):
            value = getattr(sim, name).view(NUM_NOMINAL, g, -1)
            assert torch.equal(value, value[:, :1].expand_as(value)), name
        mocap = _mocap(sim).reshape(NUM_NOMINAL, g, -1, 3)
        np.testing.assert_array_equal(mocap, np.broadcast_to(mocap[:, :1], mocap.shape))
        sim.step(actions.repeat_interleave(g, dim=0))


# --------------------------------------------------------------------------------- ego camera


@pytest.fixture(scope="module")
def ego(sims):
    """``ego(task, modality)``: a 32 x 32 one-frame renderer of the task's ego camera (built once)."""
    cache = {}

    def get(task: str, modality: str) -> NominalRenderer:
        if (task, modality) not in cache:
            cache[task, modality] = NominalRenderer(sims(task), 32, 32, 1, modality, camera="ego")
        return cache[task, modality]

    return get


def _hurdle_ahead(sim, nominal: int, ahead: float, height: float) -> np.ndarray:
    """Every world at the start pose (the walker's or the G1's); hurdle 0 of ``nominal``'s
    world ``ahead`` m in front of it with its top at ``height``, every other hurdle out of view.
    Returns that world's mocap poses."""
    sim.qpos.copy_(torch.as_tensor(sim.task.initial_qpos(sim.mjm), dtype=torch.float32))
    mocap = _mocap(sim)
    mocap[:, 1:, 0] += 100.0
    w = sim.world_index(nominal, 0)
    mocap[w, 0] = (sim.mjm.qpos0[0] + ahead, 0.0, height - sim.task.track.max_height)
    _set_mocap(sim, mocap)
    return mocap[w]


@pytest.mark.parametrize("task", TASKS)
def test_ego_depth_matches_mj_ray_and_shows_the_hurdle(sims, ego, task):
    sim = sims(task)
    mocap = _hurdle_ahead(sim, 0, 1.2, 0.5)
    r = ego(task, "depth")
    depth = r.render()[0, -1].cpu().numpy().copy()  # the stack is overwritten by the next render
    expected, geom = reference_rays(sim.mjm, sim.qpos[0].cpu().numpy(), r.camera_ids[0], 32, mocap_pos=mocap)
    expected = np.minimum(expected, r.zfar)
    bad = np.abs(depth - expected) > 1e-3 + 1e-3 * expected
    assert bad.mean() <= 0.02, f"{bad.sum()} pixels differ"
    on_hurdle = geom == sim.mjm.geom("hurdle0").id
    assert on_hurdle.sum() >= 20, "the hurdle 1.2 m ahead should fill part of the picture"
    # Without it the same pixels see farther: the floor behind it (just behind, at its foot) or the sky.
    _hurdle_ahead(sim, 0, 50.0, 0.5)
    seen = on_hurdle & ~bad
    farther = r.render()[0, -1].cpu().numpy()[seen] - depth[seen]
    assert np.all(farther > 1e-3) and farther.mean() > 0.2


@pytest.mark.parametrize("task", TASKS)
def test_ego_image_changes_when_the_robot_moves(sims, ego, task):
    sim = sims(task)
    _hurdle_ahead(sim, 0, 50.0, 0.5)
    r = ego(task, "rgb")
    before = r.render()[0].clone()
    sim.qpos[0, 0] += 0.37  # half a floor tile forward
    after = r.render()[0]
    assert (before != after).any(dim=0).float().mean() > 0.1


@pytest.mark.task("go2_terrain")
def test_go2_terrain_is_the_heightfield_mujoco_collides_with(sims):
    """The generated samples are the hfield's surface (mj_ray from above), laid out as the authors':
    pyramid slopes down and up, roughness within +-5 cm, stairs down and up in 5 mm units."""
    mjm = sims("go2_terrain").mjm
    mjd = mujoco.MjData(mjm)
    mujoco.mj_forward(mjm, mjd)
    ground = terrain.generate(go2_terrain.TERRAIN)
    spec = ground.spec
    rng = np.random.default_rng(0)
    geomid = np.zeros(1, dtype=np.int32)
    for i, j in rng.integers(0, ground.heights.shape[0], (50, 2)):
        x, y = i * spec.horizontal_scale - spec.border, j * spec.horizontal_scale - spec.border
        dist = mujoco.mj_ray(mjm, mjd, np.array([x, y, 10.0]), np.array([0.0, 0.0, -1.0]), None, 1, -1, geomid)
        assert geomid[0] == mjm.geom("terrain").id
        assert 10.0 - dist == pytest.approx(ground.heights[i, j], abs=1e-5)
    np.testing.assert_allclose(ground.heights / spec.vertical_scale, np.rint(ground.heights / spec.vertical_scale),
                               atol=1e-3)
    centre = ground.origins.reshape(spec.num_rows, spec.num_cols, 3)[-1, :, 2]  # hardest row
    assert np.all(centre[[0, 1, 5, 6, 7]] < -0.5) and np.all(centre[[2, 8, 9]] > 0.5)
    rough = ground.heights[spec.border_cells + 9 * spec.cells:, spec.border_cells + 3 * spec.cells:][:spec.cells, :spec.cells]
    assert np.abs(rough).max() <= 0.05 + 1e-6 and rough.std() > 0.01


@pytest.mark.task("go2_terrain")
def test_go2_reset_places_worlds_on_sub_terrains_and_remembers_the_action(sims, device):
    sim = sims("go2_terrain")
    sim.reset()
    ground = terrain.generate(go2_terrain.TERRAIN)
    qpos = sim.qpos.cpu().numpy()
    start = np.asarray(sim.mjm.qpos0[:3])
    offsets = qpos[:, None, :3] - start - ground.origins[None]
    nearest = np.abs(offsets).max(axis=2).min(axis=1)
    assert np.all(nearest <= sim.task.reset_noise_qpos + 1e-4)
    command = _mocap(sim)[:, go2_terrain.COMMAND_BODY]
    assert np.all(np.abs(command[:, :2]) <= go2_terrain.LIN_VEL_RANGE)
    assert np.all(np.abs(command[:, 2]) <= go2_terrain.HEADING_RANGE)
    assert len(np.unique(command[:, 2])) == sim.num_worlds
    memory = _go2_memory(sim)
    np.testing.assert_array_equal(memory[:, :go2_terrain.MEM_STREAM], 0.0)
    streams = memory[:, go2_terrain.MEM_STREAM]
    assert len(np.unique(streams)) == sim.num_worlds and np.all(streams == np.rint(streams))
    actions = torch.rand(sim.num_worlds, sim.num_actions, device=sim.qpos.device) * 2 - 1
    sim.step(actions)
    remembered = _go2_memory(sim)[:, go2_terrain.MEM_ACTION:go2_terrain.MEM_ACTION + go2_terrain.NUM_JOINTS]
    np.testing.assert_allclose(remembered, actions.cpu().numpy(), atol=1e-7)
    # The action-rate term read the zero memory of the reset.
    rate = sim.reward_terms[:, sim.task.reward_terms.index("action_rate")].cpu().numpy()
    expected = go2_terrain.W_RATE * (actions.cpu().numpy() ** 2).sum(axis=1)
    ended = (sim.terminated | sim.truncated).cpu().numpy()
    np.testing.assert_allclose(rate[~ended], expected[~ended], rtol=1e-5)


def _go2_memory(sim) -> np.ndarray:
    """[W, MEMORY_SIZE] every world's go2_terrain memory."""
    flat = _mocap(sim)[:, 1:1 + go2_terrain.MEMORY_BODIES].reshape(sim.num_worlds, -1)
    return flat[:, :go2_terrain.MEMORY_SIZE]


def _go2_random_states(sim, rng):
    """Random states of every world over drawn sub-terrains, low enough that feet, legs and (for
    world 0, upside down) the base touch the terrain; random memory; time between two command draws."""
    mjm, W = sim.mjm, sim.num_worlds
    origins = terrain.generate(go2_terrain.TERRAIN).origins
    qpos = np.tile(sim.task.initial_qpos(mjm), (W, 1))
    qpos[:, :3] += origins[rng.integers(0, len(origins), W)]
    qpos[:, 2] += rng.uniform(-0.2, 0.05, W)
    qpos[:, 3:7] += rng.normal(0.0, 0.15, (W, 4))
    qpos[0, 3:7] = [0.0, 1.0, 0.0, 0.0]
    qpos[0, 2] = qpos[0, 2] - mjm.qpos0[2] + 0.03  # base box (0.057 m half-height) into the start point
    qpos[:, 3:7] /= np.linalg.norm(qpos[:, 3:7], axis=1, keepdims=True)
    qpos[:, 7:] += rng.uniform(-0.5, 0.5, (W, go2_terrain.NUM_JOINTS))
    qvel = rng.normal(0.0, 1.0, (W, mjm.nv))
    mocap = rng.uniform(-1.0, 1.0, (W, mjm.nmocap, 3))
    memory = mocap[:, 1:1 + go2_terrain.MEMORY_BODIES].reshape(W, -1)
    memory[:, go2_terrain.MEM_AIR:go2_terrain.MEM_AIR + go2_terrain.NUM_FEET] = rng.choice([0.0, 0.3, 0.7], (W, 4))
    memory[:, go2_terrain.MEM_CONTACT:go2_terrain.MEM_CONTACT + go2_terrain.NUM_FEET] = rng.integers(0, 2, (W, 4))
    memory[:, go2_terrain.MEM_STREAM] = rng.integers(0, go2_terrain.STREAM_RANGE, W)
    mocap[:, 1:1 + go2_terrain.MEMORY_BODIES] = memory.reshape(W, go2_terrain.MEMORY_BODIES, 3)
    mocap[1, go2_terrain.COMMAND_BODY, :2] = 0.0  # a standing command: stand-still and no air-time reward
    action = rng.uniform(-1.0, 1.0, (W, mjm.nu))
    time = go2_terrain.DT * rng.integers(1, go2_terrain.RESAMPLE_STEPS, W)
    return qpos, qvel, mocap, action, time


def _go2_load(sim, qpos, qvel, mocap, action, time):
    """Writes the states into the simulator's Data and runs its forward pass (contacts)."""
    d, device = sim.d, sim.device
    for array, value in ((d.qpos, qpos), (d.qvel, qvel), (d.time, time)):
        array.assign(wp.array(value.astype(np.float32), dtype=float, device=device))
    _set_mocap(sim, mocap)
    sim.action.copy_(torch.as_tensor(action, dtype=torch.float32))
    mjw.forward(sim.m, d)


@pytest.mark.task("go2_terrain")
def test_go2_contacts_outputs_and_memory_match_c_mujoco_and_the_reference(sims, device):
    """Random states near the terrain: the contact flags equal C MuJoCo's contacts classified the
    same way; obs, terms, reward (clipped at 0) and termination equal the NumPy reference on those
    flags; after_step advances the memory as the reference does."""
    sim = sims("go2_terrain")
    task, mjm, W = sim.task, sim.mjm, sim.num_worlds
    rng = np.random.default_rng(3)
    qpos, qvel, mocap, action, time = _go2_random_states(sim, rng)
    _go2_load(sim, qpos, qvel, mocap, action, time)
    task.sense(sim.d, sim.task_inputs.contacts)
    touch = sim.task_inputs.contacts.numpy().copy()
    # Inputs as the kernels saw them (float32).
    qpos32, qvel32, mocap32, action32 = (x.astype(np.float32).astype(np.float64) for x in (qpos, qvel, mocap, action))
    mjd = mujoco.MjData(mjm)
    for w in range(W):
        mjd.qpos[:], mjd.qvel[:], mjd.mocap_pos[:] = qpos32[w], qvel32[w], mocap32[w]
        mujoco.mj_forward(mjm, mjd)
        np.testing.assert_array_equal(touch[w], go2_terrain.np_touch(mjm, mjd), err_msg=f"world {w}")
    inputs = task_inputs(task, mjm, qpos, qvel, action, mocap_pos=mocap, contacts=touch)
    fine = dict(rtol=1e-5, atol=1e-6)
    obs, terms, reward, terminated = check_reference(task, inputs, device, terms_tol=fine, reward_tol=fine)
    assert touch[0, go2_terrain.TOUCH_BASE] == 1 and terminated[0] == 1, "world 0 lies on its back"
    assert touch[:, :go2_terrain.NUM_FEET].any() and touch[1:, go2_terrain.TOUCH_BASE + 1:].any()
    assert (reward == 0.0).any() and (reward > 0.0).any(), "the clip at 0 goes untested"
    column = {name: terms[:, k] for k, name in enumerate(task.reward_terms)}
    assert (column["feet_air_time"] != 0.0).any() and (column["collision"] < 0.0).any()

    task.after_step(sim.d, sim.task_inputs)
    after = _mocap(sim)
    for w in range(W):
        expected = task.reference_after_step(qvel32[w], action32[w], touch[w], mocap32[w])
        np.testing.assert_allclose(after[w], expected, atol=1e-6, err_msg=f"world {w}")


@pytest.mark.task("go2_terrain")
def test_go2_commands_are_redrawn_every_200_steps_alike_in_a_group(sims, device):
    """At a step count that is a multiple of RESAMPLE_STEPS a world draws a new command from its
    stream: worlds with the same stream (a nominal and its auxiliaries) draw the same one, other
    streams others, and a world between two draws keeps its command."""
    sim = sims("go2_terrain")
    rng = np.random.default_rng(5)
    qpos, qvel, mocap, action, time = _go2_random_states(sim, rng)
    k = go2_terrain.MEM_STREAM
    mocap[1, 1 + k // 3, k % 3] = mocap[0, 1 + k // 3, k % 3]  # world 1 shares world 0's stream
    time[:3] = go2_terrain.DT * go2_terrain.RESAMPLE_STEPS * np.array([2, 2, 2])
    time[3] = go2_terrain.DT * (go2_terrain.RESAMPLE_STEPS * 2 - 1)
    _go2_load(sim, qpos, qvel, mocap, action, time)
    sim._evaluate(sim._scratch_states, sim._scratch_terms, sim._scratch_reward, sim._scratch_terminated)
    sim.task.after_step(sim.d, sim.task_inputs)
    command = _mocap(sim)[:, go2_terrain.COMMAND_BODY]
    before = mocap[:, go2_terrain.COMMAND_BODY].astype(np.float32)
    assert np.all(command[:3, 2] != before[:3, 2]), "worlds at step 400 draw a new heading"
    np.testing.assert_array_equal(command[0], command[1])
    assert command[2, 2] != command[0, 2]
    np.testing.assert_array_equal(command[3:], before[3:])
    assert np.all(np.abs(command[:3, :2]) <= go2_terrain.LIN_VEL_RANGE)
    assert np.all(np.abs(command[:3, 2]) <= go2_terrain.HEADING_RANGE)


@pytest.mark.task("go2_terrain")
def test_go2_stands_on_every_sub_terrain_with_action_zero(sims):
    """The servos hold the default pose: 50 steps of action 0 from resets over drawn sub-terrains end
    no episode, and every world then stands on four feet with its base 0.25-0.35 m over the terrain (0.29 m
    measured; the default pose's bent legs).
    (The step is not compared with C MuJoCo here: the two collide spheres with a heightfield
    differently, measured 7 against 11 contacts on one state, so contact steps differ by up to 0.9
    in qvel.)"""
    sim = sims("go2_terrain")
    sim.reset()
    ground = terrain.generate(go2_terrain.TERRAIN)
    zero = torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device)
    for _ in range(50):
        sim.step(zero)
        assert not (sim.terminated | sim.truncated).any()
    qpos = sim.qpos.cpu().numpy()
    clearance = [q[2] - terrain.np_sample_height(q[0], q[1], ground) for q in qpos]
    assert np.all((0.25 < np.array(clearance)) & (np.array(clearance) < 0.35)), clearance
    touch = sim.task_inputs.contacts.numpy()
    assert np.all(touch[:, :go2_terrain.NUM_FEET] == 1) and not touch[:, go2_terrain.NUM_FEET:].any()


@pytest.mark.task("go2_terrain")
def test_go2_ego_image_changes_when_the_robot_moves(sims, ego):
    sim = sims("go2_terrain")
    sim.reset()
    r = ego("go2_terrain", "rgb")
    before = r.render()[0].clone()
    sim.qpos[0, 0] += 0.37
    after = r.render()[0]
    assert (before != after).any(dim=0).float().mean() > 0.1


@pytest.mark.task("go2_terrain")
def test_go2_ego_depth_matches_mj_ray_and_sees_the_terrain(sims, ego):
    sim = sims("go2_terrain")
    sim.reset()
    r = ego("go2_terrain", "depth")
    depth = r.render()[0, -1].cpu().numpy().copy()
    expected, geom = reference_rays(sim.mjm, sim.qpos[0].cpu().numpy(), r.camera_ids[0], 32)
    expected = np.minimum(expected, r.zfar)
    bad = np.abs(depth - expected) > 1e-3 + 1e-3 * expected
    assert bad.mean() <= 0.02, f"{bad.sum()} pixels differ"
    assert (geom == sim.mjm.geom("terrain").id).mean() > 0.5, "the camera should look at the ground ahead"


# --------------------------------------------------------------------- actor's observation


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_packed_observation_round_trips(sim, modality):
    frames = 2
    renderer = NominalRenderer(sim, SIZE, SIZE, frames, modality, camera="ego")
    obs = ProprioImageObservation(sim, renderer)
    packed = obs.render_step()
    image_shape = ((3 if modality == "rgb" else 1) * frames, SIZE, SIZE)
    assert packed.shape == (NUM_NOMINAL, packed_size(image_shape, sim.task.proprio_dim, modality))
    images, proprio = unpack(packed, image_shape, sim.task.proprio_dim)
    assert torch.equal(images, wp.to_torch(renderer.stack))
    assert torch.equal(proprio, sim.states[:: sim.group_size, : sim.task.proprio_dim])
    assert proprio.dtype == torch.float32


def test_proprio_image_actor_fuses_both_inputs(sim):
    cfg = task_defaults("walker_hurdle", "depth")
    cfg = dataclasses.replace(cfg, image_size=SIZE, frames=2, encoder_dim=8, proprio_hidden=(6,), actor_hidden=(5,))
    proprio_dim = sim.task.proprio_dim
    shape = cfg.actor_obs_shape(sim.state_dim, proprio_dim)
    assert shape == (2 * SIZE * SIZE + proprio_dim,)
    actor = Actor.from_config(cfg, shape, sim.num_actions, proprio_dim)
    encoder = actor.encoder
    assert isinstance(encoder, ProprioImageEncoder) and encoder.output_dim == 8 + 6
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(4, 2, SIZE, SIZE, generator=gen) * 3.0
    proprio = torch.randn(4, proprio_dim, generator=gen) * 5.0 + 2.0
    packed = torch.cat([images.flatten(1), proprio], dim=1)
    actor.update_normalizer(packed)
    torch.testing.assert_close(encoder.proprio_rms.mean.float(), proprio.mean(0))
    normalized = (proprio - proprio.mean(0)) / torch.sqrt(proprio.var(0, unbiased=False) + 1e-5)
    expected = torch.cat([encoder.image(images), encoder.proprio(normalized)], dim=1)
    torch.testing.assert_close(actor.features(packed), expected)
    # Both parts reach the action: changing either changes the mean.
    mean = actor(packed)[0]
    assert not torch.equal(actor(torch.cat([images.flatten(1), proprio + 1.0], 1))[0], mean)
    assert not torch.equal(actor(torch.cat([(images + 1.0).flatten(1), proprio], 1))[0], mean)
    with pytest.raises(ValueError, match="packed observations"):
        Actor.from_config(cfg, (5,), sim.num_actions, proprio_dim)


# ------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("modality", ["rgb", "depth"])
@pytest.mark.parametrize("task", EGO_TASKS)
def test_training_from_pixels_and_proprioception_runs(tmp_path, device, task, modality):
    args = ["--task", task, "--obs", modality, "--num-nominal", "2", "--num-aux", "3",
            "--horizon", "4", "--image-size", "16", "--critic-minibatch", "32", "--epochs", "3",
            "--device", device, "--log-dir", str(tmp_path), "--run-name", "r"]
    assert train.main(args) == 0
    assert (tmp_path / "r" / "checkpoint.pt").exists()
    if task == "walker_hurdle":
        check_ego_export(tmp_path / "r", modality)


def test_a_missing_robot_is_one_line_naming_both_ways_and_train_exits_2(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "menagerie"
    empty.mkdir()
    monkeypatch.setenv("MENAGERIE_ROOT", str(empty))
    with pytest.raises(RobotNotFound, match=r"'unitree_g1'.*internet.*MENAGERIE_ROOT") as error:
        make_task("g1_hurdle").mj_model()
    assert "\n" not in str(error.value)
    runs = tmp_path / "runs"
    assert train.main(["--task", "g1_hurdle", "--obs", "depth", "--num-nominal", "2", "--num-aux", "1",
                       "--image-size", "16", "--device", "cpu", "--log-dir", str(runs)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unitree_g1" in err and "MENAGERIE_ROOT" in err, err
    assert not any(runs.glob("*")), "a failed start leaves no run folder"
