"""Timing helpers shared by the benchmarks: eager calls and replays of one captured Warp graph."""

import time
from typing import Callable

import warp as wp


def time_eager(work: Callable[[], object], repeats: int, device: str) -> float:
    """Seconds for ``repeats`` calls of ``work`` (after one warm-up call), device synchronized."""
    work()
    wp.synchronize_device(device)
    start = time.perf_counter()
    for _ in range(repeats):
        work()
    wp.synchronize_device(device)
    return time.perf_counter() - start


def time_graph(work: Callable[[], object], repeats: int, device: str) -> float:
    """Seconds for ``repeats`` replays of ``work`` captured once as a Warp graph (after one warm-up
    replay). Recording may run the work once more on some devices."""
    with wp.ScopedCapture(device=device) as capture:
        work()
    return time_eager(lambda: wp.capture_launch(capture.graph), repeats, device)
