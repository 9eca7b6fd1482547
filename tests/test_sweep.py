"""python -m sdpg_warp.sweep: a 2x2 grid of tiny runs, 2 at a time, one failing on purpose, then
the same command again (skips the finished, resumes the unfinished, starts the failed anew)."""

import json
import os
import shutil

from sdpg_warp import sweep
from sdpg_warp.checkpoint import read_checkpoint

TINY = ["--task", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "3", "--horizon", "4",
        "--critic-minibatch", "16", "--episode-length", "4", "--device", "cpu", "--epochs", "2",
        "--checkpoint-every", "1", "--keep-checkpoints", "2", "--logger", "csv"]


def test_sweep_grid_failure_summary_and_rerun(tmp_path, capsys):
    argv = [*TINY, "--log-dir", str(tmp_path), "--seeds", "0", "1", "--set", "actor_lr=1e-3,2e-3", "--jobs", "2",
            "--name", "s"]
    folder = tmp_path / "s"
    folder.mkdir()
    blocked = folder / "actor_lr=2e-3__seed1"
    blocked.write_text("a file where the run folder goes: train exits 2")
    assert sweep.main(argv) == 0
    rows = {row["run"]: row for row in json.loads((folder / "summary.json").read_text())["runs"]}
    assert sorted(rows) == ["actor_lr=1e-3__seed0", "actor_lr=1e-3__seed1", "actor_lr=2e-3__seed0",
                            "actor_lr=2e-3__seed1"]
    failed = rows.pop("actor_lr=2e-3__seed1")
    assert failed["status"] == "usage error" and failed["exit_code"] == 2 and failed["final_return"] is None
    for name, row in rows.items():
        assert row["status"] == "done" and row["exit_code"] == 0 and row["epoch"] == 2, name
        assert row["final_return"] is not None and row["wall_s"] > 0 and row["process_s"] >= row["wall_s"]
        assert read_checkpoint(str(folder / name / "checkpoint.pt"))["config"]["seed"] == row["seed"]
    assert rows["actor_lr=2e-3__seed0"]["settings"] == {"actor_lr": "2e-3"}
    summary = (folder / "summary.md").read_text()
    assert "| actor_lr=2e-3__seed1 | 1 | usage error | 2 | 0 |" in summary
    assert (folder / "curves.png").stat().st_size > 0 and (folder / "logs" / "actor_lr=1e-3__seed0.log").is_file()

    # Rerun: one run looks interrupted after epoch 1, the failed one can now start.
    blocked.unlink()
    interrupted = folder / "actor_lr=1e-3__seed1"
    shutil.copyfile(interrupted / "checkpoint_epoch000001.pt", interrupted / "checkpoint.pt")
    done_before = os.path.getmtime(folder / "actor_lr=1e-3__seed0" / "checkpoint.pt")
    capsys.readouterr()
    assert sweep.main(argv) == 0
    out = capsys.readouterr().out
    assert "start actor_lr=1e-3__seed1 (resume)" in out and "start actor_lr=2e-3__seed1\n" in out
    assert "start actor_lr=1e-3__seed0" not in out
    assert os.path.getmtime(folder / "actor_lr=1e-3__seed0" / "checkpoint.pt") == done_before
    assert "resumed" in (folder / "logs" / "actor_lr=1e-3__seed1.log").read_text()
    rows = json.loads((folder / "summary.json").read_text())["runs"]
    assert {row["run"]: row["status"] for row in rows} == {
        "actor_lr=1e-3__seed0": "done (skipped)", "actor_lr=1e-3__seed1": "done", "actor_lr=2e-3__seed0": "done (skipped)",
        "actor_lr=2e-3__seed1": "done"}
    assert all(row["epoch"] == 2 for row in rows)


def test_bad_sweep_input_exits_2_with_one_line_and_creates_nothing(tmp_path, capsys):
    base = [*TINY, "--log-dir", str(tmp_path / "runs")]
    assert sweep.main([*base, "--set", "actor_lr"]) == 2
    assert sweep.main([*base, "--seed", "3"]) == 2
    assert sweep.main([*base, "--set", "actor_lr=1e-3", "--actor-lr", "2e-3"]) == 2
    assert sweep.main([*base, "--set", "num_aux=3,0"]) == 2  # each run's config is checked first
    assert capsys.readouterr().err.count("\n") == 4
    assert not (tmp_path / "runs").exists()


def test_a_run_folder_without_checkpoint_is_restarted_unless_another_process_trains_it(tmp_path):
    from sdpg_warp.run_lock import RunLock

    job = sweep.Job("r", {}, 0, ["--seed", "0"])
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.json").write_text("{}")
    lock = RunLock()
    lock.acquire(str(run))  # a live holder (this process, through another open file)
    assert sweep.plan(job, str(tmp_path)) == (None, "in use (skipped)") and (run / "config.json").is_file()
    lock.release()
    assert sweep.plan(job, str(tmp_path)) == (["--seed", "0"], None) and not run.exists()


def test_the_default_sweep_folder_follows_the_command_but_not_its_jobs():
    def folder(argv):
        opts, _, rest = sweep.parse(argv)
        return sweep.sweep_folder(opts, rest, argv)

    base = ["--task", "pointmass", "--obs", "state", "--set", "actor_lr=1e-3,2e-3"]
    assert folder([*base, "--jobs", "1"]) == folder([*base, "--jobs", "4"]) == folder(base)
    assert folder(base).startswith(os.path.join("runs", "sweep__pointmass__state__"))
    assert folder([*base, "--seeds", "1"]) != folder(base)


def test_a_run_that_has_trained_its_max_minutes_is_done_and_others_resume_with_the_budget(tmp_path, monkeypatch):
    from sdpg_warp import checkpoint

    run = tmp_path / "r"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"")
    saved = {"epoch": 1, "elapsed_seconds": 130.0}
    monkeypatch.setattr(checkpoint, "read_checkpoint", lambda path: saved)
    budget = sweep.Job("r", {}, 0, [*TINY, "--max-minutes", "2"])
    assert sweep.plan(budget, str(tmp_path)) == (None, "done (skipped)")
    saved["elapsed_seconds"] = 100.0
    assert sweep.plan(budget, str(tmp_path)) == (["--resume", str(run), "--epochs", "2", "--max-minutes", "2.0"], None)
    saved["elapsed_seconds"] = 1e6  # no budget: only the epochs count
    assert sweep.plan(sweep.Job("r", {}, 0, TINY), str(tmp_path))[0][:2] == ["--resume", str(run)]
