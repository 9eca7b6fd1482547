"""Curves of run folders as one JSON file: per logged epoch the episode return, the task metrics
(``task/...``) and the training time, with each run's config, read as ``python -m sdpg_warp.plot``
reads runs (config.json; metrics.csv, else the TensorBoard events). Runs that are still training
can be read (what is on disk so far).

  python tools/run_curves.py runs/walker_hurdle__state__0 runs/franka_pick_cube__state__0 \\
      --out bench/results/learning_ego_2026-12-06.json \\
      --table learning_ego.md --references bench/results/policy_references_2026-12-06.json

Prints one ``name: value unit`` line per run (its last epoch, final return, final task metrics).
``--table`` also writes a Markdown table, one row per run (by task and obs, then in the order
named): task, obs, the sizes (N, M, H; the worlds for the baselines), the settings that differ from
the task's defaults today, epochs, training time, the return first -> final (the mean of the first /
last 5% of the epochs in which an episode ended), the final episode length and task metrics, and,
with ``--references`` (files written by ``tools/policy_references.py``), what a random and an idle
policy reach on the same task. ``--figure`` draws the curves: one row of panels per task (return,
then each task metric, against the epoch), one line per run, the references as dashed (random) and
dotted (idle) lines.
"""

import argparse
import json
import math
import os

FINAL_FRACTION = 0.05
"""The final value of a curve averages this fraction of its last logged epochs."""


CURVES = ("charts/episode_return", "charts/episode_length", "charts/step_reward", "perf/wall_minutes")
"""The scalars written as curves, besides the task metrics (``task/...``); the training time per
epoch puts runs of different speeds on one time axis."""


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


def read_runs(path: str) -> list:
    """The runs of ``path``: a run folder (:func:`read_run`), or a JSON file this tool wrote (every
    run in it), so a table or figure can join runs whose folders are gone with new ones."""
    if os.path.isdir(path):
        return [read_run(path)]
    with open(path) as f:
        data = json.load(f)
    runs = data.get("runs") if isinstance(data, dict) else None
    if not runs or not all(isinstance(r, dict) and {"run", "config", "curves"} <= set(r) for r in runs):
        raise SystemExit(f"run_curves: {path} is neither a run folder nor a JSON file of tools/run_curves.py")
    return runs


def _edge_mean(values: list, last: bool) -> float:
    """Mean of the first (``last`` False) or last ``FINAL_FRACTION`` of a curve's logged values (NaN if none)."""
    logged = [v for v in values if v is not None]
    count = max(1, int(len(logged) * FINAL_FRACTION))
    edge = logged[-count:] if last else logged[:count]
    return sum(edge) / len(edge) if edge else float("nan")


def final(values: list) -> float:
    """Mean of the last ``FINAL_FRACTION`` of a curve's logged values (NaN if none)."""
    return _edge_mean(values, last=True)


def first(values: list) -> float:
    """Mean of the first ``FINAL_FRACTION`` of a curve's logged values (NaN if none)."""
    return _edge_mean(values, last=False)


def read_references(paths: list) -> dict:
    """{(task, policy): row} from ``tools/policy_references.py`` files (a JSON object or a list of
    them, each with ``rows``); a later file's row replaces an earlier one's."""
    references = {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        for block in data if isinstance(data, list) else [data]:
            for row in block["rows"]:
                references[(row["task"], row["policy"])] = row
    return references


def _number(value: float) -> str:
    """A table cell: 3 significant digits, whole numbers from 100 on, '-' for NaN."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _metrics(values: dict) -> str:
    """'name value, ...' of the task metrics in ``values`` ({"task/x": v})."""
    return ", ".join(f"{tag[5:]} {_number(v)}" for tag, v in sorted(values.items()) if tag.startswith("task/")) or "-"


SHOWN = {"task", "obs", "num_nominal", "num_aux", "num_envs", "horizon", "schedule_epochs"}
"""Config fields with columns of their own (or the run's length), left out of the settings column."""


def changed_settings(config: dict) -> list:
    """'name=value' of the run's settings that differ from its task's defaults today
    (``sdpg_warp.config.task_defaults``), leaving out :data:`SHOWN` and the fields that do not change
    learning (``sdpg_warp.plot.NOT_LEARNING``: seed, logging, checkpoints, threads, ...). A field the
    run's config lacks (added since) is not compared."""
    from sdpg_warp.config import task_defaults
    from sdpg_warp.plot import NOT_LEARNING

    defaults = json.loads(task_defaults(config["task"], config["obs"], config.get("algo", "sdpg")).to_json())
    return [f"{name}={config[name]}" for name, value in defaults.items()
            if name in config and name not in SHOWN | NOT_LEARNING and config[name] != value]


def table(runs: list, references: dict) -> str:
    """The Markdown table of ``runs`` (:func:`read_run` dicts) described in the module docstring."""
    lines = ["| task | obs | run | N | M | H | settings | epochs | wall | return first -> final | episode length "
             "| task metrics (final) | random / idle return | random / idle task metrics |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in sorted(runs, key=lambda r: (r["config"].get("task", "?"), r["config"].get("obs", "?"))):
        config, curves = run["config"], run["curves"]
        task = config.get("task", "?")
        returns = curves.get("charts/episode_return", [])
        sizes = ([config.get("num_nominal"), config.get("num_aux")] if config.get("algo", "sdpg") == "sdpg"
                 else [config.get("num_envs"), "-"])
        wall = "-" if run["wall_s"] is None else f"{run['wall_s'] / 60.0:.1f} min"
        settings = ", ".join(changed_settings(config)) or "defaults"
        refs = [references.get((task, policy)) for policy in ("random", "idle")]
        ref_return = " / ".join(_number(r["return"]) if r else "-" for r in refs)
        ref_metrics = " / ".join(_metrics(r) if r else "-" for r in refs)
        cells = [task, config.get("obs", "?"), run["run"], *map(str, sizes), str(config.get("horizon", "-")), settings,
                 str(run["epochs"]), wall, f"{_number(first(returns))} -> {_number(final(returns))}",
                 _number(final(curves.get("charts/episode_length", []))),
                 _metrics({tag: final(v) for tag, v in curves.items()}), ref_return, ref_metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(runs: list, references: dict, out: str) -> None:
    """Draws ``runs`` into the PNG ``out`` as described in the module docstring (needs matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({run["config"].get("task", "?") for run in runs})
    tags = {task: ["charts/episode_return"] + sorted({tag for run in runs if run["config"].get("task", "?") == task
                                                      for tag in run["curves"] if tag.startswith("task/")})
            for task in tasks}
    columns = max(len(t) for t in tags.values())
    fig, axes = plt.subplots(len(tasks), columns, figsize=(4.2 * columns, 3.0 * len(tasks)), squeeze=False)
    for row, task in zip(axes, tasks):
        for ax, tag in zip(row, tags[task]):
            for run in runs:
                if run["config"].get("task", "?") != task or tag not in run["curves"]:
                    continue
                points = [(epoch + 1, v) for epoch, v in enumerate(run["curves"][tag]) if v is not None]
                if points:
                    ax.plot(*zip(*points), linewidth=1.0, label=run["run"])
            for policy, style in (("random", "--"), ("idle", ":")):
                value = (references.get((task, policy)) or {}).get("return" if tag == "charts/episode_return" else tag)
                if value is not None:
                    ax.axhline(value, color="gray", linestyle=style, linewidth=1.0, label=policy)
            ax.set_title(f"{task}: {tag.split('/', 1)[1].replace('_', ' ')}", fontsize="small")
            ax.set_xlabel("epoch", fontsize="small")
            ax.grid(alpha=0.3)
        row[0].legend(fontsize="x-small")
        for ax in row[len(tags[task]):]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders, or JSON files this tool wrote (their runs)")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--table", help="also write the runs' Markdown table to this file")
    parser.add_argument("--figure", help="also draw the runs' curves into this PNG")
    parser.add_argument("--references", nargs="*", default=[],
                        help="tools/policy_references.py files: random and idle columns of the table")
    args = parser.parse_args()
    for path in [*args.runs, *args.references]:
        if not os.path.exists(path):
            parser.error(f"no such file or folder: {path}")
    runs = [run for path in args.runs for run in read_runs(path)]
    for run in runs:
        print(f"{run['run']}.epochs: {run['epochs']} epochs")
        if run["wall_s"] is not None:
            print(f"{run['run']}.wall: {run['wall_s']} s")
        for tag, values in run["curves"].items():
            print(f"{run['run']}.{tag}.final: {final(values):.4g}")
    with open(args.out, "w") as f:
        json.dump({"what": "learning curves of run folders (tools/run_curves.py)", "runs": runs}, f)
    references = read_references(args.references)
    if args.table:
        with open(args.table, "w") as f:
            f.write(table(runs, references))
    if args.figure:
        figure(runs, references, args.figure)


if __name__ == "__main__":
    main()
