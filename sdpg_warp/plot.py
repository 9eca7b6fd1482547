"""Learning curves of run folders: ``python -m sdpg_warp.plot RUN_OR_SWEEP... [--x epoch|steps|minutes]
[--out FILE.png]``.

Draws the episode return and each task metric (``task/...``) of every run folder named, or of every
run folder inside a named sweep folder. A run is read from its metrics.csv (``--logger csv``) when it
has one, else from its TensorBoard event files; runs still training draw what is on disk so far.
Runs whose configs differ only in the seed (and in settings that do not change learning, such as
``--logger``) form one curve: their mean, with their range shaded.
"""

import argparse
import csv
import dataclasses
import json
import os
import sys
from typing import Dict, List, Optional, Sequence

X_AXES = {"epoch": ("epoch", "epoch"), "steps": ("charts/env_steps", "environment steps"),
          "minutes": ("perf/wall_minutes", "wall-clock minutes")}
"""--x choice -> (column, axis label)."""

NOT_LEARNING = {"seed", "run_name", "log_dir", "resume", "device", "threads", "logger", "console", "keep_checkpoints",
                "video_every", "video_steps", "checkpoint_every", "checkpoint_minutes", "max_minutes", "log_every",
                "sync_timing", "collective_timeout", "epochs"}
"""Config fields that runs of one curve may differ in."""


@dataclasses.dataclass
class Run:
    """A run folder's config and its logged steps: ``rows``, one {column: value} per logged epoch
    (``epoch``, ``charts/env_steps``, ``perf/wall_minutes`` and the scalars), ordered by epoch."""

    path: str
    config: dict
    rows: List[Dict[str, float]]

    def column(self, name: str) -> List[tuple]:
        """[(epoch, value)] of the rows that logged ``name``."""
        return [(row["epoch"], row[name]) for row in self.rows if row.get(name) is not None]


def is_run(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def run_folders(paths: Sequence[str]) -> List[str]:
    """The run folders of ``paths``: each a run folder, or a folder whose subfolders (sorted) hold
    runs (a sweep). Raises ValueError (one line) for a path that is neither."""
    runs = []
    for path in paths:
        if is_run(path):
            runs.append(path)
            continue
        inside = sorted(os.path.join(path, n) for n in os.listdir(path) if is_run(os.path.join(path, n))) \
            if os.path.isdir(path) else []
        if not inside:
            raise ValueError(f"{path} is neither a run folder (no config.json) nor a folder of runs")
        runs += inside
    return runs


def read_run(path: str) -> Run:
    """The :class:`Run` of a run folder, from metrics.csv or else its TensorBoard events. Runs
    logged before env steps and wall minutes were logged get them from their config (env steps) and
    the events' wall times (minutes)."""
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    csv_path = os.path.join(path, "metrics.csv")
    if os.path.isfile(csv_path):
        with open(csv_path, newline="") as f:
            rows = [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]
    else:
        rows = _event_rows(path)
    rows.sort(key=lambda row: row["epoch"])
    for row in rows:
        row.setdefault("charts/env_steps", row["epoch"] * _env_steps_per_epoch(config))
    return Run(path, config, rows)


def _event_rows(path: str) -> List[Dict[str, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(path, size_guidance={"scalars": 0})
    events.Reload()
    rows: Dict[int, Dict[str, float]] = {}
    start = None
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            row = rows.setdefault(event.step, {"epoch": float(event.step)})
            row[tag] = event.value
            if tag == "perf/epoch_seconds":
                row["_wall"] = event.wall_time
                start = event.wall_time - event.value if start is None else min(start, event.wall_time - event.value)
    for row in rows.values():
        wall = row.pop("_wall", None)
        if "perf/wall_minutes" not in row and wall is not None:
            row["perf/wall_minutes"] = (wall - start) / 60.0
    return list(rows.values())


def _env_steps_per_epoch(config: dict) -> int:
    if config.get("algo", "sdpg") == "sdpg":
        worlds = config["num_nominal"] * (config["num_aux"] + 1)
    else:
        worlds = config["num_envs"]
    return config["horizon"] * worlds


def group_runs(runs: Sequence[Run]) -> Dict[str, List[Run]]:
    """Runs by curve: those whose configs agree outside :data:`NOT_LEARNING` share one, labelled by
    the settings in which the curves differ (the task and obs when only one curve)."""
    def key(run):
        return json.dumps({k: v for k, v in run.config.items() if k not in NOT_LEARNING}, sort_keys=True)

    groups: Dict[str, List[Run]] = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    configs = [json.loads(k) for k in groups]
    varying = sorted({name for c in configs for name in c if any(o.get(name) != c.get(name) for o in configs)})
    labels = {}
    for k, members in groups.items():
        c = json.loads(k)
        label = " ".join(f"{name}={c.get(name)}" for name in varying) or f"{c.get('task')} {c.get('obs')}"
        labels[f"{label} ({len(members)} seed{'s' if len(members) > 1 else ''})"] = members
    return labels


def plot_runs(runs: Sequence[Run], xs: Sequence[str], out: str, title: Optional[str] = None) -> List[str]:
    """Draws the return and task-metric panels of ``runs`` into ``out`` (PNG), one row of panels
    per x axis of ``xs`` (keys of :data:`X_AXES`); returns the panels' scalar tags. Each curve is
    the mean over its runs at their common logged epochs, the band their range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tags = ["charts/episode_return"] + sorted({t for run in runs for row in run.rows for t in row if t.startswith("task/")})
    fig, axes = plt.subplots(len(xs), len(tags), figsize=(5 * len(tags), 3.6 * len(xs)), squeeze=False)
    groups = group_runs(runs)
    for row_axes, x in zip(axes, xs):
        column, xlabel = X_AXES[x]
        for label, members in groups.items():
            for ax, tag in zip(row_axes, tags):
                series = [dict(run.column(tag)) for run in members]
                epochs = sorted(set.intersection(*(set(s) for s in series)))
                if not epochs:
                    continue
                values = np.array([[s[e] for e in epochs] for s in series])
                # The x of an epoch: the mean over the runs (env steps agree; minutes differ a little).
                at = np.array([[dict(run.column(column)).get(e, np.nan) for e in epochs] for run in members])
                at = np.nanmean(at, axis=0) if column != "epoch" else np.array(epochs)
                line, = ax.plot(at, values.mean(0), label=label)
                if len(members) > 1:
                    ax.fill_between(at, values.min(0), values.max(0), color=line.get_color(), alpha=0.2)
        for ax, tag in zip(row_axes, tags):
            ax.set_title(tag.split("/", 1)[1].replace("_", " "))
            ax.set_xlabel(xlabel)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return tags


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sdpg_warp.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN_OR_SWEEP", help="run folders, or folders of run folders")
    parser.add_argument("--x", choices=tuple(X_AXES), default="steps", help="the x axis (default: steps)")
    parser.add_argument("--out", default="curves.png", help="the PNG file to write (default: curves.png)")
    args = parser.parse_args(argv)
    from sdpg_warp.export import check_out_path

    try:
        check_out_path(args.out, "--out", "curves.png")
        runs = [read_run(path) for path in run_folders(args.runs)]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
        return 2
    empty = [run.path for run in runs if not run.rows]
    if len(empty) == len(runs):
        print(f"error: no logged epochs in {', '.join(empty)} (logged with --logger none?)", file=sys.stderr)
        return 2
    tags = plot_runs([run for run in runs if run.rows], [args.x], args.out)
    print(f"wrote {args.out}: {', '.join(tags)} of {len(runs)} run(s) against {X_AXES[args.x][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
