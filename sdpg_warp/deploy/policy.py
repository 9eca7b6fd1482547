"""The exported policy in onnxruntime, and what its file says about the run it came from."""

import dataclasses
import json
import os
import time
from typing import Optional

import numpy as np


class DeployError(ValueError):
    """Invalid input to deploy, reported as one line (exit status 2)."""


@dataclasses.dataclass(frozen=True)
class PolicySpec:
    """What an exported file's metadata says (``sdpg_warp.export``)."""

    config: dict
    """The run's configuration (``TrainConfig`` fields)."""
    checkpoint: str
    """Absolute path of the checkpoint the file was exported from (may no longer exist)."""

    @property
    def task(self) -> str:
        return self.config["task"]

    @property
    def obs(self) -> str:
        return self.config["obs"]


def read_spec(path: str) -> PolicySpec:
    """The metadata of the ONNX file at ``path``; DeployError if it is missing, not ONNX, or not
    written by ``sdpg_warp.export``. Reads the file's protobuf only (no Torch, no runtime)."""
    from sdpg_warp.export import CHECKPOINT_KEY, CONFIG_KEY

    if not os.path.isfile(path):
        raise DeployError(f"no ONNX file {path}")
    try:
        import onnx
        from google.protobuf.message import DecodeError
    except ImportError:
        raise DeployError("deploy reads ONNX metadata with the onnx package: pip install onnx") from None
    try:
        model = onnx.load(path, load_external_data=False)
    except (DecodeError, OSError, ValueError, RuntimeError) as e:
        raise DeployError(f"{path} is not an ONNX file ({type(e).__name__})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if CONFIG_KEY not in props:
        raise DeployError(f"{path} was not written by python -m sdpg_warp.export (no {CONFIG_KEY} metadata); "
                          f"export the run again")
    return PolicySpec(json.loads(props[CONFIG_KEY]), props.get(CHECKPOINT_KEY, ""))


class OnnxPolicy:
    """An exported policy in onnxruntime on the CPU (one thread): ``act(inputs)`` -> action [nu],
    timing each call in ``latencies`` (seconds)."""

    def __init__(self, path: str, threads: int = 1):
        try:
            import onnxruntime
        except ImportError:
            raise DeployError("deploy runs the policy in onnxruntime: pip install onnxruntime") from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.latencies: list[float] = []

    def act(self, inputs: dict) -> np.ndarray:
        """``inputs``: input name -> one observation (no batch axis); returns the action [nu] in [-1, 1]."""
        feed = {name: inputs[name][None] for name in self.input_names}
        start = time.perf_counter()
        action = self.session.run(None, feed)[0][0]
        self.latencies.append(time.perf_counter() - start)
        return action

    def latency_ms(self, quantile: float) -> Optional[float]:
        """The ``quantile`` of the recorded latencies in milliseconds (None before any call)."""
        return float(np.quantile(self.latencies, quantile) * 1e3) if self.latencies else None
