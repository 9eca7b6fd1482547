"""Shared test fixtures. Tests run on the CPU by default; ``pytest --gpu`` runs them on ``cuda:0``."""

import pytest
import warp as wp

from sdpg_warp.device import ExecutionScope, resolve_device


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", default=False, help="run the tests on cuda:0")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: learning tests (minutes); skip with -m 'not slow'")


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
