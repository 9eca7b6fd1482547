"""Bad input to train, play and export, run as the user runs them (a subprocess each): exit status
2, exactly one line on stderr, no traceback, and no run folder created or changed. Every case is
refused before a simulator is built."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from sdpg_warp import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--critic-minibatch", "16"]
STATE = ["--task", "pointmass", "--obs", "state", *TINY]


def _command(module: str, args, env=None) -> subprocess.CompletedProcess:
    environ = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run([sys.executable, "-m", f"sdpg_warp.{module}", *map(str, args)], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=300)


def _files(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A finished 2-epoch pointmass run (trained by the CLI in a subprocess), its output, and a
    folder for the cases' derived runs."""
    root = tmp_path_factory.mktemp("cli")
    done = _command("train", [*STATE, "--device", "cpu", "--epochs", "2", "--log-dir", root / "runs",
                              "--run-name", "r"])
    assert done.returncode == 0, done.stderr
    return root, done


def _derived_run(root, name: str, change) -> str:
    """A copy of the base run whose checkpoint ``change(state)`` edited."""
    run = root / name
    if not run.exists():
        shutil.copytree(root / "runs" / "r", run)
        state = torch.load(run / "checkpoint.pt", weights_only=False)
        change(state)
        torch.save(state, run / "checkpoint.pt")
    return str(run)


def _meshless_menagerie(root) -> str:
    """A MENAGERIE_ROOT whose unitree_go2 holds the robot's XML files but none of its meshes."""
    menagerie = root / "meshless"
    if not menagerie.exists():
        source = os.path.join(os.environ["MENAGERIE_ROOT"], "unitree_go2")
        if not os.path.isdir(source):
            pytest.skip("no unitree_go2 under MENAGERIE_ROOT to copy the XML of")
        (menagerie / "unitree_go2").mkdir(parents=True)
        for name in os.listdir(source):
            if name.endswith(".xml"):
                shutil.copy(os.path.join(source, name), menagerie / "unitree_go2" / name)
    return str(menagerie)


def _go2_run(root) -> str:
    """The base run relabelled as a go2_terrain run: play and export reach the robot's files first."""
    return _derived_run(root, "go2", lambda state: state["config"].update(task="go2_terrain"))


def _distill_run(root) -> str:
    """A distillation run (config and checkpoint config; nothing else is read before the refusal)
    whose teacher folder has gone."""
    run = root / "distill"
    if not run.exists():
        shutil.copytree(root / "runs" / "r", run)
        config = train.TrainConfig.from_json((run / "config.json").read_text())
        config = train.dataclasses.replace(config, algo="distill", obs="rgb", teacher=str(root / "moved_away"),
                                           num_envs=2, image_size=16, distill_buffer=64)
        (run / "config.json").write_text(config.to_json())
        state = torch.load(run / "checkpoint.pt", weights_only=False)
        state["config"] = train.dataclasses.asdict(config)
        torch.save(state, run / "checkpoint.pt")
    return str(run)


CASES = {
    # name: (module, args (root -> list), env (root -> dict) or None, message)
    "negative seed": ("train", lambda r: [*STATE, "--seed", "-5"], None, "seed must be in [0, 2147483647]"),
    "seed over 2^64": ("train", lambda r: [*STATE, "--seed", str(2**65)], None, "seed must be in"),
    "repeated --task": ("train", lambda r: ["--task", "reacher", *STATE], None, "--task is given more than once"),
    "run name with a slash": ("train", lambda r: [*STATE, "--run-name", "a/b"], None, "run-name must be a folder name"),
    "log dir is a file": ("train", lambda r: [*STATE, "--log-dir", r / "runs" / "r" / "config.json"], None,
                          "is a file, not a folder"),
    "randomization min above max": ("train", lambda r: [*STATE, "--randomize", "--randomize-set", "friction=1.5,0.2"],
                                    None, "randomization friction=(1.5, 0.2): min above max"),
    "randomization negative scale": ("train", lambda r: [*STATE, "--randomize", "--randomize-set", "kp_scale=-1,1"],
                                     None, "kp_scale=(-1.0, 1.0): must be >= 0"),
    "visual randomization min above max": ("train", lambda r: [*STATE, "--randomize", "--randomize-set",
                                                               "camera_fovy=2,-2"],
                                           None, "randomization camera_fovy=(2.0, -2.0): min above max"),
    "randomization, no ranges": ("train", lambda r: [*STATE, "--randomize"], None, "has no randomization ranges"),
    "buffers too large": ("train", lambda r: ["--task", "pointmass", "--obs", "rgb", "--num-nominal", "1000000",
                                              "--horizon", "100000", "--device", "cpu"], None,
                          "lower --num-nominal or --horizon"),
    "ranks differ on resume": ("train", lambda r: ["--resume", _derived_run(r, "ranks", lambda s: s.update(
        world_size=2)), "--epochs", "3"], None, "was written by 2 rank(s), this run has 1"),
    "checkpoint of another task": ("train", lambda r: ["--resume", _derived_run(r, "task", lambda s: s["config"].update(
        task="reacher")), "--epochs", "3"], None, "has task='reacher', this run 'pointmass'"),
    "robot without meshes": ("train", lambda r: ["--task", "go2_terrain", "--obs", "state", "--device", "cpu"],
                             lambda r: {"MENAGERIE_ROOT": _meshless_menagerie(r)}, "lacks assets/"),
    "play without the robots": ("play", lambda r: [_go2_run(r), "--device", "cpu"],
                                lambda r: {"MENAGERIE_ROOT": str(r / "nowhere")}, "is not available"),
    "export without the robots": ("export", lambda r: [_go2_run(r), "--out", r / "p.onnx"],
                                  lambda r: {"MENAGERIE_ROOT": str(r / "nowhere")}, "is not available"),
    "moved distill teacher": ("train", lambda r: ["--resume", _distill_run(r), "--epochs", "3"], None,
                              "a moved teacher: pass --teacher"),
    "export to a folder": ("export", lambda r: [r / "runs" / "r", "--out", r], None, "is a folder"),
    "play, unknown video extension": ("play", lambda r: [r / "runs" / "r", "--video", r / "v.foo"], None,
                                      "unknown video extension '.foo'"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(base, case):
    root, _ = base
    module, args, env, message = CASES[case]
    args = args(root)
    env = env(root) if env else {}
    log_dir = root / f"log_{case.replace(' ', '_').replace('/', '_')}"
    if module == "train" and "--log-dir" not in args and "--resume" not in args:
        args = [*args, "--log-dir", log_dir]
    runs = {p.parent: _files(p.parent) for p in root.rglob("checkpoint.pt")}
    done = _command(module, args, env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], done.stderr
    assert not log_dir.exists()
    assert {p: _files(p) for p in runs} == runs  # no run folder changed
    assert not (root / "p.onnx").exists()


def _unprivileged():
    """Root writes into read-only folders anyway: those cases need another user."""
    if os.geteuid() == 0:
        pytest.skip("running as root, which may write into a read-only folder")


@pytest.mark.parametrize("what", ["log dir", "run folder"])
def test_read_only_folders_exit_2(base, what):
    _unprivileged()
    root, _ = base
    folder = root / f"read_only_{what.replace(' ', '_')}"
    if what == "run folder":
        shutil.copytree(root / "runs" / "r", folder)
        args = ["--resume", folder, "--epochs", "3"]
    else:
        folder.mkdir()
        args = [*STATE, "--log-dir", folder / "runs"]
    folder.chmod(0o555)
    try:
        before = _files(folder)
        done = _command("train", args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "not writable" in done.stderr
        assert _files(folder) == before
    finally:
        folder.chmod(0o755)


@pytest.mark.parametrize("what", ["log dir", "run folder"])
def test_read_only_folders_are_refused_before_the_build(base, what, monkeypatch):
    """The same checks in this process, with os.access saying what a non-root user would see."""
    root, _ = base
    monkeypatch.setattr(train.os, "access", lambda path, mode: False)
    args = (["--resume", str(root / "runs" / "r"), "--epochs", "3"] if what == "run folder"
            else [*STATE, "--log-dir", str(root / "ro" / "runs")])
    with pytest.raises(train.UsageError, match="not writable"):
        train._plan(args, train.RunLock())


def test_cpu_run_prints_no_cuda_driver_warning_and_times_the_compile_apart(base):
    _, done = base
    assert "CUDA" not in done.stderr and done.stderr.strip() == "", done.stderr
    lines = done.stdout.splitlines()
    compiled = next(i for i, line in enumerate(lines) if line.startswith("compiled kernels in "))
    first_epoch = next(i for i, line in enumerate(lines) if line.startswith("epoch     1/"))
    assert compiled < first_epoch


def test_help_names_the_module_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train.parse_config(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: python -m sdpg_warp.train ")


@pytest.mark.parametrize("args, flag", [
    (["--task", "reacher", "--task", "hopper"], "--task"),
    (["--obs", "state", "--obs=rgb"], "--obs"),
    (["--graph", "--no-graph"], "--no-graph"),
    (["--num_nominal", "2", "--num-nominal", "3"], "--num-nominal"),
])
def test_a_repeated_flag_is_refused(args, flag):
    """Before, the defaults came from the first --task/--obs and the value from the last."""
    with pytest.raises(train.UsageError, match=f"^{flag} is given more than once"):
        train.parse_config(args)


def test_play_checks_the_video_path_before_loading_anything(tmp_path, capsys):
    from sdpg_warp import play

    assert play.main([str(tmp_path / "no_run"), "--video", str(tmp_path / "no" / "v.mp4")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --video {tmp_path / 'no' / 'v.mp4'}: no folder {tmp_path / 'no'}"


def test_allocation_failure_in_the_build_exits_2(base, capsys, monkeypatch):
    from sdpg_warp import runner

    def fail(*args, **kwargs):
        raise RuntimeError("Failed to allocate 123456789012 bytes on device 'cpu'")

    monkeypatch.setattr(runner.Runner, "__init__", fail)
    root, _ = base
    assert train.main([*STATE, "--device", "cpu", "--log-dir", str(root / "alloc")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot allocate the run's buffers on cpu" in err and "lower --num-nominal" in err
    assert not (root / "alloc").exists()


def test_torchrun_resume_command_can_be_pasted():
    assert train._launcher(1) == "python"
    assert train._launcher(4, {"LOCAL_WORLD_SIZE": "4"}) == "torchrun --standalone --nproc-per-node 4"
    multi = train._launcher(16, {"LOCAL_WORLD_SIZE": "8", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500",
                                 "TORCHELASTIC_RUN_ID": "humanoid-1"})
    assert multi == ("torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint 10.0.0.1:29500 "
                     "--rdzv-id humanoid-1")
    assert "<" not in multi


def test_resume_of_a_ppo_run_takes_its_own_flags(tmp_path):
    """Before, --resume parsed with SDPG's defaults and refused PPO's flags as another algorithm's."""
    cfg = train.task_defaults("pointmass", "state", "ppo")
    run = tmp_path / "ppo"
    run.mkdir()
    (run / "config.json").write_text(train.dataclasses.replace(cfg, schedule_epochs=cfg.epochs).to_json())
    (run / "checkpoint.pt").write_bytes(b"")
    resumed = train.parse_config(["--resume", str(run), "--ppo-lr", str(cfg.ppo_lr), "--epochs", "400"])
    assert resumed.algo == "ppo" and resumed.epochs == 400
    with pytest.raises(train.UsageError, match="--ppo-lr 0.0001 conflicts with the resumed run's 0.001"):
        train.resumed_config(train.parse_config(["--resume", str(run), "--ppo-lr", "1e-4"]), str(run), {"ppo_lr"})
    with pytest.raises(train.UsageError, match="--num-aux: not a setting of --algo ppo"):
        train.parse_config(["--resume", str(run), "--num-aux", "3"])


def test_help_and_bad_input_load_no_simulator_or_torch(tmp_path):
    """--help and input refused before a build answer without importing Warp, MuJoCo Warp, MuJoCo or
    Torch (before, the task registry imported every task module: 5-8 s per command on a CPU)."""
    code = f"""
import contextlib, io, sys
from sdpg_warp import export, play, train
runs = {[["--help"], ["--task", "reacher", "--bogus"], ["--task", "nope"], [*STATE, "--seed", "-5"],
         ["--task", "reacher", "--episode-length", "0"], ["--task", "go2_terrain", "--frame-skip", "0"],
         [*STATE, "--run-name", "a/b"], [*STATE, "--log-dir", str(tmp_path / "file" / "runs")]]!r}
codes = []
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for args in runs:
        try:
            codes.append(train.main(args))
        except SystemExit as e:
            codes.append(e.code)
    codes.append(play.main(["{tmp_path}", "--video", "{tmp_path / 'v.foo'}"]))
    codes.append(export.main(["{tmp_path}", "--out", "{tmp_path}"]))
print(codes, sorted(m for m in ("warp", "mujoco_warp", "mujoco", "torch") if m in sys.modules))
"""
    (tmp_path / "file").write_text("")
    environ = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str([0] + [2] * 9) + " []", done.stdout
