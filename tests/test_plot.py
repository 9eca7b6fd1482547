"""python -m sdpg_warp.plot: curves of tiny run folders (metrics.csv or TensorBoard events)."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest

from sdpg_warp import plot

CONFIG = {"algo": "sdpg", "task": "pointmass", "obs": "state", "num_nominal": 2, "num_aux": 3, "horizon": 4,
          "actor_lr": 1e-3}


def _csv_run(folder, seed, lr, returns):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**CONFIG, "seed": seed, "actor_lr": lr}))
    lines = ["epoch,charts/episode_return,charts/env_steps,perf/wall_minutes,task/distance"]
    lines += [f"{e},{r},{32 * e},{0.5 * e},{r / 10}" for e, r in enumerate(returns, 1)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")


def _event_run(folder):
    from torch.utils.tensorboard import SummaryWriter

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({**CONFIG, "seed": 0, "actor_lr": 5e-3}))
    writer = SummaryWriter(str(folder))
    for epoch in (1, 2, 3):
        writer.add_scalar("charts/episode_return", 10.0 * epoch, epoch)
        writer.add_scalar("perf/epoch_seconds", 1.0, epoch)
    writer.close()


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "sweep"
    _csv_run(root / "a0", 0, 1e-3, [1.0, 2.0, 3.0])
    _csv_run(root / "a1", 1, 1e-3, [3.0, 4.0, 5.0])
    _event_run(root / "b0")
    return root


def test_read_run_from_csv_and_from_events(sweep):
    csv_run = plot.read_run(str(sweep / "a1"))
    assert csv_run.column("charts/episode_return") == [(1.0, 3.0), (2.0, 4.0), (3.0, 5.0)]
    events = plot.read_run(str(sweep / "b0"))
    assert events.column("charts/episode_return") == [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]
    # Env steps from the config (N (M + 1) H = 32 per epoch); minutes from the events' wall times.
    assert events.column("charts/env_steps") == [(1.0, 32.0), (2.0, 64.0), (3.0, 96.0)]
    assert [m for _, m in events.column("perf/wall_minutes")] == sorted(m for _, m in events.column("perf/wall_minutes"))


def test_runs_differing_in_the_seed_share_a_curve(sweep):
    runs = [plot.read_run(str(sweep / n)) for n in ("a0", "a1", "b0")]
    groups = plot.group_runs(runs)
    assert sorted(groups) == ["actor_lr=0.001 (2 seeds)", "actor_lr=0.005 (1 seed)"]


@pytest.mark.parametrize("x", ["epoch", "steps", "minutes"])
def test_plot_draws_a_sweep_folder(sweep, tmp_path, x, capsys):
    out = tmp_path / f"{x}.png"
    assert plot.main([str(sweep), "--x", x, "--out", str(out)]) == 0
    assert "charts/episode_return, task/distance of 3 run(s)" in capsys.readouterr().out
    image = np.asarray(imageio.imread(out))
    assert image.shape[1] == 1000 and image[..., :3].std() > 0  # two 5-inch panels at 100 dpi


def test_plot_bad_input_exits_2_with_one_line(tmp_path, capsys):
    assert plot.main([str(tmp_path / "nowhere")]) == 2
    assert plot.main([str(tmp_path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 2
