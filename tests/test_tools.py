"""The measuring tools under tools/ that are not benchmarks: run curves read back what a run logged;
learning curves train through the sweep and keep the JSON format of the committed results."""

import importlib.util
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"
COMMITTED = sorted((ROOT / "bench" / "results").glob("learning_2026-*.json")) + sorted(
    (ROOT / "bench" / "results").glob("baselines_*.json"))
"""Curve JSONs written by tools/learning.py (each run: task, obs, seed, per-epoch returns, ...)."""
TINY = ["--tasks", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "1",
        "--set", "horizon=4", "critic_minibatch=16"]


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_curves_reads_returns_and_task_metrics_per_epoch(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    run_curves = load_tool("run_curves")
    run = tmp_path / "walker_hurdle__state__0"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "walker_hurdle", "obs": "state", "algo": "sdpg",
                                                 "num_nominal": 2, "num_aux": 1, "horizon": 4}))
    writer = SummaryWriter(str(run))
    for epoch in range(1, 41):
        writer.add_scalar("charts/step_reward", 0.1 * epoch, epoch)
        writer.add_scalar("perf/wall_minutes", 0.5 * epoch, epoch)
        if epoch % 10 == 0:  # episodes end every tenth epoch
            writer.add_scalar("charts/episode_return", float(epoch), epoch)
            writer.add_scalar("task/hurdles_cleared", epoch / 10, epoch)
        writer.add_scalar("losses/critic", 1.0, epoch)  # not a curve of the file
    writer.close()
    read = run_curves.read_run(str(run))
    assert read["epochs"] == 40 and read["config"]["task"] == "walker_hurdle"
    assert read["wall_s"] == pytest.approx(60.0 * 20.0)  # the training time logged at the last epoch
    assert sorted(read["curves"]) == ["charts/episode_return", "charts/step_reward", "perf/wall_minutes",
                                      "task/hurdles_cleared"]
    returns = read["curves"]["charts/episode_return"]
    assert len(returns) == 40 and returns[9] == 10.0 and returns[10] is None and returns[39] == 40.0
    # The final value averages the last 5% of the logged values: of 4 logged, the last one.
    assert run_curves.final(read["curves"]["task/hurdles_cleared"]) == pytest.approx(4.0)
    assert run_curves.final([None, None]) != run_curves.final([None, None])  # NaN without a value


def test_run_curves_reads_a_csv_run_like_a_tensorboard_one(tmp_path):
    run_curves = load_tool("run_curves")
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "pointmass", "obs": "state", "algo": "ppo", "num_envs": 8,
                                                 "horizon": 4}))
    (run / "metrics.csv").write_text("epoch,charts/episode_return,perf/wall_minutes,task/reached\n"
                                     "1,,0.1,\n2,5.0,0.2,1.0\n3,,0.3,\n")
    read = run_curves.read_run(str(run))
    assert read["epochs"] == 3 and read["wall_s"] == pytest.approx(18.0)
    assert read["curves"] == {"charts/episode_return": [None, 5.0, None], "perf/wall_minutes": [0.1, 0.2, 0.3],
                              "task/reached": [None, 1.0, None]}


def test_run_curves_table_has_a_row_per_run_with_first_final_and_references(tmp_path):
    run_curves = load_tool("run_curves")
    run = tmp_path / "franka__s0"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"task": "franka_pick_cube", "obs": "state", "algo": "sdpg",
                                                 "num_nominal": 8, "num_aux": 7, "horizon": 32,
                                                 "init_logstd": -1.6}))
    # 40 epochs with an episode in each: the first and last 5% are 2 epochs each.
    rows = [f"{epoch},{10.0 * epoch},300,{0.025 * epoch},0.1" for epoch in range(1, 41)]
    (run / "metrics.csv").write_text("epoch,charts/episode_return,charts/episode_length,task/lifted,"
                                     "perf/wall_minutes\n" + "\n".join(rows) + "\n")
    references = tmp_path / "refs.json"
    references.write_text(json.dumps([{"rows": [
        {"task": "franka_pick_cube", "policy": "random", "return": 51.5, "task/lifted": 0.0},
        {"task": "franka_pick_cube", "policy": "idle", "return": 225.0, "task/lifted": 0.0}]}]))
    text = run_curves.table([run_curves.read_run(str(run))], run_curves.read_references([str(references)]))
    header, rule, row = text.strip().splitlines()
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == len(header.strip("|").split("|")) == len(rule.strip("|").split("|"))
    named = dict(zip([c.strip() for c in header.strip("|").split("|")], cells))
    assert named["task"] == "franka_pick_cube" and (named["N"], named["M"], named["H"]) == ("8", "7", "32")
    # The settings column: what differs from the task's defaults today (the config holds only a few
    # fields, so only init_logstd is compared; franka's SDPG default is -1.6).
    assert named["settings"] == "defaults" and named["epochs"] == "40" and named["wall"] == "0.1 min"
    assert run_curves.changed_settings({"task": "franka_pick_cube", "obs": "state", "algo": "sdpg", "seed": 3,
                                        "init_logstd": 0.0, "num_nominal": 2, "randomize": True}) == [
        "randomize=True", "init_logstd=0.0"]  # in the config's field order
    assert named["return first -> final"] == "15 -> 395"  # mean(10, 20) -> mean(390, 400)
    assert named["task metrics (final)"] == "lifted 0.988"
    assert named["random / idle return"] == "51.5 / 225"
    # No reference for a task: dashes, not an error.
    assert "| - / - |" in run_curves.table([run_curves.read_run(str(run))], {})
    saved = tmp_path / "saved.json"
    saved.write_text(json.dumps({"what": "curves", "runs": [run_curves.read_run(str(run))]}))
    assert run_curves.read_runs(str(saved)) == [run_curves.read_run(str(run))]  # a written file reads back
    for other in ([{"rows": []}], {"what": "no runs"}, {"runs": [None]}):
        saved.write_text(json.dumps(other))
        with pytest.raises(SystemExit, match="neither a run folder nor"):
            run_curves.read_runs(str(saved))
    out = tmp_path / "curves.png"
    run_curves.figure([run_curves.read_run(str(run))], run_curves.read_references([str(references)]), str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _trimmed(path: pathlib.Path, out: pathlib.Path, runs: int = 3, epochs: int = 60) -> dict:
    """The first ``runs`` runs of a committed JSON with their curves cut to ``epochs``, written to ``out``."""
    data = json.loads(path.read_text())
    data["runs"] = data["runs"][:runs]
    for run in data["runs"]:
        for key in ("episode_return", "minutes", "step_reward"):
            if key in run:
                run[key] = run[key][:epochs]
    out.write_text(json.dumps(data))
    return data


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_learning_plots_the_committed_json_format(tmp_path, capsys, path):
    learning = load_tool("learning")
    sample = tmp_path / path.name
    data = _trimmed(path, sample)
    figure = tmp_path / "curves.png"
    assert learning.main(["--plot", str(sample), "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(len(row["seeds"]) for row in rows) == len(data["runs"])
    assert {row["task"] for row in rows} == {run["task"] for run in data["runs"]}
    if all("minutes" in run for run in data["runs"]):
        assert learning.main(["--plot", str(sample), "--figure", str(figure), "--x", "minutes"]) == 0


def test_learning_trains_run_folders_through_the_sweep_and_writes_the_committed_format(tmp_path, capsys):
    learning = load_tool("learning")
    out, runs = tmp_path / "curves.json", tmp_path / "runs"
    args = [*TINY, "--seeds", "0", "--epochs", "3", "--log-dir", str(runs), "--out", str(out), "--label", "tiny"]
    assert learning.main(args) == 0
    run_dir = runs / "tiny__pointmass__state__sdpg" / "seed0"
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "metrics.csv").is_file()
    (run,) = json.loads(out.read_text())["runs"]
    committed = set().union(*(json.loads(path.read_text())["runs"][0] for path in COMMITTED))
    assert committed <= set(run), committed - set(run)
    assert (run["label"], run["task"], run["seed"], run["epochs"]) == ("tiny", "pointmass", 0, 3)
    assert (run["num_nominal"], run["num_aux"], run["horizon"]) == (2, 1, 4)
    assert len(run["episode_return"]) == len(run["minutes"]) == len(run["step_reward"]) == 3
    assert run["minutes"] == sorted(run["minutes"]) and run["wall_seconds"] == pytest.approx(60 * run["minutes"][-1])
    assert "learning.pointmass.state.seed0.final_return:" in capsys.readouterr().out
    # The same command again: the finished run is skipped, and its entry replaced rather than added.
    assert learning.main(args) == 0
    assert "done (skipped): seed0" in capsys.readouterr().out
    assert len(json.loads(out.read_text())["runs"]) == 1


def test_learning_minutes_stops_a_run_by_the_clock_and_a_rerun_skips_it(tmp_path, capsys):
    learning = load_tool("learning")
    out = tmp_path / "curves.json"
    # A budget of 6 ms: spent in the first epoch, which finishes with a checkpoint.
    args = [*TINY, "--seeds", "0", "--epochs", "50", "--minutes", "0.0001", "--log-dir", str(tmp_path / "runs"),
            "--out", str(out), "--label", "clock"]
    assert learning.main(args) == 0
    (run,) = json.loads(out.read_text())["runs"]
    assert run["epochs"] == 1 and run["config"]["max_minutes"] == 0.0001
    assert learning.main(args) == 0
    assert "done (skipped): seed0" in capsys.readouterr().out
    assert json.loads(out.read_text())["runs"][0]["epochs"] == 1
