"""The measuring tools under tools/ that are not benchmarks: run curves read back what a run logged."""

import importlib.util
import json
import pathlib

import pytest

TOOLS = pathlib.Path(__file__).resolve().parents[1] / "tools"


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
    (run / "config.json").write_text(json.dumps({"task": "walker_hurdle", "obs": "state"}))
    writer = SummaryWriter(str(run))
    for epoch in range(1, 41):
        writer.add_scalar("charts/step_reward", 0.1 * epoch, epoch)
        if epoch % 10 == 0:  # episodes end every tenth epoch
            writer.add_scalar("charts/episode_return", float(epoch), epoch)
            writer.add_scalar("task/hurdles_cleared", epoch / 10, epoch)
        writer.add_scalar("losses/critic", 1.0, epoch)  # not a curve of the file
    writer.close()
    read = run_curves.read_run(str(run))
    assert read["epochs"] == 40 and read["config"]["task"] == "walker_hurdle"
    assert sorted(read["curves"]) == ["charts/episode_return", "charts/step_reward", "task/hurdles_cleared"]
    returns = read["curves"]["charts/episode_return"]
    assert len(returns) == 40 and returns[9] == 10.0 and returns[10] is None and returns[39] == 40.0
    # The final value averages the last 5% of the logged values: of 4 logged, the last one.
    assert run_curves.final(read["curves"]["task/hurdles_cleared"]) == pytest.approx(4.0)
    assert run_curves.final([None, None]) != run_curves.final([None, None])  # NaN without a value
