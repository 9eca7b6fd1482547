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
