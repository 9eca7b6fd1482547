"""Curves of run folders as one JSON file: per logged epoch the episode return, the task metrics
(``task/...``) and the wall time, with each run's config, read from its TensorBoard events and
config.json. Runs that are still training can be read (what is on disk so far).

  python tools/run_curves.py runs/walker_hurdle__state__0 runs/franka_pick_cube__state__0 \\
      --out bench/results/learning_ego_2026-12-06.json

Prints one ``name: value unit`` line per run (its last epoch, final return, final task metrics).
"""

import argparse
import json
import os

FINAL_FRACTION = 0.05
"""The final value of a curve averages this fraction of its last logged epochs."""


def read_run(run_dir: str) -> dict:
    """{"run", "config", "epochs", "wall_s", "curves": {tag: [values per epoch, None where unlogged]}}."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with open(os.path.join(run_dir, "config.json")) as f:
        config = json.load(f)
    events = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    events.Reload()
    tags = [tag for tag in events.Tags()["scalars"]
            if tag in ("charts/episode_return", "charts/episode_length", "charts/step_reward") or tag.startswith("task/")]
    curves, epochs, wall = {}, 0, []
    for tag in tags:
        scalars = events.Scalars(tag)
        epochs = max(epochs, max((s.step for s in scalars), default=0))
        curves[tag] = {s.step: s.value for s in scalars}
        if tag == "charts/step_reward":  # logged every epoch: its wall times are the run's
            wall = [s.wall_time for s in scalars]
    dense = {tag: [values.get(epoch) for epoch in range(1, epochs + 1)] for tag, values in curves.items()}
    # Wall time spent training: the sum of the gaps between epochs, leaving out pauses between a
    # stop and its resume (gaps over ten times the median).
    gaps = sorted(b - a for a, b in zip(wall, wall[1:]))
    median = gaps[len(gaps) // 2] if gaps else 0.0
    wall_s = sum(g for g in gaps if g <= 10 * median) if gaps else 0.0
    return {"run": os.path.basename(os.path.normpath(run_dir)), "config": config, "epochs": epochs,
            "wall_s": round(wall_s, 1), "curves": dense}


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
        print(f"{run['run']}.wall: {run['wall_s']} s")
        for tag, values in run["curves"].items():
            print(f"{run['run']}.{tag}.final: {final(values):.4g}")
    with open(args.out, "w") as f:
        json.dump({"what": "learning curves of run folders (tools/run_curves.py)", "runs": runs}, f)


if __name__ == "__main__":
    main()
