"""Where a run's logs go: a small :class:`LogWriter` protocol that the Runner and its Logger write
through (they never see a concrete writer), chosen by ``--logger``. docs/DESIGN.md "Extension
points" lists the files a new one touches."""

import csv
import importlib.util
import json
import os
import secrets
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
        """An animated GIF in TensorBoard's images tab (encoded here with imageio, so no moviepy)."""
        import io

        import imageio
        from tensorboard.compat.proto.summary_pb2 import Summary

        frames = np.asarray(frames)
        gif = io.BytesIO()
        imageio.mimwrite(gif, list(frames), format="GIF", duration=1000.0 / fps, loop=0)
        image = Summary.Image(height=frames.shape[1], width=frames.shape[2], colorspace=3,
                              encoded_image_string=gif.getvalue())
        self._writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class _StepRows:
    """Collects one logged step's values into a row, handed on (:meth:`flush`) when the next step begins."""

    _row: Dict[str, object]
    _step: Optional[int]

    def _put(self, tag: str, value: object, step: int) -> None:
        if step != self._step:
            self.flush()
            self._step = step
        self._row[tag] = value

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self._put(tag, float(value), step)


class CsvWriter(_StepRows):
    """``metrics.csv`` in the run folder: one row per logged step (``epoch`` first, then every scalar
    tag seen so far, in order of first appearance; a step without a tag leaves its cell empty). A
    tag that appears later widens the header: the file is rewritten with the new column (to a
    temporary file, then renamed), so no reader ever sees a half-written header. ``purge_step`` (on
    resume): rows from that step on are dropped, as for :class:`TensorBoardWriter`. A row is written
    when the next step begins, at :meth:`flush` and at :meth:`close`."""

    def __init__(self, run_dir: str, purge_step: Optional[int] = None):
        self.path = os.path.join(run_dir, "metrics.csv")
        self.columns: list = ["epoch"]
        self._row: Dict[str, float] = {}
        self._step: Optional[int] = None
        rows = []
        if os.path.isfile(self.path):
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.columns = list(reader.fieldnames or self.columns)
                rows = [row for row in reader if purge_step is None or int(row["epoch"]) < purge_step]
        self._rewrite(rows)

    def _rewrite(self, rows: list) -> None:
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def add_text(self, tag: str, text: str, step: int) -> None:
        pass  # the run folder's config.json holds the config

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        pass  # videos/ in the run folder holds them

    def flush(self) -> None:
        if not self._row:
            return
        row = {"epoch": self._step, **self._row}
        self._row = {}
        new = [tag for tag in row if tag not in self.columns]
        if new:
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            self.columns += new
            self._rewrite(rows + [row])
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)

    def close(self) -> None:
        self.flush()


class WandbWriter(_StepRows):
    """A Weights & Biases run (``pip install -e ".[wandb]"``), named after the run folder, with the
    run's config.json as its config; its files go to the run folder's ``wandb/``. ``WANDB_MODE``
    chooses online (the default of wandb) or ``offline`` (no network; ``wandb sync`` uploads later),
    ``WANDB_PROJECT`` the project (default ``sdpg_warp``). A resumed run folder continues the same
    W&B run (its id is kept in ``wandb_id``); W&B cannot drop points, so ``purge_step`` is ignored and
    the epochs between a crash's checkpoint and the crash appear twice. The x axis of every scalar is ``charts/env_steps``; a
    step's scalars go up together when the next step begins, at :meth:`flush` and at :meth:`close`."""

    def __init__(self, run_dir: str, purge_step: Optional[int] = None):
        import wandb

        self._wandb = wandb
        id_path = os.path.join(run_dir, "wandb_id")
        if os.path.isfile(id_path):
            with open(id_path) as f:
                run_id = f.read().strip()
        else:
            run_id = secrets.token_hex(8)
            with open(id_path, "w") as f:
                f.write(run_id)
        config_path = os.path.join(run_dir, "config.json")
        config = {}
        if os.path.isfile(config_path):
            with open(config_path) as f:
                config = json.load(f)
        self.run = wandb.init(project=os.environ.get("WANDB_PROJECT", "sdpg_warp"), name=os.path.basename(run_dir),
                              id=run_id, resume="allow", dir=run_dir, config=config)
        self.run.define_metric("charts/env_steps")
        self.run.define_metric("*", step_metric="charts/env_steps")
        self._row: Dict[str, object] = {}
        self._step: Optional[int] = None

    def add_text(self, tag: str, text: str, step: int) -> None:
        pass  # the config went up with wandb.init

    def add_video(self, tag: str, frames: np.ndarray, step: int, fps: int) -> None:
        import imageio

        path = os.path.join(self.run.dir, f"{tag.replace('/', '_')}_{step:06d}.mp4")
        imageio.mimwrite(path, list(np.asarray(frames)), fps=fps, macro_block_size=1)
        self._put(tag, self._wandb.Video(path, format="mp4"), step)

    def flush(self) -> None:
        if self._row:
            self.run.log({"epoch": self._step, **self._row})
            self._row = {}

    def close(self) -> None:
        self.flush()
        self.run.finish()


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
    "csv": CsvWriter,
    "wandb": WandbWriter,
}
"""``--logger`` name -> factory(run_dir, purge_step) of its writer."""

PACKAGES = {"wandb": ("wandb", 'pip install -e ".[wandb]" (or pip install wandb)')}
"""``--logger`` name -> (the package its writer imports, how to install it), for optional ones."""


def unknown_loggers(names: Sequence[str]) -> Optional[str]:
    """A one-line reason when ``names`` holds a name that ``LOGGERS`` lacks, or one whose package
    (``PACKAGES``) is not installed; else None."""
    unknown = [name for name in names if name not in LOGGERS]
    if unknown:
        return f"unknown logger {unknown[0]!r}; choose among {', '.join(LOGGERS)}"
    for name in names:
        package, install = PACKAGES.get(name, (None, None))
        if package is not None and importlib.util.find_spec(package) is None:
            return f"--logger {name} needs the {package} package, which is not installed: {install}"
    return None


def make_writers(names: Sequence[str], run_dir: str, purge_step: Optional[int] = None) -> LogWriter:
    """One writer for the ``--logger`` names (each once, in order); ``purge_step`` as for
    :class:`TensorBoardWriter`. Raises ValueError on an unknown name."""
    reason = unknown_loggers(names)
    if reason:
        raise ValueError(reason)
    writers = [LOGGERS[name](run_dir, purge_step) for name in dict.fromkeys(names)]
    return writers[0] if len(writers) == 1 else FanOut(writers)
