"""EpisodeStatistics with worked numbers, and the Logger's scalars."""

import torch

from sdpg_warp.logger import EpisodeStatistics, Logger


def test_episode_statistics_worked_example():
    stats = EpisodeStatistics(2, ("a", "b"), "cpu")
    terms = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    stats.track(torch.tensor([1.0, 2.0]), torch.tensor([False, False]), terms)
    stats.track(torch.tensor([3.0, 4.0]), torch.tensor([True, False]), terms)
    # World 0 finished an episode of 2 steps with return 1 + 3 = 4; world 1 is still running (6).
    out = stats.pop()
    assert out["charts/episode_return"] == 4.0 and out["charts/episode_length"] == 2.0
    # Term sums over 4 nominal steps: a = 2 * 1 / 4, b = 2 * 2 / 4.
    assert out["rewards/a"] == 0.5 and out["rewards/b"] == 1.0
    assert stats.last_return == 4.0
    assert stats.episode_return.tolist() == [0.0, 6.0]
    # Nothing finished since: no return this time, the last one is kept for the console.
    stats.track(torch.tensor([1.0, 1.0]), torch.tensor([False, False]), terms)
    assert "charts/episode_return" not in stats.pop() and stats.last_return == 4.0
    restored = EpisodeStatistics(2, ("a", "b"), "cpu")
    restored.load_state_dict(stats.state_dict())
    assert restored.episode_return.tolist() == [1.0, 7.0] and restored.last_return == 4.0


def test_logger_writes_scalars_and_history(capsys):
    written = []

    class Writer:
        def add_scalar(self, name, value, step):
            written.append((name, value, step))

    logger = Logger(Writer())
    metrics = {"losses/actor": torch.tensor(0.5), "charts/step_reward": 1.0, "charts/policy_std": 0.3}
    scalars = logger.log(3, 10, metrics, {"charts/episode_return": 7.0}, 7.0, {"rollout": 0.5}, 2.0, 100)
    assert scalars["perf/env_steps_per_s"] == 50.0 and scalars["epoch"] == 3
    assert ("losses/actor", 0.5, 3) in written and ("perf/rollout_seconds", 0.5, 3) in written
    assert all(name != "epoch" for name, _, _ in written)
    assert logger.history == [scalars]
    assert "epoch     3/10 | return      7.00" in capsys.readouterr().out


def test_task_metrics_are_averaged_over_the_finished_nominal_episodes():
    """Only rows whose episode ended at that step count, each once: world 0 ends with (1, 4), then
    world 1 with (3, 0) and world 0 again with (2, 2): means (1 + 3 + 2) / 3 = 2 and (4 + 0 + 2) / 3 = 2;
    the values of running episodes (9, 9) never enter."""
    stats = EpisodeStatistics(2, ("a",), "cpu", ("hurdles_cleared", "distance"))
    terms = torch.zeros(2, 1)
    reward = torch.zeros(2)
    stats.track(reward, torch.tensor([True, False]), terms, torch.tensor([[1.0, 4.0], [9.0, 9.0]]))
    stats.track(reward, torch.tensor([False, False]), terms, torch.tensor([[9.0, 9.0], [9.0, 9.0]]))
    stats.track(reward, torch.tensor([True, True]), terms, torch.tensor([[2.0, 2.0], [3.0, 0.0]]))
    out = stats.pop()
    assert out["task/hurdles_cleared"] == 2.0 and out["task/distance"] == 2.0
    assert out["charts/episode_length"] == (1 + 2 + 3) / 3
    # Nothing finished since the pop: no task metrics.
    stats.track(reward, torch.tensor([False, False]), terms, torch.tensor([[9.0, 9.0], [9.0, 9.0]]))
    assert not any(name.startswith("task/") for name in stats.pop())
    # Tasks without metrics (the classic ones) track as before.
    plain = EpisodeStatistics(2, ("a",), "cpu")
    plain.track(reward, torch.tensor([True, True]), terms, torch.zeros(2, 0))
    assert not any(name.startswith("task/") for name in plain.pop())


def test_logger_writes_task_metrics_to_tensorboard_and_the_console_line(capsys):
    written = []

    class Writer:
        def add_scalar(self, name, value, step):
            written.append((name, value, step))

    episodes = {"charts/episode_return": 7.0, "task/hurdles_cleared": 1.5, "task/distance": 3.25}
    Logger(Writer()).log(2, 10, {}, episodes, 7.0, {}, 1.0, 10)
    assert ("task/hurdles_cleared", 1.5, 2) in written and ("task/distance", 3.25, 2) in written
    assert "| hurdles_cleared 1.5 distance 3.25 |" in capsys.readouterr().out
