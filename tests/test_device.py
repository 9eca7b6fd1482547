"""Device selection, the execution scope and the device-dependent defaults.

What only a GPU can show (capture on the dedicated stream, TF32, fused Adam, channels-last speed)
is not testable here; these tests pin the decisions that the CPU can see.
"""

import dataclasses

import pytest
import torch
import warp as wp

from sdpg_warp import device as device_module
from sdpg_warp.config import task_defaults
from sdpg_warp.device import ExecutionScope, resolve_device


def test_auto_needs_cuda_in_both_warp_and_torch(monkeypatch):
    monkeypatch.setattr(wp, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="torch .* is a CPU build"):
        resolve_device("cuda:0")
    monkeypatch.setattr(wp, "get_cuda_device_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(None) == "cpu"
    with pytest.raises(ValueError, match="Warp finds no CUDA device"):
        resolve_device("cuda")


def test_cuda_status_names_what_lacks_cuda(monkeypatch):
    monkeypatch.setattr(wp, "get_cuda_device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", None)
    assert device_module.cuda_status() == f"torch {torch.__version__} has no CUDA (a CPU build)"
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert device_module.cuda_status() == f"torch {torch.__version__} has no CUDA device (no GPU, or no driver)"
    monkeypatch.setattr(wp, "get_cuda_device_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_module.cuda_status() == "Warp finds no CUDA device (no GPU, or no driver)"
    monkeypatch.setattr(wp, "get_cuda_device_count", lambda: 2)
    assert device_module.cuda_status() is None


def test_unknown_device_is_one_line():
    with pytest.raises(ValueError, match="unknown or unavailable device 'tpu'") as info:
        resolve_device("tpu")
    assert "\n" not in str(info.value)


def test_execution_scope_sets_warp_device_and_is_reentrant():
    scope = ExecutionScope("cpu")
    with scope:
        assert str(wp.get_device()) == "cpu"
        with scope:
            assert str(wp.get_device()) == "cpu"
    assert scope.stream is None  # no stream on the CPU


def test_device_dependent_defaults():
    cfg = task_defaults("hopper")
    assert cfg.sync_timing is None and cfg.actor_chunk is None
    assert cfg.sync_timing_on("cpu") and not cfg.sync_timing_on("cuda:0")
    assert (cfg.actor_chunk_on("cpu"), cfg.actor_chunk_on("cuda:0")) == (256, 1024)
    fixed = dataclasses.replace(cfg, sync_timing=True, actor_chunk=64)
    assert fixed.sync_timing_on("cuda:0") and fixed.actor_chunk_on("cuda:0") == 64


def test_configure_torch_deterministic_on_cpu():
    device_module.configure_torch("cpu", deterministic=True, tf32=True, cudnn_benchmark=True)
    try:
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        device_module.configure_torch("cpu", deterministic=False, tf32=True, cudnn_benchmark=True)
    assert not torch.are_deterministic_algorithms_enabled()


def test_nvtx_attributes_are_built_once_per_name(monkeypatch):
    from sdpg_warp import profiling

    built = []
    real = profiling._DOMAIN.get_event_attributes
    monkeypatch.setattr(profiling, "_ATTRIBUTES", {})
    monkeypatch.setattr(profiling._DOMAIN, "get_event_attributes",
                        lambda **kw: built.append(kw["message"]) or real(**kw))
    for _ in range(3):
        with profiling.nvtx_range("a"), profiling.nvtx_range("b"):
            pass
    assert built == ["a", "b"]
