"""Curves of run folders as one JSON file: per logged epoch the episode return, the task metrics
(``task/...``) and the training time, with each run's config, read as ``python -m sdpg_warp.plot``
reads runs (config.json; metrics.csv, else the TensorBoard events). Runs that are still training
can be read (what is on disk so far).

  python tools/run_curves.py runs/walker_hurdle__state__0 runs/franka_pick_cube__state__0 \\
      --out bench/results/learning_ego_2026-12-06.json

Prints one ``name: value unit`` line per run (its last epoch, final return, final task metrics).
"""

import argparse
import json
import os

FINAL_FRACTION = 0.05
"""The final value of a curve averages this fraction of its last logged epochs."""


CURVES = ("charts/episode_return", "charts/episode_length", "charts/step_reward")
"""The scalars written as curves, besides the task metrics (``task/...``)."""


def read_run(run_dir: str) -> dict:
    """{"run", "config", "epochs", "wall_s", "curves": {tag: [values per epoch, None where unlogged]}},
    read with :func:`sdpg_warp.plot.read_run` (metrics.csv, else the TensorBoard events). ``wall_s``:
    the training time the run logged, resumes included (None where it logged none)."""
    from sdpg_warp.plot import read_run as read_folder

    run = read_folder(run_dir)
    tags = sorted({tag for row in run.rows for tag in row if tag in CURVES or tag.startswith("task/")})
    by_epoch = {int(row["epoch"]): row for row in run.rows}
    epochs = max(by_epoch, default=0)
    dense = {tag: [by_epoch.get(epoch, {}).get(tag) for epoch in range(1, epochs + 1)] for tag in tags}
    minutes = [row["perf/wall_minutes"] for row in run.rows if "perf/wall_minutes" in row]
    return {"run": os.path.basename(os.path.normpath(run_dir)), "config": run.config, "epochs": epochs,
            "wall_s": round(60.0 * minutes[-1], 1) if minutes else None, "curves": dense}


def final(values: list) -> float:
    """Mean of the last ``FINAL_FRACTION`` of a curve's logged values (NaN if none)."""
    logged = [v for v in values if v is not None]
    tail = logged[-max(1, int(len(logged) * FINAL_FRACTION)):]
    return sum(tail) / len(tail) if tail else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args()
    runs = [read_run(run) for run in args.runs]
    for run in runs:
        print(f"{run['run']}.epochs: {run['epochs']} epochs")
        if run["wall_s"] is not None:
            print(f"{run['run']}.wall: {run['wall_s']} s")
        for tag, values in run["curves"].items():
            print(f"{run['run']}.{tag}.final: {final(values):.4g}")
    with open(args.out, "w") as f:
        json.dump({"what": "learning curves of run folders (tools/run_curves.py)", "runs": runs}, f)


if __name__ == "__main__":
    main()
