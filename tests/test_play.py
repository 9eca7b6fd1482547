"""play: the deterministic policy of a checkpoint, its mean return and its video."""

import imageio
import numpy as np
import pytest
import torch

from sdpg_warp import play, train
from sdpg_warp.checkpoint import load_policy

TINY = ["--num-nominal", "2", "--num-aux", "3", "--horizon", "4", "--image-size", "16",
        "--critic-minibatch", "16", "--epochs", "1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, device):
    root = tmp_path_factory.mktemp("runs")
    for obs in ("state", "rgb"):
        assert train.main(["--device", device, "--log-dir", str(root), "--task", "reacher", "--obs", obs,
                           *TINY, "--run-name", obs]) == 0
    return root


def test_evaluate_runs_the_checkpoint_policy(runs, device):
    result = play.evaluate(str(runs / "state"), num_worlds=3, steps=120, device=device)
    # The reacher's episodes are 100 steps: three worlds each finish one, with reward in [-1.01, 1].
    assert result["episodes"] == 3 and result["steps"] == 120
    assert -101.0 <= result["mean_return"] <= 100.0


def test_load_policy_restores_the_trained_actor(runs):
    from sdpg_warp.checkpoint import read_checkpoint

    cfg, actor = load_policy(str(runs / "rgb"))
    saved = read_checkpoint(str(runs / "rgb" / "checkpoint.pt"))["algo"]["actor"]
    assert cfg.obs == "rgb" and not actor.training
    assert saved.keys() == actor.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in actor.state_dict().items())


def test_video_shows_the_actor_view_beside_the_third_person_view(runs, device, tmp_path):
    video = tmp_path / "reacher.mp4"
    result = play.evaluate(str(runs / "rgb"), num_worlds=2, steps=6, video=str(video), video_size=32,
                           device=device)
    frames = imageio.mimread(video)
    assert result["steps"] == 6 and len(frames) == 6
    assert frames[0].shape[:2] == (32, 64)  # 16x16 actor view upscaled to 32, beside the 32x32 view
    assert np.asarray(frames[0]).std() > 0


def test_cli_bad_arguments_exit_2(runs, capsys):
    assert play.main([str(runs / "state"), "--num-worlds", "0"]) == 2
    assert play.main([str(runs / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_episodes_seed_and_stochastic(runs, device):
    state = str(runs / "state")
    # Reacher episodes last 100 steps: 2 worlds finish 2 episodes at step 100, 4 at step 200.
    result = play.evaluate(state, num_worlds=2, episodes=3, device=device)
    assert result["episodes"] == 3 and result["steps"] == 200
    a = play.evaluate(state, num_worlds=2, steps=30, seed=7, stochastic=True, device=device)
    b = play.evaluate(state, num_worlds=2, steps=30, seed=7, stochastic=True, device=device)
    c = play.evaluate(state, num_worlds=2, steps=30, seed=7, device=device)
    assert a == b and a["mean_return"] != c["mean_return"]


def test_video_frames_are_streamed_to_the_writer(runs, device, tmp_path, monkeypatch):
    """Each frame goes to the writer as it is rendered (none held for a final write)."""
    import imageio

    written = []
    real = imageio.get_writer

    def counting_writer(*args, **kwargs):
        writer = real(*args, **kwargs)
        append = writer.append_data
        writer.append_data = lambda frame: (written.append(len(written)), append(frame))
        return writer

    monkeypatch.setattr(imageio, "get_writer", counting_writer)
    monkeypatch.setattr(imageio, "mimwrite", lambda *a, **k: pytest.fail("frames kept for one final write"))
    play.evaluate(str(runs / "state"), num_worlds=1, steps=5, video=str(tmp_path / "v.gif"), video_size=16,
                  device=device)
    assert len(written) == 5 and len(imageio.mimread(tmp_path / "v.gif")) == 5


def test_cli_prints_progress(runs, capsys):
    assert play.main([str(runs / "state"), "--num-worlds", "1", "--steps", "20", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "step 10/20: 0 episodes finished" in out and "step 20/20" in out
    assert "deterministic policy" in out


def test_randomize_evaluates_under_drawn_physics(runs, device, capsys):
    """--randomize draws each world's physics per episode (here the reacher's joint damping, which
    the nominal model has): the return changes, and drawing at the nominal value changes nothing."""
    state = str(runs / "state")
    nominal = play.evaluate(state, num_worlds=2, steps=40, device=device)
    heavy = play.evaluate(state, num_worlds=2, steps=40, device=device, randomize=True,
                          randomize_set=("damping_scale=20,30",))
    neutral = play.evaluate(state, num_worlds=2, steps=40, device=device, randomize=True,
                            randomize_set=("damping_scale=1,1",))
    assert heavy["mean_return"] != nominal["mean_return"]
    assert neutral == nominal
    # The reacher has no ranges of its own; a range given the wrong way round; a range without --randomize.
    assert play.main([state, "--randomize"]) == 2
    assert play.main([state, "--randomize", "--randomize-set", "damping_scale=3,1"]) == 2
    assert play.main([state, "--randomize-set", "damping_scale=1,3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "no randomization ranges" in err and "needs --randomize" in err
