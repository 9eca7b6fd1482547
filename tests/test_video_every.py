"""--video-every: episode videos in the run folder and the logger, with training bit-identical."""

import dataclasses

import imageio.v2 as imageio
import pytest
import torch

from sdpg_warp.checkpoint import read_checkpoint
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner
from sdpg_warp.video import VIEW_SIZE


def _train(tmp_path, device, task, obs, video_every, **sizes):
    cfg = dataclasses.replace(task_defaults(task, obs), device=device, num_nominal=2, num_aux=3, horizon=4,
                              critic_minibatch=16, epochs=3, threads=1, episode_length=6, video_every=video_every,
                              video_steps=5, logger=("tensorboard",), **sizes)
    runner = Runner(cfg, run_dir=str(tmp_path))
    writer = runner.open_writer(str(tmp_path), resumed=False)
    history = runner.train()
    writer.close()
    return runner, history


def _learning(history):
    return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in history]


def test_training_is_bit_identical_with_videos_on(device, tmp_path):
    off, off_history = _train(tmp_path / "off", device, "pointmass", "state", 0)
    on, on_history = _train(tmp_path / "on", device, "pointmass", "state", 2)
    assert _learning(on_history) == _learning(off_history)
    a, b = (read_checkpoint(str(p / "checkpoint.pt")) for p in (tmp_path / "off", tmp_path / "on"))
    for name in ("actor", "critic"):
        assert all(torch.equal(a["algo"][name][k], b["algo"][name][k]) for k in a["algo"][name]), name
    assert torch.equal(a["torch_rng"], b["torch_rng"])
    assert not (tmp_path / "off" / "videos").exists()
    assert sorted(p.name for p in (tmp_path / "on" / "videos").iterdir()) == ["epoch_000002.mp4"]
    frames = imageio.mimread(tmp_path / "on" / "videos" / "epoch_000002.mp4")
    assert len(frames) == 5 and frames[0].shape[:2] == (VIEW_SIZE, VIEW_SIZE)
    # The video's cost shows in the epoch's phases.
    assert "perf/video_seconds" in on_history[1] and "perf/video_seconds" not in on_history[0]


def test_pixel_video_shows_the_actor_camera_beside_the_third_person_view(device, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _train(tmp_path, device, "reacher", "rgb", 3, image_size=16)
    frames = imageio.mimread(tmp_path / "videos" / "epoch_000003.mp4")
    assert len(frames) == 5 and frames[0].shape[:2] == (VIEW_SIZE, 2 * VIEW_SIZE)
    events = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    events.Reload()
    (image,) = events.Images("videos/rollout")
    assert image.step == 3 and image.encoded_image_string[:3] == b"GIF"


@pytest.mark.parametrize("value", [["--video-every", "-1"], ["--video-steps", "0"]])
def test_bad_video_flags_exit_2(tmp_path, value, capsys):
    from sdpg_warp import train

    assert train.main(["--log-dir", str(tmp_path / "runs"), "--task", "reacher", *value]) == 2
    assert capsys.readouterr().err.count("\n") == 1 and not (tmp_path / "runs").exists()
