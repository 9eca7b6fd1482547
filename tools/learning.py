"""Learning curves: train tasks at a CPU-sized recipe and record per-epoch returns.

Each (task, obs, seed) run trains from scratch with the task's defaults and the recipe's overrides
(one Torch thread, no checkpoints) and appends its curve to a JSON file, so several invocations
(background jobs, other recipes) accumulate in one place; ``--plot`` draws every curve of a JSON
into one PNG (one panel per task and obs, mean over seeds with the min-max band).

  python tools/learning.py --tasks hopper walker ant humanoid --obs state --seeds 0 1 2 \\
      --num-nominal 16 --num-aux 15 --epochs 2000 --label defaults \\
      --out bench/results/learning.json
  python tools/learning.py --plot bench/results/learning.json --figure bench/results/learning.png

Baselines on the same wall-clock budget (``--minutes`` stops a run after the epoch in progress; the
plot's ``--x minutes`` puts the curves on one time axis):

  python tools/learning.py --algo sdpg --tasks hopper --obs state --minutes 20 --save-dir /tmp/teacher
  python tools/learning.py --algo ppo --tasks hopper --obs state --num-envs 256 --minutes 20
  python tools/learning.py --algo distill --tasks hopper --obs rgb --teacher /tmp/teacher/hopper_0 --minutes 30

The episode return of an epoch is the mean return of the nominal episodes that ended in it,
carried forward through epochs in which none ended (a hopper episode spans tens of epochs).
The final return of a run is the mean over its last 5% of epochs.
"""

import argparse
import dataclasses
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


def train_one(task: str, obs: str, seed: int, overrides: dict, algo: str = "sdpg", minutes: float = None,
              save_dir: str = None) -> dict:
    """One run from scratch; stops after ``minutes`` of wall-clock time (if given) and saves its
    checkpoint under ``save_dir/{task}_{seed}`` (if given, e.g. to serve as a distillation teacher)."""
    import threading

    import torch

    from sdpg_warp.config import task_defaults
    from sdpg_warp.runner import Runner

    cfg = dataclasses.replace(task_defaults(task, obs, algo), seed=seed, device="cpu", **overrides)
    start = time.perf_counter()
    run_dir = None
    if save_dir is not None:
        run_dir = os.path.join(save_dir, f"{task}_{seed}")
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            f.write(cfg.to_json())
    runner = Runner(cfg, run_dir=run_dir)
    timer = threading.Timer(60.0 * minutes, runner.request_stop, args=(0,)) if minutes else None
    if timer is not None:
        timer.start()
    try:
        history = runner.train()
    finally:
        if timer is not None:
            timer.cancel()
    seconds = time.perf_counter() - start
    curve = _curve(history)
    nominal, aux = cfg.world_layout()
    elapsed = 0.0
    minutes_at = []
    for row in history:
        elapsed += row["perf/epoch_seconds"]
        minutes_at.append(elapsed / 60.0)
    return {
        "task": task, "obs": obs, "seed": seed, "algo": algo, "epochs": len(history),
        "num_nominal": nominal, "num_aux": aux, "horizon": cfg.horizon,
        "wall_seconds": seconds, "final_return": final_return(curve),
        "episode_return": curve, "minutes": minutes_at,
        "step_reward": [row.get("charts/step_reward") for row in history],
        "device": "cpu", "torch_threads": torch.get_num_threads(),
        "config": json.loads(cfg.to_json()),
    }


def _append(path: str, label: str, run: dict) -> None:
    """Adds one run under ``label`` to the JSON at ``path`` (created if absent), atomically."""
    data = {"runs": []}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
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
    parser.add_argument("--minutes", type=float, default=None, help="wall-clock budget per run")
    parser.add_argument("--save-dir", default=None, help="keep each run's checkpoint under this folder")
    parser.add_argument("--set", nargs="+", default=[], metavar="FIELD=VALUE",
                        help="further config overrides, e.g. distill_updates=100 (values read as JSON, else text)")
    parser.add_argument("--x", default="epoch", choices=["epoch", "minutes"], help="--plot's horizontal axis")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--label", default="sdpg", help="name of this recipe or code version in the JSON")
    parser.add_argument("--out", default=os.path.join("bench", "results", f"learning_{time.strftime('%Y-%m-%d')}.json"))
    parser.add_argument("--torch-threads", type=int, default=1)
    parser.add_argument("--plot", metavar="JSON", help="draw the curves of JSON into --figure and print the table")
    parser.add_argument("--figure", default=None, help="PNG path (default: the JSON's path with .png)")
    args = parser.parse_args(argv)

    if args.plot:
        plot(args.plot, args.figure or os.path.splitext(args.plot)[0] + ".png", args.x)
        with open(args.plot) as f:
            for row in summary(json.load(f)):
                print(json.dumps(row))
        return 0

    import torch
    import warp as wp

    torch.set_num_threads(args.torch_threads)
    wp.config.log_level = wp.LOG_WARNING
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    overrides = dict(epochs=args.epochs, log_every=1, checkpoint_every=args.epochs)
    if args.algo == "sdpg":
        overrides.update(num_nominal=args.num_nominal, num_aux=args.num_aux)
    elif args.num_envs is not None:
        overrides.update(num_envs=args.num_envs)
    if args.algo == "distill":
        overrides.update(teacher=args.teacher)
    if args.obs != "state":
        overrides["image_size"] = args.image_size
    for item in args.set:
        name, _, text = item.partition("=")
        try:
            overrides[name] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name] = text
    for task in args.tasks:
        for seed in args.seeds:
            run = train_one(task, args.obs, seed, overrides, args.algo, args.minutes, args.save_dir)
            _append(args.out, args.label, run)
            print(f"learning.{task}.{args.obs}.seed{seed}.final_return: {run['final_return']:.1f} return")
            print(f"learning.{task}.{args.obs}.seed{seed}.wall: {run['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
