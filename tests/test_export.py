"""ONNX export: onnxruntime reproduces the Torch policy, for state and image observations."""

import dataclasses

import sys

import numpy as np
import pytest
import torch

from sdpg_warp import export
from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner


@pytest.mark.parametrize("obs", ["state", "rgb"])
def test_onnx_policy_matches_torch(device, tmp_path, obs):
    onnxruntime = pytest.importorskip("onnxruntime", reason="the README's install (.[test]) brings onnxruntime")
    cfg = dataclasses.replace(task_defaults("reacher"), obs=obs, device=device, num_nominal=2, num_aux=3,
                              horizon=4, image_size=16, critic_minibatch=16, epochs=1)
    runner = Runner(cfg)
    runner.train()  # one update, so normalizers and weights are no longer at their initial values
    checkpoint = str(tmp_path / "checkpoint.pt")
    runner.save(checkpoint)
    assert export.main([checkpoint, "--out", str(tmp_path / "policy.onnx")]) == 0

    policy, (example,), names = export.load_policy(checkpoint)
    assert names == ("obs",)
    gen = torch.Generator().manual_seed(0)
    if obs == "state":
        batch = torch.randn(5, *example.shape[1:], generator=gen)
    else:
        batch = torch.randint(0, 256, (5, *example.shape[1:]), generator=gen, dtype=torch.uint8)
    session = onnxruntime.InferenceSession(str(tmp_path / "policy.onnx"))
    actions = session.run(None, {"obs": batch.numpy()})[0]
    with torch.no_grad():
        expected = policy(batch).numpy()
        mean, _ = runner.algo.actor(batch.to(runner.device))
    np.testing.assert_allclose(actions, expected, atol=1e-5)
    np.testing.assert_allclose(expected, torch.tanh(mean).cpu().numpy(), atol=1e-6)
    assert np.abs(actions).max() <= 1.0


def test_export_missing_checkpoint_exits_2(tmp_path):
    assert export.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "p.onnx")]) == 2


def test_export_without_onnx_names_the_package_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert export.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: ONNX export needs the onnx package: pip install onnx"
