"""Terrain curriculum per nominal group: both kernels against NumPy references, and go2_terrain's groups
on their levels."""

import numpy as np
import pytest
import torch
import warp as wp

from sdpg_warp.curriculum import CurriculumLevels, TerrainLevels
from sdpg_warp.kernels import curriculum as kernels
from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task
from sdpg_warp.tasks.common import streams
from test_randomization import _Stream

ROWS, COLS, SIZE, G = 10, 4, 8.0, 3
SPEC = TerrainLevels(rows=ROWS, cols=COLS, size=SIZE, command_body=0, max_init_level=1)
EPISODE_S = 20.0
ORIGINS = np.array([((i + 0.5) * SIZE, (j + 0.5) * SIZE, 0.1 * i + 0.01 * j) for i in range(ROWS) for j in range(COLS)],
                   dtype=np.float32)


def _levels(device, groups):
    return CurriculumLevels(SPEC, ORIGINS, groups * G, G, EPISODE_S, device)


def test_level_update_matches_numpy_reference(device):
    """First reset: a drawn level in 0..1; then up past size/2, down below half the commanded way,
    past the last row a drawn row, never below 0; unmasked nominals keep theirs."""
    groups = 6
    levels = _levels(device, groups)
    W = groups * G
    started = np.array([0, 1, 1, 1, 1, 1], dtype=np.int32)
    level = np.array([0, 3, 3, 9, 0, 5], dtype=np.int32)
    start = np.array([(4, 4), (4, 4), (4, 4), (4, 4), (4, 4), (4, 4)], dtype=np.float32)
    walked = np.array([0.0, 5.0, 1.0, 6.0, 0.5, 0.2], dtype=np.float32)  # m along x
    command = np.zeros((W, 1, 3), dtype=np.float32)
    command[::G, 0, 0] = [0.0, 1.0, 0.5, 0.0, 1.0, 1.0]  # half-way commanded: 10, 5, 0 m
    qpos = np.zeros((W, 7), dtype=np.float32)
    qpos[::G, 0] = start[:, 0] + walked
    qpos[::G, 1] = start[:, 1]
    mask = np.ones(W, dtype=bool)
    mask[5 * G] = False
    counts = np.arange(W, dtype=np.int32) * 3
    for array, value in ((levels._started, started), (levels.level, level), (levels._start, start)):
        array.assign(wp.array(value, dtype=array.dtype, device=device))
    levels.before_reset(11, wp.array(mask, dtype=bool, device=device), wp.array(counts, dtype=int, device=device),
                        wp.array(qpos, dtype=float, device=device), wp.array(command, dtype=wp.vec3, device=device))
    expected = level.copy()
    for n in range(groups):
        world = n * G
        if not mask[world]:
            continue
        rng = _Stream(11 + int(counts[world]) * streams.RESET_STRIDE + streams.TERRAIN_LEVEL, world)
        if not started[n]:
            expected[n] = rng.randi(0, 2)
            continue
        commanded = abs(command[world, 0, 0]) * EPISODE_S * 0.5
        up = walked[n] > SIZE / 2
        value = level[n] + (1 if up else (-1 if walked[n] < commanded else 0))
        expected[n] = max(rng.randi(0, ROWS) if value >= ROWS else value, 0)
    np.testing.assert_array_equal(levels.level.numpy(), expected)
    assert expected.tolist()[1:5] == [4, 2, expected[3], 0] and expected[5] == 5
    np.testing.assert_array_equal(levels._started.numpy(), [1, 1, 1, 1, 1, 1])


def test_placement_matches_numpy_reference(device):
    """Masked worlds move from their drawn sub-terrain to their group's level, same column; the
    nominal records its start point."""
    groups = 2
    levels = _levels(device, groups)
    W = groups * G
    levels.level.assign(wp.array(np.array([7, 2], dtype=np.int32), dtype=int, device=device))
    rng = np.random.default_rng(0)
    cells = [(1, 3), (0, 0), (4, 2), (9, 1), (2, 2), (5, 3)]
    qpos = np.zeros((W, 7), dtype=np.float32)
    for w, (i, j) in enumerate(cells):
        qpos[w, :3] = ORIGINS[i * COLS + j] + [rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02), 0.45]
    mask = np.array([True, True, False, True, False, True])
    qpos_wp = wp.array(qpos, dtype=float, device=device)
    levels.after_reset(wp.array(mask, dtype=bool, device=device), qpos_wp)
    expected = qpos.copy()
    for w, (i, j) in enumerate(cells):
        if mask[w]:
            target = ORIGINS[levels.level.numpy()[w // G] * COLS + j]
            expected[w, 0] += target[0] - ORIGINS[i * COLS + j, 0]
            expected[w, 2] += target[2] - ORIGINS[i * COLS + j, 2]
    np.testing.assert_allclose(qpos_wp.numpy(), expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(levels._start.numpy()[0], ORIGINS[7 * COLS + 3, :2])


@pytest.mark.task("go2_terrain")
def test_go2_groups_start_on_their_level_and_resume_exactly(device):
    sim = BatchedSim(make_task("go2_terrain", episode_length=4), 3, 2, device=device, seed=3, curriculum=True)
    sim.reset()
    zero = torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device)
    assert set(sim._curriculum.level.numpy()) <= {0, 1}
    saved = sim.state_dict()
    assert {"curriculum.level", "curriculum.started", "curriculum.start"} <= set(saved)

    def run():
        rows = []
        for _ in range(9):
            sim.step(zero)
            sim.reset_done_episodes()
            rows.append((sim._curriculum.level.numpy().copy(), sim.qpos.cpu().numpy().copy()))
        return rows

    first = run()
    levels, qpos = first[-1]
    # Episodes of 4 steps ended at steps 4 and 8: every world is on its group's level (row = x // size).
    np.testing.assert_array_equal(np.floor(qpos[:, 0] / SIZE).astype(int), np.repeat(levels, G))
    sim.load_state_dict(saved)
    for (l1, q1), (l2, q2) in zip(first, run()):
        np.testing.assert_array_equal(l1, l2)
        np.testing.assert_array_equal(q1, q2)
    plain = BatchedSim(make_task("go2_terrain", episode_length=4), 3, 2, device=device, seed=3)
    assert plain._curriculum is None and not any(k.startswith("curriculum.") for k in plain.state_dict())


def test_level_fractions_are_the_groups_level_histogram(device):
    levels = _levels(device, 5)
    levels.level.assign(wp.array(np.array([0, 3, 3, 9, 3], dtype=np.int32), dtype=int, device=device))
    fractions = {name: float(value) for name, value in levels.level_fractions().items()}
    expected = np.bincount([0, 3, 3, 9, 3], minlength=ROWS) / 5
    assert fractions == {f"curriculum/level_{k}": expected[k] for k in range(ROWS)}


def test_runner_logs_the_level_distribution(device, monkeypatch):
    """The logged scalars of a go2_terrain epoch hold ``curriculum/level_k`` summing to 1."""
    import dataclasses

    from sdpg_warp import logger as logger_module
    from sdpg_warp.config import task_defaults
    from sdpg_warp.runner import Runner

    cfg = dataclasses.replace(task_defaults("go2_terrain"), obs="state", proprio_history=1, render_hw=(), image_crop=(),
                              image_hw=(), depth_far=None, num_nominal=2, num_aux=1, horizon=2,
                              epochs=1, critic_minibatch=4, graph=False, device=device)
    seen = {}
    original = logger_module.Logger.log

    def log(self, epoch, epochs, metrics, *args, **kwargs):
        seen.update({name: float(value) for name, value in metrics.items()})
        return original(self, epoch, epochs, metrics, *args, **kwargs)

    monkeypatch.setattr(logger_module.Logger, "log", log)
    Runner(cfg).train()
    levels = {name: value for name, value in seen.items() if name.startswith("curriculum/level_")}
    assert len(levels) == make_task("go2_terrain").curriculum.rows and abs(sum(levels.values()) - 1.0) < 1e-12


def test_runs_saved_before_the_curriculum_resume_without_it():
    import dataclasses
    import json

    from sdpg_warp.config import TrainConfig, task_defaults

    saved = dataclasses.asdict(task_defaults("go2_terrain"))
    assert saved["curriculum"] is True
    del saved["curriculum"]
    assert TrainConfig.from_json(json.dumps(saved)).curriculum is False
