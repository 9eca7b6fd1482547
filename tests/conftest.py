"""Shared test fixtures. Tests run on the CPU by default; ``pytest --gpu`` runs them on ``cuda:0``."""

import pytest
import warp as wp


def pytest_addoption(parser):
    parser.addoption("--gpu", action="store_true", default=False, help="run the tests on cuda:0")


@pytest.fixture(scope="session")
def device(request) -> str:
    """The Warp/Torch device every test runs on: "cpu", or "cuda:0" with --gpu."""
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    if request.config.getoption("--gpu"):
        if wp.get_cuda_device_count() == 0:
            pytest.exit("--gpu given but Warp finds no CUDA device", returncode=2)
        return "cuda:0"
    return "cpu"
