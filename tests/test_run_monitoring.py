"""Around a training run: the csv and wandb writers, env steps and time on every logged step, the
console lines, kept numbered and best checkpoints and their choice in play and export."""

import csv
import glob
import importlib.util
import os
import shutil

import numpy as np
import pytest

from sdpg_warp import export, log_writers, play, train
from sdpg_warp.checkpoint import read_checkpoint
from sdpg_warp.logger import COMPACT_COLUMNS, Logger

TINY = ["--task", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "3", "--horizon", "4",
        "--critic-minibatch", "16", "--threads", "1", "--episode-length", "4"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_writer_widens_its_header_and_drops_purged_rows(tmp_path):
    writer = log_writers.CsvWriter(str(tmp_path))
    writer.add_scalar("a", 1.0, 1)
    writer.add_scalar("a", 2.0, 2)
    writer.add_scalar("b", 5.0, 2)  # a new column: the file is rewritten with it
    writer.add_scalar("a", 3.0, 3)
    writer.close()
    rows = _rows(tmp_path / "metrics.csv")
    assert [(r["epoch"], r["a"], r["b"]) for r in rows] == [("1", "1.0", ""), ("2", "2.0", "5.0"), ("3", "3.0", "")]
    assert not os.path.exists(tmp_path / "metrics.csv.tmp")
    # A resume from epoch 2's checkpoint drops the rows of epoch 3 on, then appends.
    writer = log_writers.CsvWriter(str(tmp_path), purge_step=3)
    writer.add_scalar("b", 7.0, 3)
    writer.close()
    assert [(r["epoch"], r["a"], r["b"]) for r in _rows(tmp_path / "metrics.csv")] == [
        ("1", "1.0", ""), ("2", "2.0", "5.0"), ("3", "", "7.0")]


def test_wandb_without_its_package_exits_2_with_the_install_line_and_creates_nothing(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    log_dir = tmp_path / "runs"
    assert train.main(["--log-dir", str(log_dir), *TINY, "--logger", "csv", "wandb"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'pip install -e ".[wandb]"' in err and "--logger wandb" in err
    assert not log_dir.exists()


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed (pip install -e '.[wandb]')")
def test_wandb_offline_run_gets_the_run_name_config_scalars_and_a_video(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    assert train.main(["--device", "cpu", "--log-dir", str(tmp_path), *TINY, "--epochs", "2", "--run-name", "wb",
                       "--logger", "wandb", "csv"]) == 0
    run = tmp_path / "wb"
    offline = glob.glob(str(run / "wandb" / "offline-run-*"))
    assert len(offline) == 1
    with open(run / "wandb_id") as f:
        run_id = f.read().strip()
    # The offline run's record log (protobuf records, strings verbatim) holds the name, config and scalars.
    with open(os.path.join(offline[0], f"run-{run_id}.wandb"), "rb") as f:
        records = f.read()
    assert all(text in records for text in (b"wb", b"pointmass", b"num_aux", b"charts/env_steps", b"losses/critic"))
    # A video goes into the run's files (what wandb sync uploads).
    writer = log_writers.WandbWriter(str(run))
    writer.add_video("videos/rollout", np.zeros((3, 16, 16, 3), np.uint8), 2, fps=10)
    writer.close()
    assert glob.glob(str(run / "wandb" / "offline-run-*" / "files" / "**" / "videos_rollout_000002*.mp4"),
                     recursive=True)
    assert len(glob.glob(str(run / "wandb" / "offline-run-*"))) == 2  # the same id, resumed


def test_every_step_carries_env_steps_and_time_and_the_compact_line_fits(capsys):
    written = []

    class Writer:
        def add_scalar(self, name, value, step):
            written.append((name, value, step))

    episodes = {"charts/episode_return": -123456.789, "task/a_very_long_task_metric_name": 123456.0}
    scalars = Logger(Writer()).log(3, 100000, {}, episodes, -123456.789, {"rollout": 1.0}, 2.0, 1000,
                                   elapsed=3725.0, eta=90000.0)
    assert ("charts/env_steps", 3000.0, 3) in written and ("perf/wall_minutes", 3725.0 / 60, 3) in written
    full = capsys.readouterr().out
    assert "3k env steps" in full and "1:02:05 elapsed, ETA 25:00:00" in full
    assert scalars["charts/env_steps"] == 3000.0
    compact = Logger(None, "compact")
    compact.log(99999, 100000, {"charts/policy_std": 0.3}, episodes, -123456.789, {"rollout": 1.0, "update": 2.0},
                1e-3, 10 ** 9, elapsed=1e7, eta=1e8)
    compact.log(1, 10, {}, {}, None, {}, 1.0, 10)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(len(line) <= COMPACT_COLUMNS for line in lines)
    assert lines[0].startswith("ep 99999/100000 | ret -123456.79 | 100T st | 1T/s | 2777:46:40 eta 27777:46:40 | ")
    assert lines[1] == "ep 1/10 | ret       n/a | 10 st | 10/s | 0:00:01 eta -:--:--"


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A run of 4 epochs, a checkpoint after each, keeping 2 numbered ones; metrics.csv beside."""
    root = tmp_path_factory.mktemp("kept")
    assert train.main(["--device", "cpu", "--log-dir", str(root), *TINY, "--epochs", "4", "--checkpoint-every", "1",
                       "--keep-checkpoints", "2", "--run-name", "r", "--logger", "csv"]) == 0
    return root / "r"


def test_keep_checkpoints_keeps_the_newest_numbered_and_the_best(kept):
    names = sorted(os.listdir(kept))
    assert [n for n in names if n.startswith("checkpoint")] == [
        "checkpoint.pt", "checkpoint_best.pt", "checkpoint_epoch000003.pt", "checkpoint_epoch000004.pt"]
    assert read_checkpoint(str(kept / "checkpoint_epoch000003.pt"))["epoch"] == 3
    rows = _rows(kept / "metrics.csv")
    returns = {int(r["epoch"]): float(r["charts/episode_return"]) for r in rows if r["charts/episode_return"]}
    best = read_checkpoint(str(kept / "checkpoint_best.pt"))
    assert best["best_return"] == max(returns.values()) == returns[best["epoch"]]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["charts/env_steps"]) for r in rows] == [4 * 8 * e for e in (1, 2, 3, 4)]


def test_play_and_export_take_epoch_or_best(kept, tmp_path, capsys):
    assert play.main([str(kept), "--epoch", "4", "--num-worlds", "1", "--steps", "2", "--device", "cpu"]) == 0
    assert export.main([str(kept), "--best", "--out", str(tmp_path / "p.onnx")]) == 0
    capsys.readouterr()
    assert play.main([str(kept), "--epoch", "1", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no checkpoint_epoch000001.pt (kept epochs: 3, 4; it has a best checkpoint)" in err
    assert export.main([str(kept / "checkpoint.pt"), "--best"]) == 2
    assert play.main([str(kept), "--epoch", "3", "--best"]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_a_resumed_run_keeps_its_time_best_return_and_csv(kept, tmp_path):
    run = tmp_path / "r"
    shutil.copytree(kept, run)
    before = read_checkpoint(str(run / "checkpoint.pt"))
    assert before["elapsed_seconds"] > 0 and before["best_return"] is not None
    assert train.main(["--resume", str(run), "--epochs", "5"]) == 0
    after = read_checkpoint(str(run / "checkpoint.pt"))
    assert after["elapsed_seconds"] > before["elapsed_seconds"] and after["best_return"] >= before["best_return"]
    assert [int(r["epoch"]) for r in _rows(run / "metrics.csv")] == [1, 2, 3, 4, 5]
    assert sorted(n for n in os.listdir(run) if n.startswith("checkpoint_epoch")) == [
        "checkpoint_epoch000004.pt", "checkpoint_epoch000005.pt"]
