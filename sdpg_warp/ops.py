"""Launch wrappers for the SDPG kernels of ``kernels/``: Torch tensors in and out, zero-copy.

Each wrapper checks its arguments (ValueError with a one-line message), views the tensors as Warp
arrays with ``wp.from_torch`` (no copy; any strides, e.g. a ``[:, t]`` slice of a ``[W, H, d]``
rollout buffer), launches on the tensors' device, on Warp's current stream there (inside
:class:`sdpg_warp.device.ExecutionScope` on CUDA: the stream Torch uses too, so the kernels order
with the actor's work without a synchronization), inside one NVTX range.
"""

import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

import torch
import warp as wp

from sdpg_warp.kernels import estimator as _estimator
from sdpg_warp.kernels import perturb as _perturb
from sdpg_warp.kernels import returns as _returns
from sdpg_warp.kernels import top_k as _top_k
from sdpg_warp.profiling import nvtx_range

_UINT32_MASK = (1 << 32) - 1
_UINT64_LIMIT = 1 << 64

# ----------------------------------------------------------------------------------------------
# Argument checks and launch plumbing.


def _check_tensor(name: str, tensor, ndim: int) -> None:
    """Raises ValueError unless ``tensor`` is a float32 torch.Tensor of rank ``ndim``."""
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if tensor.dtype != torch.float32:
        raise ValueError(f"{name} must be float32, got {tensor.dtype}")
    if tensor.dim() != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {tuple(tensor.shape)}")


def _check_shape(name: str, tensor: torch.Tensor, shape: Sequence[int]) -> None:
    """Raises ValueError unless ``tensor`` has exactly ``shape``."""
    if tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(tensor.shape)}")


def _check_output(name: str, tensor, shape: Sequence[int], device: torch.device) -> None:
    """Raises ValueError unless ``tensor`` is a float32 tensor of ``shape`` on ``device``."""
    _check_tensor(name, tensor, len(shape))
    _check_shape(name, tensor, shape)
    _check_same_device(device, **{name: tensor})
    # A stride-0 (expanded) output would have several threads write one element.
    if any(stride == 0 and size > 1 for stride, size in zip(tensor.stride(), tensor.shape)):
        raise ValueError(f"{name} must not be an expanded (stride 0) view")


def _check_same_device(device: torch.device, **tensors: torch.Tensor) -> None:
    """Raises ValueError unless every tensor lives on ``device``."""
    for name, tensor in tensors.items():
        if tensor.device != device:
            raise ValueError(f"{name} is on {tensor.device}, expected {device} like the other inputs")


def _check_int(name: str, value, low: int, high: Optional[int] = None) -> int:
    """Returns ``value`` as an int, raising ValueError unless it is an integer in [low, high)."""
    # numbers.Integral admits NumPy integers (a step counter often is one); bool is no count.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be in {bound}, got {value}")
    return value


def _check_bounds(name: str, bounds) -> Tuple[float, float]:
    """Returns ``bounds`` as (lower, upper) floats, raising ValueError unless lower <= upper."""
    try:
        lower, upper = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (lower, upper) pair of numbers, got {bounds!r}") from None
    if not lower <= upper:
        raise ValueError(f"{name} must have lower <= upper, got {bounds!r}")
    return lower, upper


def _output_pair(out, names: Tuple[str, str], shape: Sequence[int], device: torch.device):
    """The two float32 outputs of an op: ``out`` checked against ``shape`` and ``device``, or new."""
    if out is None:
        return tuple(torch.empty(shape, dtype=torch.float32, device=device) for _ in names)
    if len(out) != 2:
        raise ValueError(f"out must be a ({names[0]}, {names[1]}) pair, got {len(out)} tensors")
    for i, (name, tensor) in enumerate(zip(names, out)):
        _check_output(f"out[{i}] ({name})", tensor, shape, device)
    return tuple(out)


def _view(tensor: torch.Tensor, dtype=wp.float32):
    """Zero-copy Warp view of a tensor, as the launch descriptor (the cheapest form)."""
    wp.init()  # idempotent (~0.2 us); at first use rather than import, so callers configure Warp first
    # requires_grad=False: otherwise from_torch would allocate and attach a .grad to the tensor.
    return wp.from_torch(tensor, dtype=dtype, requires_grad=False, return_ctype=True)


class _RecordedLaunches:
    """Recorded launches (``wp.Launch``) of one op, keyed by every tensor's address, dtype, device,
    shape and strides and by the op's other fixed arguments: a call whose key was seen before (a
    rollout's calls into its preallocated buffers) skips the argument checks, the views and the
    launch packing, and only updates the per-call scalars. A key seen before was fully checked
    then, and views are raw pointers with shapes and strides, so a hit launches exactly what the
    checked path would. At most ``capacity`` keys are kept (the oldest dropped first)."""

    def __init__(self, capacity: int = 256):
        self.capacity = capacity
        self._launches: Dict[tuple, "wp.Launch"] = {}

    @staticmethod
    def key(tensors: Sequence[Optional[torch.Tensor]], *fixed) -> Optional[tuple]:
        """The cache key, or None when an argument is not a tensor or not hashable (the checked path
        then reports it)."""
        try:
            key = (
                tuple(None if t is None else (t.data_ptr(), t.dtype, t.device, t.shape, t.stride()) for t in tensors),
                fixed,
            )
            hash(key)
        except (AttributeError, TypeError):
            return None
        return key

    def get(self, key) -> Optional["wp.Launch"]:
        return self._launches.get(key)

    def put(self, key, launch: "wp.Launch") -> None:
        self._launches[key] = launch
        if len(self._launches) > self.capacity:
            del self._launches[next(iter(self._launches))]


def _kernel_kind(device: torch.device) -> str:
    """"cuda" or "cpu": which variant of a kernel built per device kind (threads laid out for one)."""
    return "cuda" if device.type == "cuda" else "cpu"


def _launch(kernel, dim: Sequence[int], inputs: list, outputs: list, device: torch.device,
            record: bool = False) -> Optional["wp.Launch"]:
    """Launches ``kernel`` on ``device``, on Warp's current stream there.

    On CUDA, call the ops inside :class:`sdpg_warp.device.ExecutionScope` (the Runner does): Torch
    and Warp then share one stream, which orders the kernels with the actor's work without a
    synchronization.
    """
    wp.init()
    return wp.launch(kernel, dim=dim, inputs=inputs, outputs=outputs, device=wp.device_from_torch(device),
                     record_cmd=record)


# ----------------------------------------------------------------------------------------------
# Public ops.


def load_kernels(device: torch.device) -> None:
    """Compiles the ops' kernels for ``device`` (or reads them from Warp's kernel cache), as their
    first launch otherwise would: the Runner does it before the first epoch, so that epoch's phase
    times and steps/s are its own work's."""
    wp.init()
    for module in (_perturb, _returns, _estimator, _top_k):
        wp.load_module(module, device=wp.device_from_torch(device))


def sample_actions(
    mean: torch.Tensor,
    logstd: torch.Tensor,
    num_aux: int,
    seed: int,
    step: int,
    mean_bounds: Tuple[float, float] = (-2.0, 2.0),
    squashed_out: Optional[torch.Tensor] = None,
    out: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Perturbed actions of every world for one rollout step (docs/DESIGN.md section 3, step 2.3).

    mean: (N, d) actor mean on the nominal observations; logstd: (N, d), or (d,) when
    state-independent; num_aux: M >= 0 auxiliary worlds per nominal; seed, step: ints in
    [0, 2^64) keying the counter-based noise (use a step that never repeats within a run).
    Returns (actions, eps), each (N*(M+1), d) float32, world w = n*(M+1) + k:
      eps[w] ~ N(0, I), a pure function of (seed, step, w, dim), exactly 0 for k = 0;
      actions[w] = clamp(mean[n] + exp(logstd[n]) * eps[w], mean_bounds).
    squashed_out: optional (N*(M+1), d) tensor (the simulator's action buffer) that also receives
    tanh(actions). out: optional preallocated (actions, eps) to write into and return (no
    allocation), e.g. the views buffer[:, t] of (N*(M+1), H, d) rollout buffers.
    """
    with nvtx_range("sample_actions"):
        seed = _check_int("seed", seed, 0, _UINT64_LIMIT)
        step = _check_int("step", step, 0, _UINT64_LIMIT)
        key = None
        if out is not None and isinstance(out, (tuple, list)) and len(out) == 2:
            key = _SAMPLE_LAUNCHES.key((mean, logstd, out[0], out[1], squashed_out), num_aux, mean_bounds)
            launch = _SAMPLE_LAUNCHES.get(key) if key is not None else None
            if launch is not None:
                _set_key_scalars(launch, seed, step)
                launch.launch()
                return out[0], out[1]
        _check_tensor("mean", mean, 2)
        num_nominal, num_actions = mean.shape
        if not isinstance(logstd, torch.Tensor) or logstd.dim() not in (1, 2):
            shape = tuple(logstd.shape) if isinstance(logstd, torch.Tensor) else type(logstd).__name__
            raise ValueError(f"logstd must be a (N, d) or (d,) tensor, got {shape}")
        _check_tensor("logstd", logstd, logstd.dim())
        _check_shape("logstd", logstd, (num_nominal, num_actions) if logstd.dim() == 2 else (num_actions,))
        num_aux = _check_int("num_aux", num_aux, 0)
        lower, upper = _check_bounds("mean_bounds", mean_bounds)
        device = mean.device
        _check_same_device(device, logstd=logstd)
        num_worlds = num_nominal * (num_aux + 1)
        shape = (num_worlds, num_actions)
        actions, eps = _output_pair(out, ("actions", "eps"), shape, device)
        if squashed_out is not None:
            _check_output("squashed_out", squashed_out, shape, device)
        if num_worlds == 0 or num_actions == 0:
            return actions, eps

        # A state-independent log-std is read through a stride-0 row: one kernel serves both.
        logstd_rows = logstd.detach() if logstd.dim() == 2 else logstd.detach().expand(num_nominal, -1)
        kind = _kernel_kind(device)
        launch = _launch(
            _perturb._PERTURB_ACTIONS[kind],
            dim=(
                num_nominal * -(-(num_aux + 1) // _perturb._SAMPLES_PER_THREAD[kind]),
                -(-num_actions // 4),
            ),
            inputs=[
                seed & _UINT32_MASK,
                seed >> 32,
                step & _UINT32_MASK,
                step >> 32,
                num_aux + 1,
                lower,
                upper,
                int(squashed_out is not None),
                _view(mean.detach()),
                _view(logstd_rows),
            ],
            outputs=[
                _view(actions),
                _view(eps),
                _view(squashed_out) if squashed_out is not None else None,
            ],
            device=device,
            record=key is not None,
        )
        if key is not None:
            launch.launch()
            _SAMPLE_LAUNCHES.put(key, launch)
        return actions, eps


_SAMPLE_LAUNCHES = _RecordedLaunches()
"""sample_actions' recorded launches (calls with ``out``)."""


def _set_key_scalars(launch: "wp.Launch", seed: int, step: int) -> None:
    """Writes the noise key (seed, step as 32-bit halves: the kernel's first four parameters, all
    uint32, so the values are stored as they are, with no type conversion)."""
    launch.set_param_at_index_from_ctype(0, seed & _UINT32_MASK)
    launch.set_param_at_index_from_ctype(1, seed >> 32)
    launch.set_param_at_index_from_ctype(2, step & _UINT32_MASK)
    launch.set_param_at_index_from_ctype(3, step >> 32)


def td_lambda_returns(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    next_values: torch.Tensor,
    gamma: float,
    lam: float,
    out: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Causal TD(lambda) return-to-go J of every world and step (docs/DESIGN.md section 4.2).

    rewards, dones, next_values: (W, H) float32; dones 1 where the world terminated or was reset
    at t (and at t = H-1), else 0; next_values V_target(s[t+1]), 0 where terminated.
    gamma, lam in [0, 1]; lam = 1 is exact (J is then the bootstrapped Monte Carlo return).
    Returns J: (W, H) float32, written into ``out`` when given.
    """
    with nvtx_range("td_lambda_returns"):
        _check_tensor("rewards", rewards, 2)
        _check_tensor("dones", dones, 2)
        _check_tensor("next_values", next_values, 2)
        shape = tuple(rewards.shape)
        _check_shape("dones", dones, shape)
        _check_shape("next_values", next_values, shape)
        device = rewards.device
        _check_same_device(device, dones=dones, next_values=next_values)
        for name, value in (("gamma", gamma), ("lam", lam)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
        if out is None:
            out = torch.empty(shape, dtype=torch.float32, device=device)
        else:
            _check_output("out", out, shape, device)
        if out.numel() == 0:
            return out

        _launch(
            _returns._td_lambda_returns,
            dim=shape[0],
            inputs=[
                float(gamma),
                float(lam),
                _view(rewards.detach()),
                _view(dones.detach()),
                _view(next_values.detach()),
            ],
            outputs=[_view(out)],
            device=device,
        )
        return out


def sdpg_targets(
    returns: torch.Tensor,
    eps: torch.Tensor,
    mean: torch.Tensor,
    logstd: torch.Tensor,
    num_aux: int,
    mean_bounds: Tuple[float, float] = (-2.0, 2.0),
    logstd_bounds: Tuple[float, float] = (-5.0, 2.0),
    top_k: Optional[int] = None,
    out: Optional[Tuple[torch.Tensor, torch.Tensor]] = None,
    non_finite_out: Optional[torch.Tensor] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-nominal normalized return-weighted targets for the actor (docs/DESIGN.md section 4.3).

    returns: (N*(M+1), H) returns-to-go J; eps: (N*(M+1), H, d) the perturbations that produced them
    (0 on nominal worlds); mean, logstd: (N, H, d) the nominal actions and the
    log-std they were sampled with; num_aux: M >= 1. top_k: None to average over all M+1
    samples, or k in [1, M+1] to average over the k largest weights only (ties to the lower
    sample index). Returns (mean_target, logstd_target), each (N, H, d) float32, written into
    ``out`` = (mean_target, logstd_target) when given.

    Non-finite returns are left out of their group's statistics and estimate; a non-finite
    nominal return gives its (n, t) zero steps (the actor loss must give it no weight).
    non_finite_out: optional (N, H) int32 tensor that receives the number of non-finite returns
    of each (n, t), on the device.
    """
    with nvtx_range("sdpg_targets"):
        _check_tensor("returns", returns, 2)
        _check_tensor("eps", eps, 3)
        _check_tensor("mean", mean, 3)
        _check_tensor("logstd", logstd, 3)
        num_aux = _check_int("num_aux", num_aux, 1)
        group = num_aux + 1
        num_nominal, horizon, num_actions = mean.shape
        num_worlds = num_nominal * group
        if returns.shape[0] != num_worlds:
            raise ValueError(
                f"returns has {returns.shape[0]} worlds, expected N*(M+1) = {num_nominal}*{group} = {num_worlds}"
            )
        _check_shape("returns", returns, (num_worlds, horizon))
        _check_shape("eps", eps, (num_worlds, horizon, num_actions))
        _check_shape("logstd", logstd, (num_nominal, horizon, num_actions))
        if top_k is not None:
            top_k = _check_int("top_k", top_k, 1, group + 1)
        mean_lower, mean_upper = _check_bounds("mean_bounds", mean_bounds)
        logstd_lower, logstd_upper = _check_bounds("logstd_bounds", logstd_bounds)
        device = returns.device
        _check_same_device(device, eps=eps, mean=mean, logstd=logstd)
        shape = (num_nominal, horizon, num_actions)
        mean_target, logstd_target = _output_pair(out, ("mean_target", "logstd_target"), shape, device)
        if non_finite_out is None:
            non_finite_out = torch.empty((num_nominal, horizon), dtype=torch.int32, device=device)
        elif (not isinstance(non_finite_out, torch.Tensor) or non_finite_out.dtype != torch.int32
              or tuple(non_finite_out.shape) != (num_nominal, horizon) or non_finite_out.device != device):
            raise ValueError(f"non_finite_out must be an int32 tensor of shape {(num_nominal, horizon)} on {device}")
        if math.prod(shape) == 0:
            return mean_target, logstd_target

        bounds = [mean_lower, mean_upper, logstd_lower, logstd_upper]
        tensors = [_view(eps.detach()), _view(mean.detach()), _view(logstd.detach())]
        outputs = [_view(mean_target), _view(logstd_target)]
        # One thread per (n, t, group of four dims).
        dim = (num_nominal, horizon, -(-num_actions // 4))
        if top_k is None or top_k == group:
            _launch(
                _estimator._sdpg_targets,
                dim=dim,
                inputs=[group, *bounds, _view(returns.detach()), *tensors],
                outputs=outputs + [_view(non_finite_out, wp.int32)],
                device=device,
            )
        else:
            _launch_top_k(returns, group, top_k, dim, bounds, tensors, outputs, non_finite_out)
        return mean_target, logstd_target


def _launch_top_k(returns: torch.Tensor, group: int, top_k: int, dim, bounds: list, tensors: list,
                  outputs: list, non_finite_out: torch.Tensor) -> None:
    """The top-k estimate: selection once per (n, t) into a list of the kept samples and their
    weights (_select_top_k), then the per-dim sums read only those samples' eps."""
    weights, samples = _select_top_k(returns, dim[0], group, top_k, non_finite_out)
    _launch(
        _estimator._weighted_targets,
        dim=dim,
        inputs=[group, top_k, *bounds, _view(weights), _view(samples, wp.int32), *tensors],
        outputs=outputs,
        device=returns.device,
    )


def _select_top_k(returns: torch.Tensor, num_nominal: int, group: int, top_k: int,
                  non_finite_out: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(weights, samples), each (N, H, K + 1) (float32, int32): for i < K, the kept samples of each
    (n, t) in increasing sample order and their weights dJ / (K' s) (0 for a non-finite sample or
    nominal); column K is scratch. non_finite_out: (N, H) int32, the non-finite returns' count."""
    horizon = returns.shape[1]
    device = returns.device
    kind = _kernel_kind(device)
    lanes = _top_k._STEPS_PER_THREAD[kind]
    chunks = -(-horizon // lanes)
    # Freed after the caller's launch while the kernels may still be queued: safe, as the
    # allocator orders reuse on the stream it was allocated on, the one every launch uses.
    kept = torch.empty((2, num_nominal, horizon, top_k + 1), dtype=torch.float32, device=device)
    # The selection's dJ and keys, per (world, chunk of steps, lane).
    scratch = torch.empty((2, num_nominal * group, chunks, lanes), dtype=torch.float32, device=device)
    weights, samples = kept[0], kept[1].view(torch.int32)
    if non_finite_out is None:
        non_finite_out = torch.empty((num_nominal, horizon), dtype=torch.int32, device=device)
    _launch(
        _top_k._TOP_K_WEIGHTS[kind],
        dim=num_nominal * chunks,
        inputs=[group, top_k, _view(returns.detach())],
        outputs=[
            _view(scratch[0], wp.types.vector(length=lanes, dtype=wp.float32)),
            _view(scratch[1].view(torch.int32), wp.types.vector(length=lanes, dtype=wp.int32)),
            _view(weights),
            _view(samples, wp.int32),
            _view(non_finite_out, wp.int32),
        ],
        device=device,
    )
    return weights, samples
