"""The training loop end to end: CLI, run folder, checkpoints, exact resume, real learning."""

import dataclasses
import glob
import json
import os
import pathlib

import numpy as np
import pytest
import torch
import warp as wp

from conftest import bitwise_task
from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner

TINY = ["--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--image-size", "16",
        "--critic-minibatch", "16", "--checkpoint-every", "1"]


def _scalars(run_dir: str, tag: str) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(run_dir)
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


def _run(tmp_path, *args) -> int:
    device = os.environ.get("SDPG_TEST_DEVICE", "cpu")
    # Exact-resume comparisons on CUDA need the deterministic modes (the CPU is deterministic).
    extra = ["--deterministic"] if device != "cpu" and "--resume" not in args else []
    return train.main(["--device", device, "--log-dir", str(tmp_path), *extra, *args])


@pytest.fixture(autouse=True)
def _test_device(device, monkeypatch):
    monkeypatch.setenv("SDPG_TEST_DEVICE", device)


RANDOMIZED = ["--randomize", "--randomize-set", "friction=0.5,1.25", "added_mass=-0.1,0.5", "kp_scale=0.8,1.2",
              "rgba_scale=0.5,1.5", "camera_pos=-0.02,0.02", "camera_rot=-0.05,0.05", "camera_fovy=-2,2"]
"""Domain randomization per group, physics and pixels (redrawn at every nominal reset), which a resume must
continue exactly."""


@pytest.mark.parametrize("randomize", [[], RANDOMIZED], ids=["plain", "randomized"])
def test_hopper_run_writes_events_checkpoint_and_config_and_resumes_exactly(tmp_path, device, randomize):
    # A resumed run equals the straight one bitwise: on CUDA, with a task whose physics is reproducible.
    common = ["--task", bitwise_task(device), "--obs", "rgb", *TINY, *randomize]
    assert _run(tmp_path, *common, "--epochs", "4", "--run-name", "straight") == 0
    # Stopped at 2 of a 4-epoch schedule, as an interrupted run would be.
    assert _run(tmp_path, *common, "--epochs", "2", "--schedule-epochs", "4", "--run-name", "split") == 0
    split = tmp_path / "split"
    assert (split / "checkpoint.pt").is_file()
    config = json.loads((split / "config.json").read_text())
    assert config["task"] == bitwise_task(device) and config["num_aux"] == 3 and config["epochs"] == 2
    assert json.loads((tmp_path / "straight" / "config.json").read_text())["schedule_epochs"] == 4
    assert glob.glob(str(split / "events.out.tfevents.*"))
    assert torch.load(split / "checkpoint.pt", weights_only=False)["epoch"] == 2

    assert _run(tmp_path, "--resume", str(split), "--epochs", "4") == 0
    assert json.loads((split / "config.json").read_text())["epochs"] == 4
    straight = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=False)
    resumed = torch.load(split / "checkpoint.pt", weights_only=False)
    assert resumed["epoch"] == straight["epoch"] == 4
    for name in ("actor", "critic", "target_critic"):
        for key, value in straight["algo"][name].items():
            assert torch.equal(value, resumed["algo"][name][key]), f"{name}.{key}"
    for key, value in straight["sim"].items():
        np.testing.assert_array_equal(value, resumed["sim"][key], err_msg=key)
    assert any(key.startswith("model.") for key in straight["sim"]) == bool(randomize)
    for tag in ("losses/actor", "losses/critic", "charts/step_reward"):
        a, b = _scalars(str(tmp_path / "straight"), tag), _scalars(str(split), tag)
        assert a[3] == b[3] and a[4] == b[4], tag


@pytest.mark.parametrize(
    "args, message",
    [
        (["--task", "nope"], "unknown task"),
        (["--task", "reacher", "--num-aux", "0"], "num-aux must be >= 1"),
        (["--task", "reacher", "--horizon", "0"], "horizon must be >= 1"),
        (["--task", "reacher", "--resume", "/nonexistent/run"], "no checkpoint"),
        (["--task", "reacher", "--obs", "rgb", "--image-size", "4"], "image-size must be >= 16"),
        (["--task", "reacher", "--obs", "depth", "--image-size", "15"], "image-size must be >= 16"),
        (["--task", "reacher", "--actor-lr", "nan"], "actor-lr must be finite and > 0"),
        (["--task", "reacher", "--critic-lr", "inf"], "critic-lr must be finite and > 0"),
        (["--task", "reacher", "--critic-lr", "0"], "critic-lr must be finite and > 0"),
        (["--task", "reacher", "--alpha-lr", "-1"], "alpha-lr must be finite and > 0"),
        (["--task", "reacher", "--grad-clip", "0"], "grad-clip must be finite and > 0"),
        (["--task", "reacher", "--actor-hidden", "64", "0"], "actor-hidden widths must be >= 1"),
        (["--task", "reacher", "--critic-hidden", "-3"], "critic-hidden widths must be >= 1"),
        (["--task", "reacher", "--encoder-dim", "0"], "encoder-dim must be >= 1"),
        (["--task", "reacher", "--schedule-epochs", "0"], "schedule-epochs must be >= 1"),
        (["--task", "reacher", "--threads", "-1"], "threads must be >= 0"),
        (["--task", "reacher", "--obs", "state", "--device", "cuda:99"], "--device cuda:99 is not available"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_creates_nothing(tmp_path, capsys, args, message):
    log_dir = tmp_path / "runs"
    assert train.main(["--log-dir", str(log_dir), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not log_dir.exists()


def test_cuda_without_a_gpu_exits_2_with_one_line(tmp_path, capsys):
    import warp as wp

    if wp.get_cuda_device_count() > 0:
        pytest.skip("a CUDA device is present")
    assert train.main(["--log-dir", str(tmp_path / "runs"), "--task", "reacher", "--device", "cuda:0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--device cuda:0 is not available" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_bad_flag_value_exits_2(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        _run(tmp_path, "--task", "reacher", "--num-nominal", "many")
    assert exit_info.value.code == 2


def test_existing_run_is_never_overwritten_and_resume_checks_compatibility(tmp_path, capsys):
    args = ["--task", "reacher", "--obs", "state", *TINY, "--epochs", "1", "--run-name", "r"]
    assert _run(tmp_path, *args) == 0
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    assert _run(tmp_path, *args) == 2
    assert "already exists" in capsys.readouterr().err
    assert _run(tmp_path, "--resume", str(tmp_path / "r"), "--task", "hopper") == 2
    assert "conflicts" in capsys.readouterr().err
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def _mean_return(history, first: bool, count: int) -> float:
    values = [h["charts/episode_return"] for h in history if "charts/episode_return" in h]
    return float(np.mean(values[:count] if first else values[-count:]))


@pytest.mark.slow
@pytest.mark.parametrize("obs", ["state", "rgb"])
def test_reacher_learns(device, obs):
    """The small task's episode return must rise clearly within the default budget."""
    cfg = dataclasses.replace(task_defaults("reacher"), obs=obs, device=device)
    if obs == "state":
        cfg = dataclasses.replace(cfg, epochs=150)
    history = Runner(cfg).train()
    early, late = _mean_return(history, True, 3), _mean_return(history, False, 5)
    assert late > early + 20.0, f"episode return {early:.1f} -> {late:.1f}"


# ------------------------------------------------------------------------------------------------
# Run folders, resume semantics, TensorBoard steps, divergence, bad checkpoints, console, threads

STATE = ["--task", "pointmass", "--obs", "state", *TINY]


def _files(folder) -> dict:
    """{name: bytes} of every file in a folder, to show that nothing changed."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(train.time, "strftime", lambda fmt: "20260101-000000")
    assert _run(tmp_path, *STATE, "--epochs", "1", "--seed", "5") == 0
    assert _run(tmp_path, *STATE, "--epochs", "1", "--seed", "5") == 0
    first, second = tmp_path / "pointmass__state__5__20260101-000000", tmp_path / "pointmass__state__5__20260101-000000-1"
    for run_dir in (first, second):
        assert {"config.json", "checkpoint.pt"} <= set(os.listdir(run_dir))
        assert len(glob.glob(str(run_dir / "events.out.tfevents.*"))) == 1


def test_create_run_dir_is_exclusive(tmp_path):
    assert train.create_run_dir(str(tmp_path), "r", exact=False) == str(tmp_path / "r")
    assert train.create_run_dir(str(tmp_path), "r", exact=False) == str(tmp_path / "r-1")
    assert train.create_run_dir(str(tmp_path), "r", exact=False) == str(tmp_path / "r-2")
    with pytest.raises(train.UsageError, match="already exists"):
        train.create_run_dir(str(tmp_path), "r", exact=True)
    (tmp_path / "file").write_text("")
    with pytest.raises(train.UsageError, match="cannot create a run folder"):
        train.create_run_dir(str(tmp_path / "file"), "r", exact=False)


def test_resume_with_more_epochs_keeps_the_schedule_and_says_so(tmp_path, capsys):
    from sdpg_warp.sdpg import actor_lr_at, critic_lr_at

    args = [*STATE, "--actor-warmup-epochs", "1", "--critic-lr-schedule", "linear", "--run-name", "r"]
    assert _run(tmp_path, *args, "--epochs", "3") == 0
    run = tmp_path / "r"
    assert json.loads((run / "config.json").read_text())["schedule_epochs"] == 3
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(run), "--epochs", "5") == 0
    out = capsys.readouterr().out
    assert "the run now ends at epoch 5 (was 3)" in out
    assert "learning-rate schedules keep their length of 3 epochs" in out
    saved = json.loads((run / "config.json").read_text())
    assert saved["epochs"] == 5 and saved["schedule_epochs"] == 3
    cfg = train.resumed_config(train.parse_config([*args]), str(run), set())
    # Step e logs the rate of 0-based epoch e - 1; from epoch index 3 on both rates stay at their ends.
    actor_lr = _scalars(str(run), "charts/actor_lr")
    assert actor_lr[4] == actor_lr[5] == pytest.approx(cfg.actor_lr_min, rel=1e-6)
    assert actor_lr[3] == pytest.approx(actor_lr_at(2, cfg), rel=1e-6) and actor_lr[3] > cfg.actor_lr_min
    critic_lr = _scalars(str(run), "charts/critic_lr")
    assert critic_lr[4] == critic_lr[5] == pytest.approx(critic_lr_at(3, cfg), rel=1e-6)  # 0.1x, held
    assert critic_lr[3] == pytest.approx(critic_lr_at(2, cfg), rel=1e-6) and critic_lr[3] != critic_lr[4]


def test_resume_can_stretch_the_schedule_explicitly(tmp_path, capsys):
    from sdpg_warp.sdpg import actor_lr_at

    args = [*STATE, "--actor-warmup-epochs", "1", "--run-name", "r"]
    assert _run(tmp_path, *args, "--epochs", "3") == 0
    capsys.readouterr()
    run = tmp_path / "r"
    assert _run(tmp_path, "--resume", str(run), "--epochs", "5", "--schedule-epochs", "5") == 0
    assert "learning-rate schedules now span 5 epochs (were 3)" in capsys.readouterr().out
    cfg = train.resumed_config(train.parse_config(args), str(run), set())
    assert cfg.schedule_epochs == 5
    assert _scalars(str(run), "charts/actor_lr")[4] == pytest.approx(actor_lr_at(3, cfg), rel=1e-6)


def test_resume_below_or_at_the_checkpoint_changes_nothing(tmp_path, capsys):
    assert _run(tmp_path, *STATE, "--epochs", "3", "--run-name", "r") == 0
    run = tmp_path / "r"
    before = _files(run)
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(run), "--epochs", "2") == 2
    err = capsys.readouterr().err.strip()
    assert "--epochs 2 is below the checkpoint's epoch 3" in err and len(err.splitlines()) == 1
    assert _run(tmp_path, "--resume", str(run)) == 0
    assert "complete at epoch 3; nothing to train" in capsys.readouterr().out
    assert _files(run) == before


def test_resume_of_a_run_saved_without_schedule_epochs_keeps_its_length(tmp_path, capsys):
    assert _run(tmp_path, *STATE, "--epochs", "2", "--actor-warmup-epochs", "1", "--run-name", "r") == 0
    config = tmp_path / "r" / "config.json"
    old = json.loads(config.read_text())
    del old["schedule_epochs"]
    config.write_text(json.dumps(old))
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(tmp_path / "r"), "--epochs", "3") == 0
    assert "keep their length of 2 epochs" in capsys.readouterr().out
    assert json.loads(config.read_text())["schedule_epochs"] == 2


def test_resume_after_a_crash_writes_every_tensorboard_step_once(tmp_path):
    """A crash after epoch 4 with the newest checkpoint at epoch 2: the resumed run's steps 3 and 4
    replace the lost ones instead of appearing twice."""
    assert _run(tmp_path, *STATE, "--epochs", "2", "--schedule-epochs", "4", "--run-name", "r") == 0
    run = tmp_path / "r"
    at_2 = (run / "checkpoint.pt").read_bytes()
    assert _run(tmp_path, "--resume", str(run), "--epochs", "4") == 0
    (run / "checkpoint.pt").write_bytes(at_2)  # the crash: epochs 3 and 4 logged, not saved
    assert _run(tmp_path, "--resume", str(run), "--epochs", "4") == 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run))
    events.Reload()
    for tag in ("losses/critic", "charts/step_reward", "perf/epoch_seconds"):
        steps = [e.step for e in events.Scalars(tag)]
        assert sorted(steps) == [1, 2, 3, 4], (tag, steps)


def _diverge_at(monkeypatch, epoch: int, how: str):
    """Makes 0-based epoch ``epoch`` diverge: a NaN critic loss, or an infinite critic weight."""
    update = Runner.update

    def update_then_break(self):
        metrics = update(self)
        if self.epoch == epoch:
            if how == "loss":
                metrics["losses/critic"] = torch.tensor(float("nan"))
            else:
                with torch.no_grad():
                    next(self.algo.critic.parameters()).view(-1)[0] = float("inf")
        return metrics

    monkeypatch.setattr(Runner, "update", update_then_break)


@pytest.mark.parametrize("how, quantity", [("loss", "losses/critic"), ("weight", "critic weights")])
def test_divergence_stops_with_exit_3_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch,
                                                                          how, quantity):
    _diverge_at(monkeypatch, 2, how)
    assert _run(tmp_path, *STATE, "--epochs", "10", "--run-name", "r") == 3
    err = capsys.readouterr().err.strip()
    assert f"non-finite {quantity}" in err and "at epoch 3" in err and "last good checkpoint (epoch 2)" in err
    assert len(err.splitlines()) == 1
    state = torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 2
    for name in ("actor", "critic", "target_critic"):
        assert all(torch.isfinite(v).all() for v in state["algo"][name].values() if v.is_floating_point())
    assert _scalars(str(tmp_path / "r"), "losses/critic").keys() == {1, 2, 3}


def test_divergence_before_any_checkpoint_says_none_was_saved(tmp_path, capsys, monkeypatch):
    _diverge_at(monkeypatch, 0, "loss")
    assert STATE[-2] == "--checkpoint-every"  # replaced here: a flag given twice is refused
    assert _run(tmp_path, *STATE[:-2], "--epochs", "10", "--checkpoint-every", "5", "--run-name", "r") == 3
    assert "no checkpoint was saved" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_huge_actor_lr_diverges_with_exit_3(tmp_path, capsys):
    """No injected fault: a learning rate of 1e6 blows the networks up within a few epochs."""
    rc = _run(tmp_path, "--task", "reacher", "--obs", "state", "--num-nominal", "2", "--num-aux", "3",
              "--horizon", "8", "--critic-minibatch", "16", "--actor-warmup-epochs", "0",
              "--actor-lr", "1e6", "--critic-lr", "1e6", "--epochs", "30", "--run-name", "r")
    assert rc == 3
    assert "training diverged: non-finite" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", "half"])
def test_unreadable_checkpoint_exits_2_for_train_play_and_export(tmp_path, capsys, content):
    from sdpg_warp import export, play

    assert _run(tmp_path, *STATE, "--epochs", "1", "--run-name", "r") == 0
    checkpoint = tmp_path / "r" / "checkpoint.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2] if content == "half" else content)
    before = _files(tmp_path / "r")
    capsys.readouterr()
    for command in (lambda: _run(tmp_path, "--resume", str(tmp_path / "r"), "--epochs", "2"),
                    lambda: play.main([str(tmp_path / "r"), "--device", "cpu"]),
                    lambda: export.main([str(checkpoint), "--out", str(tmp_path / "p.onnx")])):
        rc = command()
        err = capsys.readouterr().err.strip()
        assert rc == 2 and "truncated or corrupt" in err and len(err.splitlines()) == 1, err
    assert _files(tmp_path / "r") == before


def test_console_shows_compiling_last_return_and_next_commands(tmp_path, capsys):
    # Episodes of 100 steps with H=20 finish at epochs 5 and 10.
    args = ["--task", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "3", "--horizon", "20",
            "--critic-minibatch", "16", "--epochs", "7", "--run-name", "r"]
    assert _run(tmp_path, *args) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "Warp compiles its kernels" in lines[0]
    assert "simulator step: captured graph; the solver stops when every world converged" in out
    assert "domain randomization: off" in lines
    epochs = {int(line.split()[1].split("/")[0]): line for line in lines if line.startswith("epoch ")}
    assert all("return       n/a" in epochs[e] for e in (1, 2, 3, 4))
    returns = {e: float(epochs[e].split("|")[1].split()[1]) for e in (5, 6, 7)}
    assert returns[5] == returns[6] == returns[7]
    run = tmp_path / "r"
    assert f"checkpoint: {run / 'checkpoint.pt'} (epoch 7)" in out
    assert f"python -m sdpg_warp.play {run}" in out and f"python -m sdpg_warp.export {run}" in out
    assert f"tensorboard --logdir {tmp_path}" in out and f"python -m sdpg_warp.train --resume {run}" in out


@pytest.fixture
def _restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_sets_torch_cpu_threads(tmp_path, capsys, _restore_threads, threads):
    torch.set_num_threads(3)
    assert _run(tmp_path, *STATE, "--epochs", "1", "--threads", str(threads)) == 0
    assert torch.get_num_threads() == threads
    assert f"torch threads {threads}" in capsys.readouterr().out


def test_threads_0_keeps_torch_default_and_one_is_the_default(tmp_path, _restore_threads):
    torch.set_num_threads(3)
    assert _run(tmp_path, *STATE, "--epochs", "1", "--threads", "0") == 0
    assert torch.get_num_threads() == 3
    assert task_defaults("reacher").threads == 1


def test_checkpoints_load_onto_the_cpu_whatever_the_training_device(tmp_path, device):
    """RNG states must stay CPU tensors and optimizer state follows the parameters on load."""
    from sdpg_warp.checkpoint import read_checkpoint

    assert _run(tmp_path, *STATE, "--epochs", "1", "--run-name", "r") == 0
    state = read_checkpoint(str(tmp_path / "r" / "checkpoint.pt"))
    tensors = [v for v in state["algo"]["actor"].values()] + [state["torch_rng"], state["algo"]["generator"]]
    assert all(t.device.type == "cpu" for t in tensors)
    assert (state["cuda_rng"] is not None) == device.startswith("cuda")
    runner = Runner(train.resumed_config(train.parse_config(STATE), str(tmp_path / "r"), set()))
    runner.load_state_dict(state)
    assert runner.epoch == 1
    assert all(p.device == next(runner.algo.actor.parameters()).device
               for group in runner.algo.actor_optimizer.state.values() for name, p in group.items() if name != "step")


def test_resume_state_is_loaded_inside_the_execution_scope(tmp_path, monkeypatch):
    # On CUDA the restored arrays are written on the run's stream and device, as everything else.
    assert _run(tmp_path, *STATE, "--epochs", "1", "--run-name", "r") == 0
    scoped = []
    load = Runner.load_state_dict
    monkeypatch.setattr(Runner, "load_state_dict",
                        lambda self, *args: (scoped.append(len(self.scope._stacks)), load(self, *args))[1])
    assert _run(tmp_path, "--resume", str(tmp_path / "r"), "--epochs", "2") == 0
    assert scoped == [1]


def test_episode_length_and_frame_skip_reach_the_simulator_and_the_saved_run(tmp_path, capsys):
    """--episode-length and --frame-skip override the task's (before, neither could be set); they
    shape the simulator state, so a resume must agree on them."""
    args = ["--task", "reacher", "--obs", "state", *TINY, "--episode-length", "7", "--frame-skip", "2"]
    cfg = train.parse_config([*args, "--device", "cpu"])
    assert (cfg.episode_length, cfg.frame_skip) == (7, 2)
    assert (task_defaults("reacher").episode_length, task_defaults("reacher").frame_skip) == (None, None)
    runner = Runner(cfg)
    sim = runner.sim
    assert (sim.task.episode_length, sim.task.frame_skip) == (7, 2)
    with runner.scope:
        timestep = sim.mjm.opt.timestep
        start = wp.to_torch(sim.d.time).clone()
        for step in range(1, 8):
            sim.step(torch.zeros(sim.num_worlds, sim.num_actions))
            assert bool(sim.truncated.all()) == (step == 7) and bool(sim.truncated.any()) == (step == 7), step
        assert torch.allclose(wp.to_torch(sim.d.time) - start, torch.full_like(start, 7 * 2 * timestep))
    assert _run(tmp_path, *args, "--epochs", "1", "--run-name", "r") == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (saved["episode_length"], saved["frame_skip"]) == (7, 2)
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(tmp_path / "r"), "--epochs", "2", "--episode-length", "8") == 2
    assert "--episode-length 8 conflicts with the resumed run's 7" in capsys.readouterr().err


def test_a_run_saved_with_a_flat_config_resumes_plays_and_exports(tmp_path, device):
    """config.json and the checkpoint's config as written before the config had sections (one flat
    object, tests/data) still serve --resume and the loader of play and export."""
    from sdpg_warp.checkpoint import load_policy

    old = json.loads((pathlib.Path(__file__).parent / "data" / "flat_config_2026-12-06.json").read_text())
    assert train.main(["--device", device, "--log-dir", str(tmp_path), "--task", "pointmass", "--obs", "state",
                       "--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--epochs", "1",
                       "--schedule-epochs", "2", "--run-name", "r"]) == 0
    run = tmp_path / "r"
    (run / "config.json").write_text(json.dumps(old))
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    state["config"] = old
    torch.save(state, run / "checkpoint.pt")
    cfg, actor = load_policy(str(run))
    assert cfg == train.TrainConfig.from_dict(old) and cfg.world_layout() == (2, 3)
    assert train.main(["--device", device, "--resume", str(run), "--epochs", "2"]) == 0
    resumed = json.loads((run / "config.json").read_text())
    assert {name: resumed[name] for name in old} == {**old, "device": device, "resume": str(run)}
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 2
