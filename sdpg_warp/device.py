"""Device selection, the one execution scope every launch runs in, and Torch's GPU settings.

On CUDA, Torch and Warp share one dedicated stream (not Torch's legacy default stream, which
cannot be captured into a graph): everything queued inside :class:`ExecutionScope` is ordered by
the stream itself, with no host synchronization and no per-launch stream lookup.
"""

import contextlib
import os
import sys
import tempfile
from typing import Optional

import torch
import warp as wp


def cuda_status() -> Optional[str]:
    """None when both Warp and Torch can use CUDA, else why not, in words (which of them lacks it)."""
    wp.init()
    missing = []
    if wp.get_cuda_device_count() == 0:
        missing.append("Warp finds no CUDA device (no GPU, or no driver)")
    if not torch.cuda.is_available():
        missing.append(f"torch {torch.__version__} has no CUDA" + (" (a CPU build)" if torch.version.cuda is None
                                                                  else " device (no GPU, or no driver)"))
    return "; ".join(missing) or None


def conditional_graphs(device: str) -> bool:
    """Whether a captured graph on ``device`` can hold a loop that ends on a device value (mujoco_warp's
    ``Option.graph_conditional``: its solver stops once every world converged). On CUDA that needs
    conditional graph nodes (driver and Warp's toolkit 12.4+); Warp's CPU graphs always can."""
    return not device.startswith("cuda") or wp.is_conditional_graph_supported()


def resolve_device(device: Optional[str]) -> str:
    """The Warp/Torch device string of ``device``: ``None``/"auto" picks cuda:0 when both Warp and
    Torch have CUDA, else cpu; "cuda" means cuda:0. Raises ValueError (one line) for a device that
    does not exist or that Warp or the installed Torch cannot use."""
    init_warp(quiet_without_driver=not (device or "auto").startswith("cuda"))
    warp_cuda = wp.get_cuda_device_count() > 0
    torch_cuda = torch.cuda.is_available()
    if device in (None, "auto"):
        return "cuda:0" if warp_cuda and torch_cuda else "cpu"
    if device == "cuda":
        device = "cuda:0"
    if device.startswith("cuda"):
        if not warp_cuda:
            raise ValueError(f"device {device!r}: Warp finds no CUDA device (no GPU or driver); use --device cpu")
        if not torch_cuda:
            raise ValueError(f"device {device!r}: the installed torch {torch.__version__} is a CPU build; "
                             "install a CUDA build of torch or use --device cpu")
    try:
        wp.get_device(device)
    except Exception:  # Warp raises several types for unknown devices
        raise ValueError(f"unknown or unavailable device {device!r}") from None
    return device


_NO_DRIVER_WARNING = b"Warp CUDA warning: Could not find or load the NVIDIA CUDA driver"


def init_warp(quiet_without_driver: bool) -> None:
    """``wp.init()``. With ``quiet_without_driver`` (no CUDA device asked for: cpu, auto) the line
    Warp's native library prints on a machine without an NVIDIA driver is dropped, as it says
    nothing a CPU run needs ("auto" says itself that it runs on the CPU); every other line it
    prints passes through, and a CUDA request keeps the warning."""
    if not quiet_without_driver:
        wp.init()
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        wp.init()
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            wp.init()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        lines = capture.read().splitlines(keepends=True)
    kept = b"".join(line for line in lines if not line.startswith(_NO_DRIVER_WARNING))
    if kept:
        os.write(2, kept)


class ExecutionScope:
    """Context manager: Warp's current device is ``device``; on CUDA, Torch's and Warp's current
    stream is one dedicated stream, created once and reused on every entry (re-entrant)."""

    def __init__(self, device: str):
        self.device = device
        self.stream: Optional[torch.cuda.Stream] = None
        self._warp_stream = None
        self._stacks: list = []

    def __enter__(self) -> "ExecutionScope":
        stack = contextlib.ExitStack()
        stack.enter_context(wp.ScopedDevice(self.device))
        if self.device.startswith("cuda"):
            if self.stream is None:
                self.stream = torch.cuda.Stream(device=self.device)
                self._warp_stream = wp.stream_from_torch(self.stream)
            stack.enter_context(torch.cuda.stream(self.stream))
            stack.enter_context(wp.ScopedStream(self._warp_stream))
        self._stacks.append(stack)
        return self

    def __exit__(self, *exc) -> None:
        self._stacks.pop().close()


def configure_torch(device: str, deterministic: bool, tf32: bool, cudnn_benchmark: bool) -> None:
    """Process-wide Torch settings of a run. On the CPU only ``deterministic`` applies.

    deterministic: Torch's deterministic algorithms (cuDNN's deterministic convolutions, no
    benchmark autotuning, a fixed cuBLAS workspace); slower on CUDA. tf32: TF32 matmuls and
    convolutions on Ampere and newer (about 10 bits of mantissa in the products). cudnn_benchmark:
    autotune convolution algorithms for the fixed image shapes.
    """
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic)
    if not device.startswith("cuda"):
        return
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = cudnn_benchmark and not deterministic
