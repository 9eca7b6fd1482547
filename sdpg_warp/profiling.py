"""NVTX ranges for Nsight, with a recording hook for tests.

Every phase of the epoch and every kernel wrapper runs inside ``nvtx_range(name)`` so that an
Nsight Systems timeline reads as the algorithm (epoch > rollout > step > physics / render / actor).
"""

import contextlib
import time
from typing import Callable, Iterator, Optional

import nvtx
import warp as wp

_DOMAIN = nvtx.get_domain("sdpg_warp")
# Event attributes built once per range name: the rollout pushes ~15 ranges per step.
_ATTRIBUTES: dict = {}
_hook: Optional[Callable[[str, str], None]] = None


def set_range_hook(hook: Optional[Callable[[str, str], None]]) -> None:
    """Installs ``hook(event, name)``, called with event "push"/"pop" around every range (tests)."""
    global _hook
    _hook = hook


@contextlib.contextmanager
def nvtx_range(name: str) -> Iterator[None]:
    """A named NVTX range in the ``sdpg_warp`` domain."""
    if _hook is not None:
        _hook("push", name)
    if name not in _ATTRIBUTES:
        _ATTRIBUTES[name] = _DOMAIN.get_event_attributes(message=name)
    _DOMAIN.push_range(_ATTRIBUTES[name])
    try:
        yield
    finally:
        _DOMAIN.pop_range()
        if _hook is not None:
            _hook("pop", name)


class PhaseTimer:
    """Wall time per named phase, summed until :meth:`pop`; every phase is also an NVTX range.

    With ``synchronize`` the device is synchronized at the end of each phase, so a phase's time is
    its own work rather than the queue it left behind (a small cost; turn it off to profile in Nsight).
    """

    def __init__(self, device: str, synchronize: bool = True):
        self.device = device
        self.synchronize = synchronize
        self._totals: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        with nvtx_range(name):
            yield
            if self.synchronize:
                wp.synchronize_device(self.device)
        self._totals[name] = self._totals.get(name, 0.0) + time.perf_counter() - start

    def pop(self) -> dict[str, float]:
        """The summed seconds per phase since the last pop."""
        totals, self._totals = self._totals, {}
        return totals
