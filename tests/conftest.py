"""Shared test fixtures. Tests run on the CPU by default; ``pytest --gpu`` runs them on ``cuda:0``."""

import os
import pathlib

import pytest

import sdpg_warp.deploy  # noqa: F401  (before MuJoCo is imported: headless OpenGL for mujoco.Renderer)
import warp as wp

from sdpg_warp.device import ExecutionScope, resolve_device

MENAGERIE = pathlib.Path(__file__).resolve().parents[2] / "shared" / "menagerie"
"""The local Menagerie root beside the repository (../shared/menagerie): machines without internet
and CI read the ego-centric tasks' robots from it. A MENAGERIE_ROOT set outside wins."""
os.environ.setdefault("MENAGERIE_ROOT", str(MENAGERIE))


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", default=False, help="run the tests on cuda:0")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: learning tests (minutes); skip with -m 'not slow'")
    config.addinivalue_line("markers", "task(name): the test builds this task (skipped as below when it has no robot)")


@pytest.fixture(scope="session")
def device(request) -> str:
    """The Warp/Torch device every test runs on: "cpu", or "cuda:0" with --gpu.

    On CUDA the whole session runs in one :class:`ExecutionScope`, as training does: Torch and
    Warp share one stream, so a test reads what the kernels wrote without extra synchronization.
    """
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    if not request.config.getoption("--gpu"):
        return "cpu"
    try:
        device = resolve_device("cuda:0")
    except ValueError as e:
        pytest.exit(f"--gpu: {e}", returncode=2)
    scope = ExecutionScope(device)
    scope.__enter__()
    request.addfinalizer(lambda: scope.__exit__(None, None, None))
    return device


def pytest_collection_modifyitems(config, items):
    """Tests of a task built on a Menagerie robot (parameter ``task``, or a ``task(name)`` marker)
    skip, saying why, when no Menagerie root is there to read it from."""
    from sdpg_warp.tasks import make_task, task_names

    root = pathlib.Path(os.environ["MENAGERIE_ROOT"])
    for item in items:
        task = item.callspec.params.get("task") if hasattr(item, "callspec") else None
        marker = item.get_closest_marker("task")
        if marker is not None:
            task = marker.args[0]
        if not (isinstance(task, str) and task in task_names()):
            continue
        robot = make_task(task).menagerie_robot
        if robot and not (root / robot).is_dir():
            item.add_marker(pytest.mark.skip(reason=f"Menagerie robot {robot} not under MENAGERIE_ROOT={root}"))


BITWISE_ON_CUDA = ("pointmass",)
"""Tasks whose steps are bitwise reproducible on CUDA with ``deterministic=True``: mujoco_warp 4.0
reserves a world's contacts and constraint rows through atomic counters and its sorts are empty
(docs/gpu.md, "Determinism"), so the rows of a world with several contacts or active joint limits come
in a run-dependent order and the solver's sums round differently. The point mass has no contact
and at most one active limit per joint. On the CPU every task is bitwise reproducible."""


def bitwise_task(device: str, task: str = "hopper") -> str:
    """``task`` on the CPU; on CUDA the point mass, for tests that compare two runs bitwise."""
    return task if device == "cpu" or task in BITWISE_ON_CUDA else "pointmass"


def assert_same_physics(actual, expected, device: str, task: str, msg: str = "") -> None:
    """Bitwise where the task's physics is reproducible (:data:`BITWISE_ON_CUDA`, the CPU); else
    to float32 rounding, grown over a few steps (rtol 1e-4, atol 1e-5)."""
    import torch

    if device == "cpu" or task in BITWISE_ON_CUDA:
        assert torch.equal(actual, expected), msg
    elif actual.dtype in (torch.bool, torch.int32, torch.int64):
        assert torch.equal(actual, expected), msg
    else:
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5, msg=msg)
