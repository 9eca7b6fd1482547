"""Names of a run folder's checkpoint files, and the choice among them (``play``, ``export``); no
heavy imports, so that ``--help`` stays quick."""

import os
import re
from typing import Optional

BEST_CHECKPOINT = "checkpoint_best.pt"
"""The kept checkpoint of the highest logged episode return (``--keep-checkpoints``)."""
NUMBERED_CHECKPOINT = re.compile(r"checkpoint_epoch\d{6,}\.pt")
"""Names of the numbered checkpoints kept besides the latest (``--keep-checkpoints``)."""


def numbered_checkpoint(run_dir: str, epoch: int) -> str:
    """The path of the kept checkpoint of ``epoch`` in ``run_dir``."""
    return os.path.join(run_dir, f"checkpoint_epoch{epoch:06d}.pt")


def checkpoint_file(path: str, epoch: Optional[int] = None, best: bool = False) -> str:
    """The checkpoint of ``path``, a run folder or a checkpoint file; in a run folder ``epoch`` picks
    a numbered one and ``best`` the best one (``--keep-checkpoints``). Raises ValueError (one line)
    for a choice that a run folder does not hold or that is given with a file."""
    if epoch is None and not best:
        return os.path.join(path, "checkpoint.pt") if os.path.isdir(path) else path
    flag = "--best" if best else f"--epoch {epoch}"
    if epoch is not None and best:
        raise ValueError("give --epoch or --best, not both")
    if not os.path.isdir(path):
        raise ValueError(f"{flag} picks a checkpoint of a run folder; {path} is not one")
    chosen = os.path.join(path, BEST_CHECKPOINT) if best else numbered_checkpoint(path, epoch)
    if not os.path.isfile(chosen):
        kept = sorted(int(name[len("checkpoint_epoch"):-3]) for name in os.listdir(path) if NUMBERED_CHECKPOINT.fullmatch(name))
        have = f"kept epochs: {', '.join(map(str, kept))}" if kept else "it keeps none (train with --keep-checkpoints K)"
        best_text = "; it has a best checkpoint" if os.path.isfile(os.path.join(path, BEST_CHECKPOINT)) else ""
        raise ValueError(f"{flag}: {path} has no {os.path.basename(chosen)} ({have}{best_text})")
    return chosen


def add_checkpoint_choice(parser) -> None:
    """``--epoch E`` and ``--best`` of an argparse parser that takes a run folder (play, export)."""
    parser.add_argument("--epoch", type=int, default=None,
                        help="use the run's kept checkpoint of this epoch (train --keep-checkpoints)")
    parser.add_argument("--best", action="store_true",
                        help="use the run's checkpoint of the highest episode return (train --keep-checkpoints)")
