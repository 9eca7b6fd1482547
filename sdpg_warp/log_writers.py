"""Where a run's logs go: a small :class:`LogWriter` protocol that the Runner and its Logger write
through (they never see a concrete writer), chosen by ``--logger``. docs/DESIGN.md "Extension
points" lists the files a new one touches."""

from typing import Callable, Dict, Optional, Protocol, Sequence

import numpy as np


class LogWriter(Protocol):
    """Scalars, text and videos of a run, by tag and epoch."""

    def add_scalar(self, tag: str, value: float, step: int) -> None: ...

    def add_text(self, tag: str, text: str, step: int) -> None: ...

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        """``frames``: [T, H, W, 3] uint8 RGB."""

    def flush(self) -> None: ...

    def close(self) -> None: ...


class NullWriter:
    """Writes nothing (``--logger none``)."""

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def add_text(self, tag: str, text: str, step: int) -> None:
        pass

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoardWriter:
    """TensorBoard event files in the run folder. ``purge_step`` (on resume): events from that step
    on, written before a crash lost them from the checkpoint, are dropped, so each step appears once."""

    def __init__(self, run_dir: str, purge_step: Optional[int] = None):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(run_dir, purge_step=purge_step)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._writer.add_scalar(tag, value, step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        self._writer.add_text(tag, text, step)

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        import torch

        # TensorBoard takes [N, T, C, H, W].
        video = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2)[None]
        self._writer.add_video(tag, video, step, fps=fps)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class FanOut:
    """One writer that passes every call to each of ``writers`` in turn."""

    def __init__(self, writers: Sequence[LogWriter]):
        self.writers = tuple(writers)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        for writer in self.writers:
            writer.add_scalar(tag, value, step)

    def add_text(self, tag: str, text: str, step: int) -> None:
        for writer in self.writers:
            writer.add_text(tag, text, step)

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        for writer in self.writers:
            writer.add_video(tag, frames, step, fps)

    def flush(self) -> None:
        for writer in self.writers:
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


LOGGERS: Dict[str, Callable[[str, Optional[int]], LogWriter]] = {
    "tensorboard": TensorBoardWriter,
    "none": lambda run_dir, purge_step: NullWriter(),
}
"""``--logger`` name -> factory(run_dir, purge_step) of its writer."""


def unknown_loggers(names: Sequence[str]) -> Optional[str]:
    """A one-line reason when ``names`` holds a name that ``LOGGERS`` lacks, else None."""
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        return f"unknown logger {unknown[0]!r}; choose among {', '.join(LOGGERS)}"
    return None


def make_writers(names: Sequence[str], run_dir: str, purge_step: Optional[int] = None) -> LogWriter:
    """One writer for the ``--logger`` names (each once, in order); ``purge_step`` as for
    :class:`TensorBoardWriter`. Raises ValueError on an unknown name."""
    reason = unknown_loggers(names)
    if reason:
        raise ValueError(reason)
    writers = [LOGGERS[name](run_dir, purge_step) for name in dict.fromkeys(names)]
    return writers[0] if len(writers) == 1 else FanOut(writers)
