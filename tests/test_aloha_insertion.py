"""aloha_insertion: the task kernel against its NumPy reference (C MuJoCo's kinematics) on
constructed and random states (peg inserted vs not, lifted vs not), the fingers' table contacts
against C MuJoCo's contact list, the servos, the peg and socket draws and their group identity, the
three cameras (one multi-camera render equal to each camera alone, depth against mj_ray), the
per-camera encoders, and short training runs from pixels and proprioception with ONNX export.

One simulator (N=2, M=3) is built per module. ALOHA is read from MENAGERIE_ROOT (tests/conftest.py;
skipped without it).
"""

import os
import pathlib
import types

import mujoco
import mujoco_warp as mjw
import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.networks import Actor, MultiCameraEncoder
from sdpg_warp.render import NominalRenderer
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import aloha_insertion as al
from sdpg_warp.tasks import make_task
from helpers import (
    check_ego_export, check_measure_reference, check_reference, evaluate, measure_rows, reference_rays, task_inputs,
)

TASK = "aloha_insertion"
NUM_NOMINAL, NUM_AUX = 2, 3
TOL = dict(rtol=1e-5, atol=2e-5)
TERM = {name: k for k, name in enumerate(al.WEIGHTS)}
"""Index of each reward term."""

pytestmark = pytest.mark.skipif(not (pathlib.Path(os.environ["MENAGERIE_ROOT"]) / al.ROBOT).is_dir(),
                                reason=f"Menagerie robot {al.ROBOT} not under MENAGERIE_ROOT")


@pytest.fixture(scope="module")
def sim(device):
    """The module's simulator, freshly reset."""
    sim = BatchedSim(TASK, NUM_NOMINAL, NUM_AUX, device=device, seed=0)
    sim.reset()
    return sim


def _sites(mjm, qpos) -> np.ndarray:
    """[nsite, 3] site positions of ``qpos`` from C MuJoCo's kinematics."""
    data = mujoco.MjData(mjm)
    data.qpos[:] = qpos
    mujoco.mj_kinematics(mjm, data)
    return data.site_xpos.copy()


def _inputs(task, mjm, qpos, qvel, action, touch):
    """The task inputs of the rows with C MuJoCo's site positions and the table-contact flags ``touch``."""
    sites = np.stack([_sites(mjm, np.nan_to_num(q)) for q in qpos])
    return task_inputs(task, mjm, qpos, qvel, action, site_xpos=sites, contacts=np.reshape(touch, (-1, 1)))


def _evaluate(task, mjm, qpos, qvel, action, touch, device):
    """The task kernel on every row (:func:`helpers.evaluate`)."""
    return evaluate(task, _inputs(task, mjm, qpos, qvel, action, touch), device)


def _check_reference(task, mjm, qpos, qvel, action, touch, device):
    """Kernel outputs = NumPy reference on the float32 inputs the kernel saw; returns the kernel's."""
    obs, terms, _, terminated = check_reference(task, _inputs(task, mjm, qpos, qvel, action, touch), device, tol=TOL)
    return obs, terms, terminated


def _place(qpos, adr, pos, quat=(1.0, 0.0, 0.0, 0.0)):
    qpos[adr:adr + 3] = pos
    qpos[adr + 3:adr + 7] = quat


def _reach(mjm, arm, point, qpos) -> np.ndarray:
    """qpos with ``arm``'s gripper site at ``point`` (damped least squares on its six joints)."""
    qpos = qpos.copy()
    data = mujoco.MjData(mjm)
    a = al.ARMS.index(arm)
    dofs = list(range(a * (al.NUM_ARM + 2), a * (al.NUM_ARM + 2) + al.NUM_ARM))
    site = mjm.site(f"{arm}/gripper").id
    for _ in range(200):
        data.qpos[:] = qpos
        mujoco.mj_kinematics(mjm, data)
        mujoco.mj_comPos(mjm, data)
        error = point - data.site_xpos[site]
        jac = np.zeros((3, mjm.nv))
        mujoco.mj_jacSite(mjm, data, jac, None, site)
        j = jac[:, dofs]
        qpos[dofs] += j.T @ np.linalg.solve(j @ j.T + 1e-4 * np.eye(3), error)
    assert np.linalg.norm(error) < 1e-4
    return qpos


# ------------------------------------------------------------------------------ model and step


def test_model_builds_and_steps_without_nan(sim):
    mjm = sim.mjm
    assert sim.num_actions == al.NUM_ACTIONS == 14 and sim.state_dim == 90 and sim.task.proprio_dim == 52
    assert sim.task.cameras == ("table", "wrist_left", "wrist_right")
    ranges = mjm.actuator_ctrlrange
    arm = [a * (al.NUM_ARM + 1) + i for a in range(2) for i in range(al.NUM_ARM)]
    np.testing.assert_allclose(ranges[arm].mean(axis=1), al.DEFAULT_POSE, atol=1e-6)  # action 0: the default
    assert np.all(ranges[arm, 1] - ranges[arm, 0] <= 2 * al.ARM_ACTION_SCALE + 1e-9)
    limits = mjm.jnt_range[[mjm.actuator_trnid[i, 0] for i in arm]]
    assert np.all(ranges[arm, 0] >= limits[:, 0] - 1e-9) and np.all(ranges[arm, 1] <= limits[:, 1] + 1e-9)
    np.testing.assert_array_equal(ranges[[6, 13]], [al.GRIPPER_RANGE] * 2)
    rng = np.random.default_rng(0)
    for _ in range(10):
        actions = torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32)
        reward, _, _ = sim.step(actions)
        assert torch.isfinite(reward).all() and torch.isfinite(sim.states).all()
        assert torch.isfinite(sim.qpos).all() and torch.isfinite(sim.qvel).all()
        sim.reset_done_episodes()
    assert sim.pop_overflow() == 0


def test_stepped_states_match_the_reference(sim):
    """After steps with random actions, the simulator's observation and reward terms are the NumPy
    reference's on its own final state (the table contact as the simulator found it)."""
    sim.reset()
    rng = np.random.default_rng(1)
    for _ in range(4):
        sim.step(torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32))
    qpos, qvel, action = (x.cpu().numpy().astype(np.float64) for x in (sim.qpos, sim.qvel, sim.action))
    touch = sim.reward_terms[:, TERM["no_table_collision"]].cpu().numpy() == 0.0
    for w in range(sim.num_worlds):
        world = task_inputs(sim.task, sim.mjm, qpos[w:w + 1], qvel[w:w + 1], action[w:w + 1],
                            contacts=touch[w:w + 1, None])
        obs, terms, _ = sim.task.reference(world.world(0))
        np.testing.assert_allclose(sim.states[w].cpu().numpy(), obs, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(sim.reward_terms[w].cpu().numpy(), terms, rtol=1e-4, atol=1e-4)


def test_servos_hold_the_default_pose_and_the_objects_rest(sim):
    sim.reset()
    zero = torch.zeros(sim.num_worlds, sim.num_actions)
    for _ in range(30):
        sim.step(zero)
        assert not (sim.terminated | sim.truncated).any()
    qpos = sim.qpos.cpu().numpy()
    arm = [a * (al.NUM_ARM + 2) + i for a in range(2) for i in range(al.NUM_ARM)]
    np.testing.assert_allclose(qpos[:, arm], np.tile(al.DEFAULT_POSE, (sim.num_worlds, 1)), atol=0.05)
    np.testing.assert_allclose(qpos[:, [6, 7, 14, 15]], np.mean(al.GRIPPER_RANGE), atol=1e-3)  # action 0
    np.testing.assert_allclose(qpos[:, al.PEG_QPOS + 2], al.PEG_START[2], atol=1e-3)
    np.testing.assert_allclose(qpos[:, al.SOCKET_QPOS + 2], al.SOCKET_START[2], atol=1e-3)
    terms = sim.reward_terms.cpu().numpy()
    assert np.all(terms[:, TERM["no_table_collision"]] == 0.3) and np.all(terms[:, TERM["peg_insertion"]] == 0)


# ------------------------------------------------------------------------------- task kernel


def test_reward_and_termination_match_reference_on_constructed_states(sim, device):
    """At the start; both lifted to their goals upright; the peg inserted into the lifted socket vs
    beside its axis; the peg lifted but lying on its side; peg or socket out of the workspace; a
    finger on the table; a non-finite state."""
    task, mjm = sim.task, sim.mjm
    start = al.start_qpos(mjm)
    socket_at_goal = start.copy()
    _place(socket_at_goal, al.SOCKET_QPOS, al.SOCKET_GOAL)
    # The socket's axis runs from its rear (the body origin) along +x to the entrance: a peg whose
    # end2 (at -0.048 m along the peg's x) sits at the rear has its centre 0.048 m further in +x.
    rear = np.array(al.SOCKET_GOAL)
    states = {
        "start": start,
        "lifted": _placed(start, (al.PEG_QPOS, al.PEG_GOAL), (al.SOCKET_QPOS, al.SOCKET_GOAL)),
        "inserted": _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.048, 0.0, 0.0])),
        "half_inserted": _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.088, 0.0, 0.0])),
        "beside_axis": _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.048, 0.0, 0.01])),
        "peg_on_its_side": _placed(start, (al.PEG_QPOS, al.PEG_GOAL, (np.sqrt(0.5), np.sqrt(0.5), 0.0, 0.0))),
        "peg_outside": _placed(start, (al.PEG_QPOS, (0.2, 1.1, 0.02))),
        "socket_outside": _placed(start, (al.SOCKET_QPOS, (-0.2, 0.0, -1.2))),
        "finger_on_table": start,
        "nan": start.copy(),
    }
    names = list(states)
    qpos = np.stack([states[n] for n in names])
    qpos[names.index("nan"), 3] = np.nan
    rng = np.random.default_rng(3)
    qvel = rng.normal(0.0, 0.5, (len(names), mjm.nv))
    action = rng.uniform(-1.0, 1.0, (len(names), mjm.nu))
    touch = np.array([name == "finger_on_table" for name in names])
    obs, terms, terminated = _check_reference(task, mjm, qpos, qvel, action, touch, device)
    t = {name: terms[i] for i, name in enumerate(names)}
    done = {name: terminated[i] for i, name in enumerate(names)}

    for name in ("socket_lift", "peg_lift", "socket_upright", "peg_upright"):
        assert t["lifted"][TERM[name]] == pytest.approx(al.WEIGHTS[name], abs=1e-5), name
        assert 0.0 <= t["start"][TERM[name]] < 0.5 * al.WEIGHTS[name], name
    assert t["inserted"][TERM["peg_insertion"]] == pytest.approx(8.0, abs=1e-4)
    assert 0.0 < t["half_inserted"][TERM["peg_insertion"]] < 8.0
    assert t["beside_axis"][TERM["peg_insertion"]] == 0.0 and t["start"][TERM["peg_insertion"]] == 0.0
    # The two goals face each other: lifted there, the peg's end waits 5 cm before the socket's rear.
    assert t["lifted"][TERM["peg_insertion"]] == pytest.approx(8.0 * (1.0 - 0.9 * 0.051 / 0.1), abs=1e-3)
    assert t["peg_on_its_side"][TERM["peg_lift"]] == pytest.approx(4.0, abs=1e-5)
    assert t["peg_on_its_side"][TERM["peg_upright"]] == 0.0
    assert t["finger_on_table"][TERM["no_table_collision"]] == 0.0 and t["start"][TERM["no_table_collision"]] == 0.3
    for name in ("left_posture", "right_posture"):
        assert t["start"][TERM[name]] == pytest.approx(0.3, abs=1e-6)
    assert not any(done[n] for n in ("start", "lifted", "inserted", "finger_on_table"))
    assert done["peg_outside"] and done["socket_outside"] and done["nan"]
    np.testing.assert_array_equal(obs[names.index("nan")], 0.0)
    # The actor's part holds no object state: moving the peg and socket changes only the critic's part.
    start_row, lifted_row = names.index("start"), names.index("lifted")
    qvel[lifted_row], action[lifted_row] = qvel[start_row], action[start_row]
    obs, _, _, _ = _evaluate(task, mjm, qpos, qvel, action, touch, device)
    np.testing.assert_array_equal(obs[start_row, :al.PROPRIO_DIM], obs[lifted_row, :al.PROPRIO_DIM])
    assert not np.allclose(obs[start_row, al.PROPRIO_DIM:], obs[lifted_row, al.PROPRIO_DIM:])


def test_metrics_flag_lifted_bodies_and_an_inserted_peg_for_the_rest_of_the_episode(sim, device):
    """Hand-built states: the start (nothing); both at their lift goals (lifted, the peg's end 4 mm
    before the socket's entrance: not inserted); the peg's end at the socket's rear and 4 cm past
    the entrance (inserted) vs 1 cm off the socket's axis (not); the peg 11 mm and the socket 9 mm
    under their goal heights (socket lifted only); the start after every flag was set (they stay),
    and the same on an episode's first step (they start at 0); a non-finite state keeps them."""
    task, mjm = sim.task, sim.mjm
    start = al.start_qpos(mjm)
    socket_at_goal = _placed(start, (al.SOCKET_QPOS, al.SOCKET_GOAL))
    rear = np.array(al.SOCKET_GOAL)
    rows = [
        start,
        _placed(start, (al.PEG_QPOS, al.PEG_GOAL), (al.SOCKET_QPOS, al.SOCKET_GOAL)),
        _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.048, 0.0, 0.0])),
        _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.088, 0.0, 0.0])),
        _placed(socket_at_goal, (al.PEG_QPOS, rear + [0.048, 0.0, 0.01])),
        _placed(start, (al.PEG_QPOS, np.array(al.PEG_GOAL) - [0.0, 0.0, 0.011]),
                (al.SOCKET_QPOS, np.array(al.SOCKET_GOAL) - [0.0, 0.0, 0.009])),
        start, start, start.copy(),
    ]
    qpos = np.stack(rows)
    qpos[8, 3] = np.nan
    num = len(rows)
    qvel = np.zeros((num, mjm.nv))
    episode_step = np.array([0, 0, 0, 0, 0, 0, 7, 0, 7])
    previous = np.full((num, 3), np.inf)
    previous[6], previous[7], previous[8] = (1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (0.0, 1.0, 0.0)
    sites = np.stack([_sites(mjm, np.nan_to_num(q)) for q in qpos])
    measured = measure_rows(task, device, episode_step, previous, qpos=qpos, qvel=qvel, site_xpos=sites)
    np.testing.assert_array_equal(measured, [[0, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 0], [0, 1, 0],
                                             [1, 1, 1], [0, 0, 0], [0, 1, 0]])
    check_measure_reference(task, measured, episode_step, previous, *zip(qpos, qvel))


def _placed(qpos, *placements) -> np.ndarray:
    """A copy of qpos with each (qpos address, position[, quaternion]) applied."""
    qpos = qpos.copy()
    for adr, *pose in placements:
        _place(qpos, adr, *pose)
    return qpos


def test_random_states_match_reference(sim, device):
    """Arm poses around the default, any finger opening, peg and socket anywhere (some outside the
    workspace), tumbled; table contacts both ways."""
    task, mjm = sim.task, sim.mjm
    rng = np.random.default_rng(0)
    num = 24
    qpos = np.tile(al.start_qpos(mjm), (num, 1))
    arm = [a * (al.NUM_ARM + 2) + i for a in range(2) for i in range(al.NUM_ARM)]
    qpos[:, arm] += rng.uniform(-1.0, 1.0, (num, len(arm)))
    qpos[:, [6, 7, 14, 15]] = rng.uniform(0.0, 0.041, (num, 4))
    for adr in (al.PEG_QPOS, al.SOCKET_QPOS):
        qpos[:, adr:adr + 3] = rng.uniform([-1.1, -1.1, -0.1], [1.1, 1.1, 0.4], (num, 3))
        quat = rng.normal(size=(num, 4))
        qpos[:, adr + 3:adr + 7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    qvel = rng.normal(0.0, 2.0, (num, mjm.nv))
    action = rng.uniform(-1.2, 1.2, (num, mjm.nu))  # beyond +-1 too: the targets clamp as the simulator's
    touch = rng.integers(0, 2, num)
    _, terms, terminated = _check_reference(task, mjm, qpos, qvel, action, touch, device)
    assert 0 < terminated.sum() < num
    assert (terms[:, TERM["left_reach"]] > 0).any() and (terms[:, TERM["peg_lift"]] > 0).any()


def test_table_contacts_match_c_mujoco(sim, device):
    """The flag of a finger touching the table equals C MuJoCo's contact list on the same states:
    the start (only the peg and the socket on the table), the right or the left fingers pressed onto
    the table, the left gripper 3 cm over it."""
    mjm = sim.mjm
    start = al.start_qpos(mjm)
    pressed = _reach(mjm, "right", np.array([0.25, -0.05, 0.0]), start)
    left_pressed = _reach(mjm, "left", np.array([-0.25, -0.05, -0.01]), start)
    above = _reach(mjm, "left", np.array([-0.25, 0.05, 0.03]), start)
    states = [start, pressed, left_pressed, above]
    qpos = np.tile(start, (sim.num_worlds, 1))
    qpos[:len(states)] = states
    expected = []
    data = mujoco.MjData(mjm)
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_forward(mjm, data)
        expected.append(al.np_touch(mjm, data))
    assert expected[1] and expected[2] and not expected[0] and not expected[3]
    sim.qpos.copy_(torch.tensor(qpos, dtype=torch.float32))
    sim.qvel.zero_()
    with wp.ScopedDevice(sim.device):
        mjw.forward(sim.m, sim.d)
        sim.task.sense(sim.d, sim.task_inputs.contacts)
        touch = sim.task_inputs.contacts.numpy()[:, 0]
    np.testing.assert_array_equal(touch.astype(bool), expected)
    sim.reset()


def test_peg_and_socket_draws_follow_the_distribution(device):
    """Every masked world: the peg and the socket moved from their start by U(-0.1, 0.1) m in x and
    y, nothing else; reproducible for a (seed, reset count), different for another."""
    task = make_task(TASK)
    worlds = 512
    start = al.start_qpos(al._task_model()).astype(np.float32)

    def draw(count):
        d = types.SimpleNamespace(qpos=wp.array(np.tile(start, (worlds, 1)), dtype=float, device=device))
        mask = np.ones(worlds, dtype=bool)
        mask[7] = False
        task.reset_scene(d, 3, wp.array(mask, dtype=bool, device=device),
                         wp.array(np.full(worlds, count, np.int32), dtype=int, device=device))
        return d.qpos.numpy(), mask

    qpos, mask = draw(1)
    np.testing.assert_array_equal(qpos[7], start)
    moved = [al.PEG_QPOS, al.PEG_QPOS + 1, al.SOCKET_QPOS, al.SOCKET_QPOS + 1]
    kept = [i for i in range(len(start)) if i not in moved]
    np.testing.assert_array_equal(qpos[:, kept], np.tile(start[kept], (worlds, 1)))
    offset = (qpos[mask][:, moved] - start[moved]) / (2 * al.START_RANGE) + 0.5  # uniform on [0, 1]
    assert np.all(offset >= -1e-6) and np.all(offset <= 1 + 1e-6)
    assert np.all(np.abs(offset.mean(0) - 0.5) < 5 * np.sqrt(1 / 12 / len(offset)))
    assert np.all(np.abs(offset.var(0) - 1 / 12) < 0.02) and np.all(offset.min(0) < 0.02)
    again, _ = draw(1)
    np.testing.assert_array_equal(again, qpos)
    other, _ = draw(2)
    assert not np.allclose(other[mask][:, moved], qpos[mask][:, moved])


def test_groups_share_their_nominals_peg_and_socket(sim):
    sim.reset()
    peg = sim.qpos[:, al.PEG_QPOS].cpu().numpy()
    assert len(np.unique(peg)) == sim.num_worlds, "every world draws its own peg position"
    sim.reset_aux_from_nominal()
    groups = sim.qpos.cpu().numpy().reshape(NUM_NOMINAL, NUM_AUX + 1, -1)
    for n in range(NUM_NOMINAL):
        for k in range(1, NUM_AUX + 1):
            np.testing.assert_array_equal(groups[n, k], groups[n, 0])
    assert not np.array_equal(groups[0, 0, al.PEG_QPOS:], groups[1, 0, al.PEG_QPOS:])


# ------------------------------------------------------------------------------- cameras


def test_one_multi_camera_render_equals_each_camera_alone(sim):
    """The three cameras' stacks lie one after another along the channels, each equal to the camera
    rendered alone, through a refill and two pushes (frames shift per camera)."""
    sim.reset()
    size, frames = 16, 2
    both = NominalRenderer(sim, size, size, frames, "rgb", camera=sim.task.cameras)
    alone = [NominalRenderer(sim, size, size, frames, "rgb", camera=name) for name in sim.task.cameras]
    depth = NominalRenderer(sim, size, size, frames, "depth", camera=sim.task.cameras)
    depth_alone = [NominalRenderer(sim, size, size, frames, "depth", camera=name) for name in sim.task.cameras]
    assert both.stack.shape == (NUM_NOMINAL, 3 * 3 * frames, size, size) and both.num_cameras == 3
    assert depth.stack.shape == (NUM_NOMINAL, 3 * frames, size, size)
    rng = np.random.default_rng(0)
    for _ in range(2):
        sim.step(torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)), dtype=torch.float32))
        stacks = [r.render() for r in (both, depth, *alone, *depth_alone)]
        for k in range(3):
            torch.testing.assert_close(stacks[0][:, 3 * frames * k:3 * frames * (k + 1)], stacks[2 + k], rtol=0, atol=0)
            torch.testing.assert_close(stacks[1][:, frames * k:frames * (k + 1)], stacks[5 + k], rtol=0, atol=0)
    assert not torch.equal(stacks[0][:, :3 * frames], stacks[0][:, 3 * frames:6 * frames]), "cameras differ"
    with pytest.raises(ValueError, match="twice"):
        NominalRenderer(sim, size, size, 1, "rgb", camera=("table", "table"))


def test_cameras_see_the_peg_and_socket_depth_matches_mj_ray(sim):
    """Each camera's depth (its block of the multi-camera stack) equals C MuJoCo's mj_ray; the table
    camera sees both the peg and the socket, each wrist camera its arm's fingers and the table."""
    sim.reset()
    size = 32
    renderer = NominalRenderer(sim, size, size, 1, "depth", camera=sim.task.cameras)
    depth = renderer.render()[0].cpu().numpy()
    qpos = sim.qpos[0].cpu().numpy()
    mjm = sim.mjm
    seen = []
    for k, camera_id in enumerate(renderer.camera_ids):
        expected, geom = reference_rays(mjm, qpos, camera_id, size)
        expected = np.minimum(expected, renderer.zfar)
        bad = np.abs(depth[k] - expected) > 1e-3 + 1e-3 * expected
        assert bad.mean() <= 0.03, f"camera {k}: {bad.sum()} pixels differ"
        seen.append({mjm.body(mjm.geom_bodyid[g]).name for g in geom[geom >= 0]})
    assert {"peg/peg", "socket/socket"} <= seen[0]
    for arm, bodies in zip(al.ARMS, seen[1:]):
        assert f"{arm}/left_finger_link" in bodies and "world" in bodies, bodies


def test_per_camera_encoders_see_their_own_camera_only():
    """Each camera's features depend on its own channels alone; the actor of the task's config has
    one encoder per camera with the authors' widths (256, 32, 32)."""
    torch.manual_seed(0)
    encoder = MultiCameraEncoder("rgb", (9, 16, 16), (8, 4, 4))
    images = torch.randint(0, 256, (3, 9, 16, 16), dtype=torch.uint8)
    features = encoder(images)
    assert features.shape == (3, 16)
    changed = images.clone()
    changed[:, 3:6] = 255 - changed[:, 3:6]
    other = encoder(changed)
    torch.testing.assert_close(other[:, :8], features[:, :8])
    torch.testing.assert_close(other[:, 12:], features[:, 12:])
    assert not torch.allclose(other[:, 8:12], features[:, 8:12])
    cfg = task_defaults(TASK, "rgb")
    assert cfg.encoder_dims == (256, 32, 32) and cfg.frames == 1 and cfg.image_size == 64
    assert cfg.actor_obs_shape(0) == (9, 64, 64)
    actor = Actor.from_config(cfg, cfg.actor_obs_shape(al.PRIVILEGED_DIM + al.PROPRIO_DIM, al.PROPRIO_DIM),
                              al.NUM_ACTIONS, al.PROPRIO_DIM)
    assert [e.output_dim for e in actor.encoder.image.cameras] == [256, 32, 32]
    with pytest.raises(ValueError, match="camera-encoder-dims has 2 widths"):
        cfg.__class__(**{**cfg.__dict__, "camera_encoder_dims": (8, 8)}).validate()


# ------------------------------------------------------------------------------- end to end


@pytest.mark.parametrize("modality", ["rgb", "depth"])
def test_training_from_pixels_and_proprioception_runs(tmp_path, device, modality):
    args = ["--task", TASK, "--obs", modality, "--num-nominal", "2", "--num-aux", "3",
            "--horizon", "4", "--image-size", "16", "--critic-minibatch", "32", "--epochs", "3",
            "--camera-encoder-dims", "16", "8", "8", "--device", device, "--log-dir", str(tmp_path),
            "--run-name", "r"]
    assert train.main(args) == 0
    assert (tmp_path / "r" / "checkpoint.pt").exists()
    check_ego_export(tmp_path / "r", modality)
