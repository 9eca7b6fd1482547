"""NVTX ranges for Nsight, with a recording hook for tests.

Every phase of the epoch and every kernel wrapper runs inside ``nvtx_range(name)`` so that an
Nsight Systems timeline reads as the algorithm (epoch > rollout > step > physics / render / actor).
"""

import contextlib
from typing import Callable, Iterator, Optional

import nvtx

_DOMAIN = nvtx.get_domain("sdpg_warp")
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
    _DOMAIN.push_range(_DOMAIN.get_event_attributes(message=name))
    try:
        yield
    finally:
        _DOMAIN.pop_range()
        if _hook is not None:
            _hook("pop", name)
