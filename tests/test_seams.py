"""The two extension points (docs/DESIGN.md "Extension points"): an algorithm registered in
``sdpg_warp/algorithms.py`` trains through the Runner without the Runner knowing its name, and the
logged scalars go through the ``--logger`` writers of ``sdpg_warp/log_writers.py``."""

import ast
import dataclasses
import glob
import pathlib

import pytest
import torch

from sdpg_warp import log_writers, train
from sdpg_warp.algorithm import Algorithm, make_actor
from sdpg_warp.algorithms import ALGORITHMS, AlgorithmEntry
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "sdpg_warp"
STATE = ["--task", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "3", "--horizon", "4",
         "--critic-minibatch", "16", "--threads", "1"]


@pytest.mark.parametrize("module", ["runner.py", "memory.py"])
def test_runner_and_memory_never_branch_on_the_algorithm_name(module):
    """They reach the algorithm through its registered class only: no ``... .algo == "name"``."""
    tree = ast.parse((PACKAGE / module).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = [n for n in [node.left, *node.comparators] if isinstance(n, ast.Attribute) and n.attr == "algo"]
            assert not names, f"{module}:{node.lineno} compares the algorithm's name"


@dataclasses.dataclass
class _Storage:
    obs: torch.Tensor
    rewards: torch.Tensor


class _Imitate(Algorithm):
    """A registered newcomer: one SGD step of the actor's mean towards 0.5 on the visited
    observations per epoch, and the rollout's mean reward; it records the Runner's calls."""

    calls: list

    def __init__(self, actor, cfg, device):
        self.cfg, self.device, self.actor = cfg, torch.device(device), actor.to(device)
        self.optimizer = torch.optim.SGD(self.actor.parameters(), lr=0.1)
        self.calls = []

    @classmethod
    def build(cls, cfg, sim, obs_shape, obs_dtype, device):
        algo = cls(make_actor(cfg, sim, obs_shape, device), cfg, device)
        algo.init_storage(obs_shape, obs_dtype, sim.state_dim, sim.num_actions)
        return algo

    @classmethod
    def allocate_storage(cls, cfg, obs_shape, obs_dtype, state_dim, num_actions, device):
        envs, _ = cfg.world_layout()
        return _Storage(obs=torch.zeros((envs, cfg.horizon, *obs_shape), dtype=obs_dtype, device=device),
                        rewards=torch.zeros((envs, cfg.horizon), device=device))

    def start_rollout(self, sim):
        self.calls.append("start_rollout")

    @torch.no_grad()
    def act(self, t, obs, states, action_out):
        self.calls.append("act")
        self.storage.obs[:, t] = obs
        torch.tanh(self.actor(obs)[0], out=action_out)

    def process_env_step(self, t, reward, next_states, terminated):
        self.calls.append("process_env_step")
        self.storage.rewards[:, t] = reward

    def process_dones(self, t, done):
        self.calls.append("process_dones")

    def update(self, timer):
        self.calls.append("update")
        mean, _ = self.actor(self.storage.obs.flatten(0, 1))
        loss = (mean - 0.5).square().mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"losses/imitate": loss.detach(), "charts/mean_reward": self.storage.rewards.mean()}

    def networks(self):
        return {"actor": self.actor}

    def state_dict(self):
        return {"actor": self.actor.state_dict()}

    def load_state_dict(self, state):
        self.actor.load_state_dict(state["actor"])


def test_a_registered_algorithm_trains_through_the_runner(device, monkeypatch):
    monkeypatch.setitem(ALGORITHMS, "imitate", AlgorithmEntry(_Imitate))
    cfg = dataclasses.replace(task_defaults("pointmass", "state", "ppo"), algo="imitate", device=device, num_envs=3,
                              horizon=4, epochs=2, threads=1)
    runner = Runner(cfg)
    assert isinstance(runner.algo, _Imitate) and runner.algo.storage.obs.shape == (3, 4, runner.sim.state_dim)
    before = [p.detach().clone() for p in runner.algo.actor.parameters()]
    history = runner.train()
    step = ["act", "process_env_step", "process_dones"]
    assert runner.algo.calls == 2 * (["start_rollout"] + 4 * step + ["update"])
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[1]["charts/mean_reward"] == pytest.approx(float(runner.algo.storage.rewards.mean()))
    assert any(not torch.equal(a, p) for a, p in zip(before, runner.algo.actor.parameters()))  # it learned


class _Recording:
    def __init__(self, run_dir, purge_step):
        self.scalars, self.texts, self.closed = {}, [], False

    def add_scalar(self, tag, value, step):
        self.scalars.setdefault(tag, {})[step] = value

    def add_text(self, tag, text, step):
        self.texts.append((tag, step))

    def add_video(self, tag, frames, step, fps):
        raise AssertionError("training logs no video")

    def flush(self):
        pass

    def close(self):
        self.closed = True


def test_a_registered_writer_gets_what_tensorboard_got(device, tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    made = []
    monkeypatch.setitem(log_writers.LOGGERS, "recording", lambda run_dir, purge_step: made.append(
        _Recording(run_dir, purge_step)) or made[-1])
    cfg = dataclasses.replace(task_defaults("pointmass", "state"), device=device, num_nominal=2, num_aux=3, horizon=4,
                              critic_minibatch=16, epochs=2, threads=1, logger=("tensorboard", "recording"))
    runner = Runner(cfg)
    writer = runner.open_writer(str(tmp_path), resumed=False)
    runner.train()
    writer.close()
    recording = made[0]
    assert recording.closed and recording.texts == [("config", 0)]
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == sorted(recording.scalars)
    for tag, steps in recording.scalars.items():
        logged = {e.step: e.value for e in events.Scalars(tag)}
        assert logged == pytest.approx(steps, rel=1e-6), tag  # TensorBoard keeps float32


def test_logger_none_writes_no_event_file_and_a_resume_may_change_it(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert train.main(["--device", "cpu", "--log-dir", str(tmp_path), *STATE, "--epochs", "1", "--run-name", "r",
                       "--logger", "none"]) == 0
    run = tmp_path / "r"
    assert (run / "checkpoint.pt").is_file() and (run / "config.json").is_file()
    assert not glob.glob(str(run / "events.out.tfevents*"))
    assert train.main(["--resume", str(run), "--epochs", "2", "--logger", "tensorboard"]) == 0
    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("perf/epoch_seconds")] == [2]


def test_unknown_logger_exits_2_with_one_line_and_creates_nothing(tmp_path, capsys):
    log_dir = tmp_path / "runs"
    assert train.main(["--log-dir", str(log_dir), "--task", "reacher", "--logger", "tensorboard", "wandbx"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown logger 'wandbx'; choose among tensorboard, none" in err and len(err.splitlines()) == 1
    assert not log_dir.exists()


def test_make_writers_fans_out_to_each_name_once(tmp_path, monkeypatch):
    made = []
    monkeypatch.setitem(log_writers.LOGGERS, "recording", lambda run_dir, purge_step: made.append(
        _Recording(run_dir, purge_step)) or made[-1])
    assert isinstance(log_writers.make_writers(("none",), str(tmp_path)), log_writers.NullWriter)
    writer = log_writers.make_writers(("recording", "none", "recording"), str(tmp_path))
    writer.add_scalar("a", 1.0, 3)
    assert len(made) == 1 and made[0].scalars == {"a": {3: 1.0}}
    assert not list(tmp_path.iterdir())
