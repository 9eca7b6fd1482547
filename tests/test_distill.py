"""Teacher-student distillation (DAgger): labels, mixture, replay buffer, the teacher checks, the
student's learning, exact resume."""

import dataclasses
import json

import pytest
import torch

from sdpg_warp import train
from sdpg_warp.config import task_defaults
from sdpg_warp.distill import LR_END, beta_at, student_lr_at
from sdpg_warp.runner import Runner


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory, device):
    """A state-observation PPO run of pointmass (3 epochs: a teacher need not be good to be copied)."""
    run_dir = tmp_path_factory.mktemp("teacher")
    cfg = dataclasses.replace(task_defaults("pointmass", "state", "ppo"), device=device, num_envs=4, horizon=4,
                              epochs=3, ppo_minibatches=2)
    Runner(cfg, run_dir=str(run_dir)).train()
    return str(run_dir)


def _student(device, teacher_dir, **overrides):
    settings = dict(device=device, deterministic=device != "cpu", teacher=teacher_dir, obs="rgb", num_envs=3,
                    horizon=4, epochs=2, image_size=16, distill_buffer=20, distill_learning_starts=12,
                    distill_updates=3, distill_batch=4)
    return dataclasses.replace(task_defaults("pointmass", "rgb", "distill"), **{**settings, **overrides})


def test_labels_are_the_teachers_deterministic_actions_and_the_student_acts(device, teacher_dir):
    runner = Runner(_student(device, teacher_dir))
    algo, sim = runner.algo, runner.sim
    obs = runner._observe()
    algo.act(0, obs, sim.states, action_out=sim.action)
    teacher_mean, _ = algo.teacher(sim.states)
    student_mean, _ = algo.actor(obs)
    assert torch.equal(algo.labels[:3], teacher_mean)
    assert torch.equal(algo.obs[:3], obs)
    torch.testing.assert_close(sim.action, torch.tanh(student_mean))


def test_beta_one_lets_the_teacher_act(device, teacher_dir):
    runner = Runner(_student(device, teacher_dir, distill_beta=1.0, distill_beta_epochs=10))
    algo, sim = runner.algo, runner.sim
    algo.act(0, runner._observe(), sim.states, action_out=sim.action)
    torch.testing.assert_close(sim.action, torch.tanh(algo.teacher(sim.states)[0]))


def test_replay_buffer_wraps_around(device, teacher_dir):
    runner = Runner(_student(device, teacher_dir, distill_buffer=12))
    algo, sim = runner.algo, runner.sim
    for t in range(5):  # 15 samples into 12 rows: the 5th step's rows are 0, 1, 2 (after 12, 13, 14 wrap)
        sim.states.fill_(float(t))
        algo.act(t, runner._observe(), sim.states, action_out=sim.action)
    assert algo.size == 12 and algo.written == 15
    teacher_mean, _ = algo.teacher(sim.states)
    assert torch.equal(algo.labels[:3], teacher_mean)


def test_schedules():
    assert beta_at(0, 0.5, 10) == 0.5 and beta_at(5, 0.5, 10) == 0.25 and beta_at(20, 0.5, 10) == 0.0
    assert beta_at(0, 0.5, 0) == 0.0
    assert student_lr_at(0, 2e-3, 100) == pytest.approx(2e-3)
    assert student_lr_at(50, 2e-3, 100) == pytest.approx(LR_END + (2e-3 - LR_END) / 2)
    assert student_lr_at(200, 2e-3, 100) == pytest.approx(LR_END)


def test_student_learns_to_imitate(device, teacher_dir):
    cfg = _student(device, teacher_dir, epochs=6, distill_updates=40, distill_batch=16, distill_buffer=96,
                   distill_learning_starts=12, distill_loss_threshold=0.0, distill_lr=3e-3)
    history = Runner(cfg).train()
    losses = [h["losses/imitation"] for h in history if "losses/imitation" in h]
    assert len(losses) == 6 and losses[-1] < 0.5 * losses[0], losses


def test_resume_is_exact(device, teacher_dir, tmp_path):
    straight = Runner(_student(device, teacher_dir, epochs=4))
    straight.train()
    first = Runner(_student(device, teacher_dir, epochs=2, schedule_epochs=4), run_dir=str(tmp_path))
    first.train()
    resumed = Runner(_student(device, teacher_dir, epochs=4))
    resumed.load(first.checkpoint_path)
    resumed.train()
    for key, value in straight.algo.actor.state_dict().items():
        assert torch.equal(value, resumed.algo.actor.state_dict()[key]), key
    assert torch.equal(straight.algo.obs, resumed.algo.obs) and torch.equal(straight.algo.labels, resumed.algo.labels)


@pytest.mark.parametrize("teacher, extra, message", [
    (None, [], "needs --teacher"),
    ("/nonexistent/run", [], "--teacher: no checkpoint"),
    ("TEACHER", ["--task", "reacher"], "was trained on task 'pointmass'"),
    ("TEACHER", ["--obs", "state"], "trains a pixel student"),
    ("STUDENT", [], "a teacher must be a state-observation run"),
])
def test_unusable_teacher_exits_2_with_one_line(tmp_path, capsys, device, teacher_dir, teacher, extra, message):
    student_dir = tmp_path / "student"
    if teacher == "STUDENT":
        Runner(_student(device, teacher_dir, epochs=1), run_dir=str(student_dir.mkdir() or student_dir)).train()
    paths = {"TEACHER": teacher_dir, "STUDENT": str(student_dir)}
    # ``extra`` replaces the task or observation (a flag given twice is refused on its own).
    settings = {"--task": "pointmass", "--obs": "rgb", **dict(zip(extra[::2], extra[1::2]))}
    args = ["--log-dir", str(tmp_path / "runs"), "--algo", "distill", *[x for pair in settings.items() for x in pair]]
    if teacher is not None:
        args += ["--teacher", paths.get(teacher, teacher)]
    assert train.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_a_moved_teacher_is_pointed_to_anew_on_resume(device, teacher_dir, tmp_path, capsys):
    """The checkpoint holds the teacher's weights; --teacher on resume names where its run is now,
    and must be of the task with the same network."""
    import shutil

    from sdpg_warp.checkpoint import read_checkpoint
    from sdpg_warp.networks import Actor

    teacher = tmp_path / "teacher"
    shutil.copytree(teacher_dir, teacher)
    args = ["--device", device, "--log-dir", str(tmp_path), "--algo", "distill", "--task", "pointmass", "--obs",
            "rgb", "--teacher", str(teacher), "--num-envs", "3", "--horizon", "4", "--image-size", "16",
            "--distill-buffer", "20", "--distill-learning-starts", "12", "--distill-updates", "3",
            "--distill-batch", "4", "--epochs", "1", "--run-name", "student"]
    assert train.main(args) == 0
    moved = tmp_path / "moved_teacher"
    teacher.rename(moved)
    capsys.readouterr()
    student = str(tmp_path / "student")
    assert train.main(["--resume", student, "--epochs", "2"]) == 2
    assert "pass --teacher with its new place" in capsys.readouterr().err
    other = tmp_path / "other_teacher"  # the same task, another network
    shutil.copytree(moved, other)
    state = read_checkpoint(str(other / "checkpoint.pt"))
    cfg = dataclasses.replace(train.TrainConfig.from_dict(state["config"]), actor_hidden=(8,))
    state["config"] = dataclasses.asdict(cfg)
    state["algo"]["actor"] = Actor.from_config(cfg, (4,), 2).state_dict()
    torch.save(state, other / "checkpoint.pt")
    assert train.main(["--resume", student, "--epochs", "2", "--teacher", str(other)]) == 2
    assert "has another network than the teacher" in capsys.readouterr().err
    assert train.main(["--resume", student, "--epochs", "2", "--teacher", str(moved)]) == 0
    assert json.loads((tmp_path / "student" / "config.json").read_text())["teacher"] == str(moved)
