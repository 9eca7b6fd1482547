"""Domain randomization per nominal group: the draw and push kernels against NumPy references (Warp's
PCG stream rebuilt in NumPy), group sharing, redraws, C MuJoCo with each world's values, resume."""

import copy
import dataclasses

import mujoco
import numpy as np
import pytest
import torch

from conftest import assert_same_physics
from sdpg_warp.kernels import randomize as kernels
from sdpg_warp.randomization import MODEL_FIELDS, Randomization, with_overrides
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks.common import streams

N, M = 2, 3
G = M + 1
TASK = "ant"  # a free root (pushes), damped and armatured joints, one friction on every geom
SPEC = Randomization(body="torso", friction=(0.5, 1.25), added_mass=(-0.1, 0.3), com_offset=(-0.01, 0.01),
                     kp_scale=(0.8, 1.2), kd_scale=(0.8, 1.2), motor_offset=(-0.02, 0.02), damping_scale=(0.5, 2.0),
                     armature_scale=(0.5, 2.0), push_interval_s=0.02, push_velocity=1.0)
"""Every quantity drawn; a push every 2 environment steps (ant: 2 x 5 ms physics steps)."""


def _pcg(state: int) -> int:
    b = (state * 747796405 + 2891336453) & 0xFFFFFFFF
    c = (((b >> ((b >> 28) + 4)) ^ b) * 277803737) & 0xFFFFFFFF
    return (c >> 22) ^ c


class _Stream:
    """NumPy twin of Warp's ``rand_init(seed, offset)`` / ``randf`` (warp/native/rand.h)."""

    def __init__(self, seed: int, offset: int):
        self.state = _pcg(((seed & 0xFFFFFFFF) + _pcg(offset & 0xFFFFFFFF)) & 0xFFFFFFFF)

    def randi(self, lo: int, hi: int) -> int:
        self.state = _pcg(self.state)
        return self.state % (hi - lo) + lo

    def uniform(self, lo: float, hi: float) -> np.float32:
        self.state = _pcg(self.state)
        u = np.float32(self.state >> 8) * np.float32(1.0 / 16777216.0)
        return np.float32(lo) + (np.float32(hi) - np.float32(lo)) * u


def _reference_draw(spec: Randomization, mjm: mujoco.MjModel, seed: int, nominal: int, count: int) -> dict:
    """The model fields of one group's draw (NumPy, float32), keyed as the kernel's stream."""
    rng = _Stream(seed + count * streams.RESET_STRIDE + streams.PHYSICS_DRAW, nominal)
    r = spec.ranges()
    body = mujoco.mj_name2id(mjm, mujoco.mjtObj.mjOBJ_BODY, spec.body)
    f32 = lambda a: np.array(a, dtype=np.float32)  # noqa: E731
    out = {"geom_friction": f32(mjm.geom_friction), "body_mass": f32(mjm.body_mass),
           "body_subtreemass": f32(mjm.body_subtreemass), "body_inertia": f32(mjm.body_inertia),
           "body_ipos": f32(mjm.body_ipos), "actuator_gainprm": f32(mjm.actuator_gainprm),
           "actuator_biasprm": f32(mjm.actuator_biasprm), "dof_damping": f32(mjm.dof_damping),
           "dof_armature": f32(mjm.dof_armature)}
    out["geom_friction"][:, 0] = rng.uniform(*r["friction"])
    added = rng.uniform(*r["added_mass"])
    mass0 = out["body_mass"][body]
    out["body_mass"][body] = mass0 + added
    out["body_inertia"][body] *= (mass0 + added) / mass0
    b = body
    while True:
        out["body_subtreemass"][b] += added
        if b == 0:
            break
        b = mjm.body_parentid[b]
    out["body_ipos"][body] += [rng.uniform(*r["com_offset"]) for _ in range(3)]
    for a in range(mjm.nu):
        kp, kd, target = (rng.uniform(*r[name]) for name in ("kp_scale", "kd_scale", "motor_offset"))
        gain, bias = out["actuator_gainprm"][a], out["actuator_biasprm"][a]
        gain[0] *= kp
        bias[0] += gain[0] * target
        bias[1] *= kp
        bias[2] *= kd
    free = mjm.jnt_type == mujoco.mjtJoint.mjJNT_FREE
    free_dofs = {mjm.jnt_dofadr[j] + i for j in np.flatnonzero(free) for i in range(6)}
    for i in range(mjm.nv):
        damping, armature = rng.uniform(*r["damping_scale"]), rng.uniform(*r["armature_scale"])
        if i not in free_dofs:
            out["dof_damping"][i] *= damping
            out["dof_armature"][i] *= armature
    return out


@pytest.fixture(scope="module")
def sim(device):
    sim = BatchedSim(TASK, N, M, device=device, seed=5, randomize=SPEC)
    sim.reset()
    return sim


def _fields(sim) -> dict:
    return {name: sim.world_values(name).cpu().numpy().copy() for name in sim._randomizer.fields}


def _assert_group_draw(sim, fields: dict, n: int) -> None:
    count = int(sim._reset_count.numpy()[n * G])
    expected = _reference_draw(SPEC, sim.mjm, sim.seed, n * G, count)
    for name, values in fields.items():
        for k in range(G):
            np.testing.assert_allclose(values[n * G + k], expected[name], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{name}, group {n}, world {k}")


def test_draw_matches_numpy_reference_shared_in_group_distinct_across(sim):
    fields = _fields(sim)
    assert sorted(fields) == sorted({f for names in MODEL_FIELDS.values() for f in names})
    for n in range(N):
        _assert_group_draw(sim, fields, n)
    for name, values in fields.items():
        grouped = values.reshape(N, G, -1)
        np.testing.assert_array_equal(grouped, np.repeat(grouped[:, :1], G, axis=1), err_msg=name)
        assert not np.array_equal(grouped[0, 0], grouped[1, 0]), f"{name}: two groups drew the same"


def test_draws_reproducible_by_seed(sim, device):
    """A fresh simulator of another seed draws its seed's reference values, unlike this seed's."""
    other = BatchedSim(TASK, N, M, device=device, seed=6, randomize=SPEC)
    other.reset()
    others = _fields(other)
    for n in range(N):
        _assert_group_draw(other, others, n)
    count = int(other._reset_count.numpy()[0])
    mine = _reference_draw(SPEC, sim.mjm, sim.seed, 0, count)
    assert not np.array_equal(mine["body_mass"], others["body_mass"][0])


def test_redraw_on_nominal_reset_only(sim):
    sim.step(torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device))
    before = _fields(sim)
    aux_only = torch.zeros(sim.num_worlds, dtype=torch.bool, device=sim.qpos.device)
    aux_only[1:G] = True
    aux_only[G + 2] = True
    sim.reset(aux_only)  # auxiliaries reset alone (e.g. unhealthy): their group keeps its physics
    for name, values in _fields(sim).items():
        np.testing.assert_array_equal(values, before[name], err_msg=name)
    # Nominal 1's episode ends: group 1 redraws, its auxiliaries take the nominal's state and draw.
    sim.truncated.zero_()
    sim.terminated.zero_()
    sim.truncated[G] = True
    sim.reset_done_episodes()
    after = _fields(sim)
    for name, values in after.items():
        np.testing.assert_array_equal(values[:G], before[name][:G], err_msg=f"{name}: group 0 changed")
    _assert_group_draw(sim, after, 1)
    assert not np.array_equal(after["body_mass"][G:], before["body_mass"][G:])


def test_randomized_fields_reach_the_physics_as_in_c_mujoco(sim):
    """Each world's step equals C MuJoCo's on a model carrying that world's values (one physics step
    per environment step compared from the same state; no push is due: episode steps 1..)."""
    rng = np.random.default_rng(0)
    lo, hi = sim.mjm.actuator_ctrlrange.T
    for w in (0, 1, G, 2 * G - 1):
        sim.reset()
        sim.step(torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device))  # to episode step 1: no push
        values = _fields(sim)
        mjm = copy.copy(sim.mjm)
        for name, array in values.items():
            getattr(mjm, name)[:] = array[w]
        mjd = mujoco.MjData(mjm)
        mjd.qpos[:] = sim.qpos[w].cpu().numpy()
        mjd.qvel[:] = sim.qvel[w].cpu().numpy()
        mjd.qacc_warmstart[:] = sim.d.qacc_warmstart.numpy()[w]
        action = rng.uniform(-1, 1, sim.num_actions).astype(np.float32)
        actions = torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device)
        actions[w] = torch.from_numpy(action)
        qpos, qvel = sim.qpos.clone(), sim.qvel.clone()
        sim.step(actions)
        mjd.ctrl[:] = lo + 0.5 * (action + 1.0) * (hi - lo)
        for _ in range(sim.task.frame_skip):
            mujoco.mj_step(mjm, mjd)
        np.testing.assert_allclose(sim.qpos[w].cpu().numpy(), mjd.qpos, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(sim.qvel[w].cpu().numpy(), mjd.qvel, atol=0.03 * max(1.0, np.abs(mjd.qvel).max()),
                                   rtol=1e-3)
        # The nominal model's step differs: the randomized values are what moved the world.
        nominal = mujoco.MjData(sim.mjm)
        nominal.qpos[:], nominal.qvel[:] = qpos[w].cpu().numpy(), qvel[w].cpu().numpy()
        nominal.ctrl[:] = mjd.ctrl
        for _ in range(sim.task.frame_skip):
            mujoco.mj_step(sim.mjm, nominal)
        assert np.abs(nominal.qvel - mjd.qvel).max() > 1e-4


def test_push_kernel_matches_numpy_reference(sim):
    """Pushes at the episode steps that are multiples of the interval, the same in a group."""
    import warp as wp

    randomizer = sim._randomizer
    assert randomizer.push_interval == 2
    W = sim.num_worlds
    steps = np.array([0, 2, 2, 2, 3, 4, 4, 1], dtype=np.int32)
    counts = np.array([3, 9, 9, 9, 5, 1, 1, 1], dtype=np.int32)
    qvel = np.random.default_rng(1).normal(size=(W, sim.mjm.nv)).astype(np.float32)
    qvel_wp = wp.array(qvel, dtype=float, device=sim.device)
    randomizer.push(sim.seed, wp.array(steps, dtype=int, device=sim.device),
                    wp.array(counts, dtype=int, device=sim.device), qvel_wp)
    expected = qvel.copy()
    for w in range(W):
        if steps[w] == 0 or steps[w] % 2:
            continue
        n = w - w % G
        rng = _Stream(sim.seed + int(counts[n]) * streams.RESET_STRIDE + streams.PUSHES,
                      n * streams.RESET_STRIDE + int(steps[w]))
        expected[w, 0] = rng.uniform(-1.0, 1.0)
        expected[w, 1] = rng.uniform(-1.0, 1.0)
    np.testing.assert_allclose(qvel_wp.numpy(), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(expected[1:3, :2], expected[3:4, :2].repeat(2, axis=0))
    np.testing.assert_array_equal(expected[5, :2], expected[6, :2])
    np.testing.assert_array_equal(qvel_wp.numpy()[[0, 4, 7]], qvel[[0, 4, 7]])


def test_groups_stay_identical_under_identical_actions_with_pushes(sim):
    rng = np.random.default_rng(2)
    sim.reset()
    sim.reset_aux_from_nominal()
    for _ in range(5):
        per_group = torch.tensor(rng.uniform(-1, 1, (N, sim.num_actions)).astype(np.float32), device=sim.qpos.device)
        sim.step(per_group.repeat_interleave(G, dim=0))
        grouped = sim.qvel.view(N, G, -1)
        assert_same_physics(grouped, grouped[:, :1].expand_as(grouped), str(sim.qpos.device), TASK,
                            "a group diverged under identical actions and pushes")


def test_exact_resume_with_randomization(sim):
    rng = np.random.default_rng(3)
    actions = [torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)).astype(np.float32),
                            device=sim.qpos.device) for _ in range(6)]
    saved = sim.state_dict()
    assert any(name.startswith("model.") for name in saved)

    def run():
        out = []
        for a in actions:
            sim.step(a)
            sim.reset_done_episodes()
            out.append((sim.qpos.cpu().numpy().copy(), _fields(sim)))
        return out

    first = run()
    sim.load_state_dict(saved)
    second = run()
    for (q1, f1), (q2, f2) in zip(first, second):
        np.testing.assert_array_equal(q1, q2)
        for name in f1:
            np.testing.assert_array_equal(f1[name], f2[name], err_msg=name)


def test_nominal_ranges_change_nothing(device):
    """Ranges that draw the model's own values (and pushes off) step bitwise like no randomization,
    and randomization off leaves every model field unbatched."""
    plain = BatchedSim(TASK, N, M, device=device, seed=2)
    assert plain._randomizer is None and plain.m.body_mass.shape[0] == 1 and plain.m.geom_friction.shape[0] == 1
    assert not any(name.startswith("model.") for name in plain.state_dict())
    with pytest.raises(ValueError, match="would have none"):
        BatchedSim(TASK, 1, 0, device=device, randomize=Randomization(body="torso", added_mass=(-1.0, 0.0)))
    with pytest.raises(ValueError, match="no free joint"):
        BatchedSim(TASK, 1, 0, device=device, randomize=Randomization(body="shin_1", push_interval_s=1.0,
                                                                      push_velocity=1.0))
    neutral = Randomization(body="torso", friction=(1.5, 1.5), added_mass=(0.0, 0.0), com_offset=(0.0, 0.0),
                            kp_scale=(1.0, 1.0), kd_scale=(1.0, 1.0), motor_offset=(0.0, 0.0),
                            damping_scale=(1.0, 1.0), armature_scale=(1.0, 1.0))
    same = BatchedSim(TASK, N, M, device=device, seed=2, randomize=neutral)
    assert same.m.body_mass.shape[0] == N * G
    rng = np.random.default_rng(4)
    for s in (plain, same):
        s.reset()
    for _ in range(4):
        a = torch.tensor(rng.uniform(-1, 1, (N * G, plain.num_actions)).astype(np.float32), device=plain.qpos.device)
        for s in (plain, same):
            s.step(a)
        for a, b in ((same.qpos, plain.qpos), (same.qvel, plain.qvel)):
            assert_same_physics(a, b, device, TASK, "neutral ranges changed the physics")


def test_spec_checks_and_overrides():
    assert Randomization().empty
    assert SPEC.describe().startswith("friction 0.5..1.25, added_mass -0.1..0.3, com_offset -0.01..0.01")
    assert SPEC.describe().endswith("pushes every 0.02 s up to 1 m/s (body torso)")
    assert with_overrides(None, ["friction=0.5,1.25"]).friction == (0.5, 1.25)
    spec = with_overrides(SPEC, ["kp-scale=none", "push_interval_s=5"])
    assert spec.kp_scale is None and spec.push_interval_s == 5.0 and spec.friction == SPEC.friction
    assert dataclasses.replace(SPEC, friction=(1.0, 0.5)).problems()[0].endswith("min above max")
    assert dataclasses.replace(SPEC, friction=(-0.1, 0.5)).problems()[0].endswith("must be >= 0")
    assert dataclasses.replace(SPEC, kp_scale=(-1.0, 1.0)).problems()
    assert dataclasses.replace(SPEC, push_velocity=-1.0).problems()
    assert SPEC.problems() == []
    for bad in (["friction=1"], ["mass=1,2"], ["friction"], ["friction=a,b"]):
        with pytest.raises(ValueError, match="--randomize-set"):
            with_overrides(SPEC, bad)


def test_registry_says_which_tasks_have_ranges():
    from sdpg_warp import tasks
    from sdpg_warp.tasks.registry import TASKS

    for name, info in TASKS.items():
        assert info.randomized == (tasks.task_class(name).randomization is not None), name


@pytest.mark.task("go2_terrain")
def test_go2_pd_gains_and_motor_offsets_reach_the_actuator_forces(device):
    """go2_terrain's ranges (on by ``randomize=True``): each world's PD servo forces equal C MuJoCo's
    on a model with that world's gains and offsets, and differ from the nominal model's."""
    import mujoco_warp as mjw
    import warp as wp

    sim = BatchedSim("go2_terrain", 2, 1, device=device, seed=1, randomize=True)
    assert sim.task.randomization.kd_scale == (0.8, 1.2) and sim.task.randomization.push_interval_s == 10.0
    sim.reset()
    rng = np.random.default_rng(5)
    sim.step(torch.tensor(rng.uniform(-1, 1, (sim.num_worlds, sim.num_actions)).astype(np.float32)).to(sim.qpos.device))
    with wp.ScopedDevice(sim.device):
        mjw.forward(sim.m, sim.d)
    forces = sim.d.actuator_force.numpy()
    values = {name: sim.world_values(name).cpu().numpy() for name in ("actuator_gainprm", "actuator_biasprm")}
    for w in range(sim.num_worlds):
        mjm = copy.copy(sim.mjm)
        for name, array in values.items():
            getattr(mjm, name)[:] = array[w]
        for model, expect_equal in ((mjm, True), (sim.mjm, False)):
            mjd = mujoco.MjData(model)
            mjd.qpos[:], mjd.qvel[:] = sim.qpos[w].cpu().numpy(), sim.qvel[w].cpu().numpy()
            mjd.ctrl[:] = sim.d.ctrl.numpy()[w]
            mujoco.mj_forward(model, mjd)
            if expect_equal:
                np.testing.assert_allclose(forces[w], mjd.actuator_force, rtol=1e-4, atol=1e-3)
            else:
                assert np.abs(forces[w] - mjd.actuator_force).max() > 1e-2
    np.testing.assert_array_equal(values["actuator_biasprm"][0], values["actuator_biasprm"][1])
