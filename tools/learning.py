"""Learning curves: train tasks at a CPU-sized recipe and record per-epoch returns.

Each task's seeds train as one sweep (``python -m sdpg_warp.sweep``: one ``python -m
sdpg_warp.train`` process per run, ``--jobs`` at a time, one Torch thread each) in the sweep folder
``--log-dir/{label}__{task}__{obs}__{algo}``; the runs are normal run folders with checkpoints, so
the same command again skips the finished runs and resumes the stopped ones. Each run's curve then
goes into a JSON file (replacing the entry of the same run folder), so several invocations
(background jobs, other recipes) accumulate in one place; ``--plot`` draws every curve of a JSON
into one PNG (one panel per task and obs, mean over seeds with the min-max band).

  python tools/learning.py --tasks hopper walker ant humanoid --obs state --seeds 0 1 2 \\
      --num-nominal 16 --num-aux 15 --epochs 2000 --label defaults \\
      --out bench/results/learning.json
  python tools/learning.py --plot bench/results/learning.json --figure bench/results/learning.png

Baselines on the same wall-clock budget (``--minutes``, train's ``--max-minutes``: a run stops
after the epoch in progress once it has trained that long; the plot's ``--x minutes`` puts the
curves on one time axis):

  python tools/learning.py --algo sdpg --tasks hopper --obs state --minutes 20 --label teacher
  python tools/learning.py --algo ppo --tasks hopper --obs state --num-envs 256 --minutes 20
  python tools/learning.py --algo distill --tasks hopper --obs rgb --minutes 30 \\
      --teacher runs/learning/teacher__hopper__state__sdpg/seed0

The episode return of an epoch is the mean return of the nominal episodes that ended in it,
carried forward through epochs in which none ended (a hopper episode spans tens of epochs).
The final return of a run is the mean over its last 5% of epochs; its wall time is the training
time it logged (resumes included, start-up and compilation left out).
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings

FINAL_FRACTION = 0.05
"""The final return of a run averages this fraction of its last epochs."""


def _curve(history: list) -> list:
    """Per-epoch episode return, carried forward where no episode ended (None before the first)."""
    curve, last = [], None
    for row in history:
        last = row.get("charts/episode_return", last)
        curve.append(last)
    return curve


def final_return(curve: list) -> float:
    """Mean of the last ``FINAL_FRACTION`` of a curve's epochs (ignoring epochs before any return)."""
    tail = [v for v in curve[-max(1, int(len(curve) * FINAL_FRACTION)):] if v is not None]
    return sum(tail) / len(tail) if tail else float("nan")


def record(run_dir: str) -> dict:
    """The JSON entry of a run folder (read with :func:`sdpg_warp.plot.read_run`; logged every epoch)."""
    from sdpg_warp.config import TrainConfig
    from sdpg_warp.plot import read_run

    run = read_run(run_dir)
    cfg = TrainConfig.from_dict(run.config)
    curve = _curve(run.rows)
    minutes = [row.get("perf/wall_minutes") for row in run.rows]
    nominal, aux = cfg.world_layout()
    return {
        "task": cfg.task, "obs": cfg.obs, "seed": cfg.seed, "algo": cfg.algo, "epochs": len(run.rows),
        "num_nominal": nominal, "num_aux": aux, "horizon": cfg.horizon,
        "wall_seconds": 60.0 * (minutes[-1] or 0.0) if minutes else 0.0, "final_return": final_return(curve),
        "episode_return": curve, "minutes": minutes,
        "step_reward": [row.get("charts/step_reward") for row in run.rows],
        "device": cfg.device, "torch_threads": cfg.threads, "run": os.path.abspath(run_dir),
        "config": run.config,
    }


def _append(path: str, label: str, run: dict) -> None:
    """Adds one run under ``label`` to the JSON at ``path`` (created if absent), atomically, in
    place of an entry of the same run folder."""
    data = {"runs": []}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    data["runs"] = [r for r in data["runs"] if r.get("run") != run["run"]]
    data["runs"].append({"label": label, "machine": platform.processor() or platform.machine(),
                         "date": time.strftime("%Y-%m-%d"), **run})
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def summary(data: dict) -> list:
    """One row per (label, task, obs, N, M, epochs): seeds, mean wall time, final returns."""
    groups: dict = {}
    for run in data["runs"]:
        key = (run["label"], run["task"], run["obs"], run["num_nominal"], run["num_aux"], run["epochs"])
        if run.get("algo", "sdpg") != "sdpg":
            key = (f"{run['label']} ({run['algo']})",) + key[1:]
        groups.setdefault(key, []).append(run)
    rows = []
    for (label, task, obs, n, m, epochs), runs in sorted(groups.items()):
        finals = [r["final_return"] for r in runs]
        rows.append({
            "label": label, "task": task, "obs": obs, "num_nominal": n, "num_aux": m, "epochs": epochs,
            "seeds": [r["seed"] for r in runs], "wall_minutes": sum(r["wall_seconds"] for r in runs) / len(runs) / 60,
            "final_return_mean": sum(finals) / len(finals), "final_returns": finals,
        })
    return rows


SMOOTH_DIVISOR = 40
"""The plotted curves are moving averages over 1/SMOOTH_DIVISOR of the run's epochs."""


def _smooth(curves, window: int):
    """Trailing moving average of each row over ``window`` epochs (NaN before the first return)."""
    import numpy as np

    out = np.full_like(curves, np.nan)
    for i, row in enumerate(curves):
        valid = ~np.isnan(row)
        filled = np.where(valid, row, 0.0)
        sums, counts = np.cumsum(filled), np.cumsum(valid)
        sums[window:] = sums[window:] - sums[:-window]
        counts[window:] = counts[window:] - counts[:-window]
        out[i] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return out


def plot(path: str, figure: str, x: str = "epoch") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    with open(path) as f:
        data = json.load(f)
    panels = sorted({(r["task"], r["obs"]) for r in data["runs"]})
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (task, obs) in zip(axes.flat, panels):
        labels = sorted({(r["label"], r["num_nominal"], r["num_aux"]) for r in data["runs"]
                         if (r["task"], r["obs"]) == (task, obs)})  # a label names one algorithm's recipe
        for label, n, m in labels:
            runs = [r for r in data["runs"] if (r["task"], r["obs"], r["label"], r["num_nominal"], r["num_aux"])
                    == (task, obs, label, n, m)]
            length = min(len(r["episode_return"]) for r in runs)
            curves = np.array([[np.nan if v is None else v for v in r["episode_return"][:length]] for r in runs])
            epochs = np.arange(1, length + 1)
            if x == "minutes":  # the seeds' mean wall-clock time at each epoch
                epochs = np.mean([r["minutes"][:length] for r in runs], axis=0)
            curves = _smooth(curves, max(1, length // SMOOTH_DIVISOR))
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # epochs before any episode ended
                mean = np.nanmean(curves, axis=0)
                low, high = np.nanmin(curves, 0), np.nanmax(curves, 0)
            algo = runs[0].get("algo", "sdpg")
            worlds = f"N={n} M={m}" if algo == "sdpg" else f"{n} envs"
            line, = ax.plot(epochs, mean, label=f"{label}: {algo} {worlds} ({len(runs)} seeds)")
            if len(runs) > 1:
                ax.fill_between(epochs, low, high, alpha=0.2,
                                color=line.get_color())
        ax.set_title(f"{task} ({obs})")
        ax.set_xlabel("wall-clock minutes (CPU, one Torch thread)" if x == "minutes" else "epoch")
        ax.set_ylabel("episode return (moving average)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figure, dpi=110)


def train_flags(args, task: str) -> list:
    """The train flags of ``task``'s runs: the recipe's options, then the ``--set`` overrides (values
    read as JSON, else text; true/false: the flag or its ``--no-`` form; a list: its items)."""
    settings = {"task": task, "obs": args.obs, "algo": args.algo, "epochs": args.epochs, "device": args.device,
                "threads": args.torch_threads, "log_every": 1, "logger": ["tensorboard", "csv"]}
    if args.algo == "sdpg":
        settings.update(num_nominal=args.num_nominal, num_aux=args.num_aux)
    elif args.num_envs is not None:
        settings["num_envs"] = args.num_envs
    if args.teacher is not None:
        settings["teacher"] = args.teacher
    if args.obs != "state":
        settings["image_size"] = args.image_size
    if args.minutes is not None:
        settings["max_minutes"] = args.minutes
    for item in args.set:
        name, _, text = item.partition("=")
        try:
            settings[name] = json.loads(text)
        except json.JSONDecodeError:
            settings[name] = text
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            flags += [flag, *(str(v) for v in (value if isinstance(value, list) else [value]))]
    return flags


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="sdpg", choices=["sdpg", "ppo", "distill"])
    parser.add_argument("--tasks", nargs="+", default=["hopper"])
    parser.add_argument("--obs", default="state", choices=["state", "rgb", "depth"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--num-nominal", type=int, default=16)
    parser.add_argument("--num-aux", type=int, default=15)
    parser.add_argument("--num-envs", type=int, default=None, help="ppo and distill: worlds (default: the task's)")
    parser.add_argument("--teacher", default=None, help="distill: the teacher's run folder")
    parser.add_argument("--epochs", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per run (train --max-minutes)")
    parser.add_argument("--device", default="cpu", help="train --device (default: cpu)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (the sweep's --jobs)")
    parser.add_argument("--log-dir", default=os.path.join("runs", "learning"),
                        help="the sweep folders (one per task) go here (default: runs/learning)")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="further config overrides, e.g. distill_updates=100 (values read as JSON, else text)")
    parser.add_argument("--x", default="epoch", choices=["epoch", "minutes"], help="--plot's horizontal axis")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--label", default="sdpg", help="name of this recipe or code version in the JSON")
    parser.add_argument("--out", default=os.path.join("bench", "results", f"learning_{time.strftime('%Y-%m-%d')}.json"))
    parser.add_argument("--torch-threads", type=int, default=1, help="Torch threads of each run (train --threads)")
    parser.add_argument("--plot", metavar="JSON", help="draw the curves of JSON into --figure and print the table")
    parser.add_argument("--figure", default=None, help="PNG path (default: the JSON's path with .png)")
    args = parser.parse_args(argv)

    if args.plot:
        plot(args.plot, args.figure or os.path.splitext(args.plot)[0] + ".png", args.x)
        with open(args.plot) as f:
            for row in summary(json.load(f)):
                print(json.dumps(row))
        return 0

    from sdpg_warp import sweep

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for task in args.tasks:
        name = f"{args.label}__{task}__{args.obs}__{args.algo}"
        code = sweep.main(["--seeds", *map(str, args.seeds), "--jobs", str(args.jobs), "--name", name,
                           "--log-dir", args.log_dir, *train_flags(args, task)])
        if code != 0:
            return code
        sweep_dir = os.path.join(args.log_dir, name)
        with open(os.path.join(sweep_dir, "summary.json")) as f:
            rows = json.load(f)["runs"]
        for row in rows:
            where = f"learning.{task}.{args.obs}.seed{row['seed']}"
            if not row["status"].startswith("done"):
                print(f"{where}: {row['status']} (not recorded; see {sweep_dir}/logs/{row['run']}.log)")
                continue
            run = record(os.path.join(sweep_dir, row["run"]))
            _append(args.out, args.label, run)
            print(f"{where}.final_return: {run['final_return']:.1f} return")
            print(f"{where}.wall: {run['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
