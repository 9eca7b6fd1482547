"""Data-parallel training on torch.distributed (docs/DESIGN.md section 9).

``torchrun --nproc-per-node K -m sdpg_warp.train ...`` starts K ranks. Each rank simulates its own
worlds (SDPG's N nominal worlds with their auxiliaries, or the baselines' ``num_envs``) on its own
device (``cuda:LOCAL_RANK``, modulo the GPUs it sees, or the CPU) with its own seed (:meth:`DataParallel.rank_seed`). The
networks are one set, identical on every rank at every step: they start from rank 0's weights,
every optimizer step applies the gradient averaged over the ranks, and every normalizer merges the
statistics of all the ranks' batches. Collectives go through torch.distributed: NCCL for CUDA
tensors, gloo for CPU tensors and for host-side objects and numbers. Plain
``python -m sdpg_warp.train`` never touches torch.distributed: :data:`SINGLE_PROCESS` stands in,
and each of its methods returns at once.

How an algorithm (an :class:`~sdpg_warp.algorithm.Algorithm`) adopts it; SDPG, PPO and distill do:

1. Gradients. After the backward pass (or all the passes whose gradients accumulate into one
   step) and before gradient clipping and ``optimizer.step()``, call
   ``self.parallel.average_gradients(params)`` with the parameters that optimizer steps. Every
   call is a collective, so every rank must make the same calls in the same order: the same
   number of optimizer steps per epoch (the same batch and minibatch counts, which the shared
   config gives), and no step that depends on the rank's own data alone.
2. Normalizers. Pass ``self.parallel.combine_moments`` to ``RunningMeanStd.update`` (or to the
   networks' ``update_normalizer``): every rank then merges the moments of the union of the
   ranks' batches, so the statistics stay identical.
3. Decisions that the rank's own data would steer (a KL that adapts the learning rate, a loss
   that ends an epoch's updates early) read ``self.parallel.average(value)`` instead.
4. ``rank_local_state``: the keys of ``state_dict`` whose values differ between ranks (random
   generators, per-rank buffers). A checkpoint keeps those for every rank, the rest once.

The Runner does everything else: it builds each rank with :meth:`~DataParallel.rank_seed`, sets
``algo.parallel``, copies rank 0's networks (``algo.networks()``) to every rank, averages the logged
metrics, sums the episode statistics, combines stop requests, and gathers every rank's simulator,
RNG and rank-local state into the checkpoint that rank 0 alone writes.
"""

import contextlib
import dataclasses
import datetime
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as dist
from torch import nn

Scalar = Union[float, torch.Tensor]

RANK_SEED_STRIDE = 1 << 16
"""Rank r runs with seed ``seed + r * RANK_SEED_STRIDE``: two runs whose seeds differ by less than
this never give any of their ranks the same seed."""


BUILD_TIMEOUT = 3600.0
"""Seconds the ranks wait for each machine's local rank 0 to build (and compile) first
(:meth:`DataParallel.local_rank_zero_first`): a cold kernel cache takes minutes."""


class RankFailure(RuntimeError):
    """A collective failed: another rank died or was stopped, or a rank did not arrive in time."""


def merge_moments(means: torch.Tensor, variances: torch.Tensor,
                  counts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, population variance and count of the union of K batches, from each batch's own.

    means, variances: [K, D]; counts: [K] (floats). With n = sum_k c_k:
      mean = sum_k c_k * m_k / n,   var = sum_k c_k * (v_k + (m_k - mean)^2) / n
    (the between-batch term completes each batch's own spread). A batch with c_k = 0 contributes
    nothing (its mean and variance must be finite). Returns (mean [D], var [D], n as a 0-dim tensor).
    """
    total = counts.sum()
    weights = (counts / total.clamp(min=1.0))[:, None]
    mean = (weights * means).sum(0)
    var = (weights * (variances + (means - mean).square())).sum(0)
    return mean, var, total


@dataclasses.dataclass(frozen=True)
class DataParallel:
    """The ranks of a run and the collectives between them (see the module docstring).

    With ``world_size`` 1 every method returns at once without torch.distributed.
    """

    rank: int = 0
    """This process's rank, in [0, world_size); rank 0 alone writes the run folder."""
    world_size: int = 1
    """K: the number of ranks (processes), each with its own simulator and device."""
    local_rank: int = 0
    """This process's rank on its machine: the index of its GPU, ``cuda:LOCAL_RANK``."""
    timeout: float = 600.0
    """Seconds a collective waits for the other ranks before it fails (``--collective-timeout``)."""
    cpu_group: Optional[Any] = dataclasses.field(default=None, compare=False, repr=False)
    """The gloo process group for host objects and numbers (None: the default group, itself gloo)."""

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0, which writes the run folder, TensorBoard and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one rank."""
        return self.world_size > 1

    # ----------------------------------------------------------------------------- the rank

    def rank_seed(self, seed: int) -> int:
        """The seed of this rank's simulator resets, perturbations and generators:
        ``seed + rank * RANK_SEED_STRIDE`` (rank 0 keeps ``seed``)."""
        return seed + self.rank * RANK_SEED_STRIDE

    def rank_device(self, device: str) -> str:
        """This rank's device for ``--device device``. One rank: ``device`` itself. Several: the CPU
        for ``cpu`` (and for ``auto`` without CUDA), else ``cuda:LOCAL_RANK``; a numbered
        ``cuda:N`` is a ValueError (one line), as every rank would take the same GPU."""
        if not self.distributed or device == "cpu":
            return device
        if device == "auto":
            from sdpg_warp.device import resolve_device

            if resolve_device("auto") == "cpu":
                return "cpu"
        elif device != "cuda":
            raise ValueError(f"device {device!r} names one GPU, but each of the {self.world_size} ranks takes its own "
                             f"(cuda:LOCAL_RANK): use --device cuda or auto")
        return f"cuda:{self.cuda_index()}"

    def cuda_index(self) -> int:
        """This rank's GPU among those it sees: ``LOCAL_RANK`` modulo their number. A launcher that
        gives each rank its own ``CUDA_VISIBLE_DEVICES`` (SLURM) leaves one visible GPU per rank,
        ``cuda:0``, whatever the local rank."""
        return self.local_rank % max(1, torch.cuda.device_count())

    @contextlib.contextmanager
    def local_rank_zero_first(self, what: str, timeout: float = BUILD_TIMEOUT):
        """The body runs on each machine's local rank 0 first, then on its other ranks (every rank
        must enter). Building the simulator compiles Warp kernels into the machine's kernel cache:
        K ranks compiling the same kernels at once from a cold cache can take longer than
        ``--collective-timeout``, so one compiles and the others then load its kernels. The wait
        has a timeout of its own, ``max(timeout, self.timeout)`` seconds."""
        if not self.distributed:
            yield
            return
        if self.local_rank != 0:
            self._wait_for_local_rank_zero(what, timeout)
        yield
        if self.local_rank == 0:
            self._wait_for_local_rank_zero(what, timeout)

    def _wait_for_local_rank_zero(self, what: str, timeout: float) -> None:
        seconds = max(timeout, self.timeout)
        try:
            dist.monitored_barrier(group=self.cpu_group, timeout=datetime.timedelta(seconds=seconds))
        except RuntimeError as e:
            reason = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
            raise RankFailure(f"rank {self.rank} of {self.world_size}: waiting for each machine's local rank 0 to "
                              f"finish {what} failed ({reason}); a rank failed, or it took over {seconds:g} s") from e

    # -------------------------------------------------------------- collectives on device tensors

    def average_gradients(self, params: Iterable[torch.Tensor]) -> None:
        """Replaces the gradient of every parameter in ``params`` that has one by its mean over the
        ranks, in place: one all-reduce of the gradients flattened into one buffer per dtype.
        Every rank must hold gradients for the same parameters (as it does running the same code).
        Queues device work only."""
        if not self.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        with self._failing_loudly("averaging gradients"):
            self._all_reduce_flat_(grads, divisor=self.world_size)

    def combine_moments(self, mean: torch.Tensor, var: torch.Tensor,
                        count: Union[int, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor, Union[int, torch.Tensor]]:
        """The (mean, population variance, count) of the union of every rank's batch, from this rank's:
        one all-gather, then :func:`merge_moments` in rank order, which every rank computes alike.
        For ``RunningMeanStd.update``. Several ranks return the count as a 0-dim float64 tensor, so
        nothing is read to the host."""
        if not self.distributed:
            return mean, var, count
        size = mean.numel()
        local = torch.cat([mean.reshape(-1).double(), var.reshape(-1).double(),
                           torch.full((1,), float(count), dtype=torch.float64, device=mean.device)])
        gathered = [torch.empty_like(local) for _ in range(self.world_size)]
        with self._failing_loudly("combining normalizer statistics"):
            dist.all_gather(gathered, local)
        stacked = torch.stack(gathered)
        merged_mean, merged_var, total = merge_moments(stacked[:, :size], stacked[:, size:2 * size], stacked[:, -1])
        return merged_mean.view(mean.shape), merged_var.view(var.shape), total

    def average(self, value: torch.Tensor) -> torch.Tensor:
        """The mean over the ranks of ``value`` (same shape on every rank), as a new tensor."""
        if not self.distributed:
            return value
        out = value.detach().clone()
        with self._failing_loudly("averaging a value"):
            dist.all_reduce(out)
        return out.div_(self.world_size)

    def sum_(self, tensors: Sequence[torch.Tensor]) -> None:
        """Replaces each tensor by its sum over the ranks, in place (one all-reduce per dtype)."""
        if not self.distributed:
            return
        with self._failing_loudly("summing statistics"):
            self._all_reduce_flat_(list(tensors), divisor=1)

    def average_metrics(self, metrics: Mapping[str, Scalar], device: str) -> Dict[str, Scalar]:
        """The epoch's metrics (0-dim tensors or floats, the same names on every rank) averaged over
        the ranks, as float64 0-dim tensors on ``device``: one all-reduce. One rank: ``metrics``."""
        if not self.distributed:
            return dict(metrics)
        names = sorted(metrics)  # the same order on every rank, whatever order each inserted them in
        values = torch.stack([torch.as_tensor(metrics[name], dtype=torch.float64, device=device).reshape(())
                              for name in names])
        with self._failing_loudly("averaging metrics"):
            dist.all_reduce(values)
        values.div_(self.world_size)
        averaged = dict(zip(names, values.unbind()))
        return {name: averaged[name] for name in metrics}

    def broadcast_modules(self, modules: Iterable[nn.Module]) -> None:
        """Copies rank 0's parameters and buffers (normalizer statistics included) into every rank's
        modules, in place."""
        if not self.distributed:
            return
        with self._failing_loudly("copying rank 0's networks"):
            for module in modules:
                for tensor in module.state_dict().values():
                    dist.broadcast(tensor, src=0)

    def _all_reduce_flat_(self, tensors: List[torch.Tensor], divisor: int) -> None:
        """Sums ``tensors`` over the ranks in place, divided by ``divisor``: one flat buffer per dtype."""
        by_dtype: Dict[torch.dtype, List[torch.Tensor]] = {}
        for tensor in tensors:
            by_dtype.setdefault(tensor.dtype, []).append(tensor)
        for group in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in group])
            dist.all_reduce(flat)
            if divisor != 1:
                flat.div_(divisor)
            offset = 0
            for t in group:
                t.copy_(flat[offset:offset + t.numel()].view_as(t))
                offset += t.numel()

    # ---------------------------------------------------------- collectives on the host (gloo)

    def sum_host(self, values: Sequence[float]) -> List[float]:
        """The sums over the ranks of host numbers (stop requests, counts), through gloo on the CPU."""
        if not self.distributed:
            return [float(v) for v in values]
        buffer = torch.tensor([float(v) for v in values], dtype=torch.float64)
        with self._failing_loudly("summing host numbers"):
            dist.all_reduce(buffer, group=self.cpu_group)
        return buffer.tolist()

    def max_host(self, values: Sequence[float]) -> List[float]:
        """The maxima over the ranks of host numbers, through gloo on the CPU."""
        if not self.distributed:
            return [float(v) for v in values]
        buffer = torch.tensor([float(v) for v in values], dtype=torch.float64)
        with self._failing_loudly("taking the maximum of host numbers"):
            dist.all_reduce(buffer, op=dist.ReduceOp.MAX, group=self.cpu_group)
        return buffer.tolist()

    def any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` is set on any rank (so that every rank takes the same branch)."""
        return self.sum_host([float(flag)])[0] > 0.0 if self.distributed else flag

    def broadcast_object(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (picklable) on every rank."""
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        with self._failing_loudly("receiving rank 0's data"):
            dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        return box[0]

    def gather_objects(self, obj: Any) -> Optional[List[Any]]:
        """Every rank's ``obj`` (picklable, on the CPU) as a list in rank order on rank 0; None on
        the other ranks."""
        if not self.distributed:
            return [obj]
        gathered = [None] * self.world_size if self.is_main else None
        with self._failing_loudly("gathering every rank's state"):
            dist.gather_object(obj, gathered, dst=0, group=self.cpu_group)
        return gathered

    @contextlib.contextmanager
    def _failing_loudly(self, what: str):
        """Turns a failed or timed-out collective into a one-line :class:`RankFailure`."""
        try:
            yield
        except RuntimeError as e:  # torch.distributed's errors (DistError, gloo's and NCCL's) are RuntimeErrors
            reason = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
            raise RankFailure(
                f"rank {self.rank} of {self.world_size}: {what} failed ({reason}); another rank failed or was stopped, "
                f"or did not arrive within --collective-timeout {self.timeout:g} s"
            ) from e


SINGLE_PROCESS = DataParallel()
"""One process, no torch.distributed: what a plain ``python -m sdpg_warp.train`` runs with."""


def from_environment(environ: Mapping[str, str] = os.environ, timeout: float = 600.0) -> DataParallel:
    """The ranks that torchrun describes in ``environ`` (RANK, WORLD_SIZE, LOCAL_RANK), not yet
    joined (see :func:`setup`); :data:`SINGLE_PROCESS` when WORLD_SIZE is absent or 1. Raises
    ValueError (one line) for missing or malformed values."""
    if "WORLD_SIZE" not in environ:
        return SINGLE_PROCESS
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
    try:
        rank, world_size, local_rank = (int(environ.get(name, "")) for name in names)
    except ValueError:
        raise ValueError("torchrun's RANK, WORLD_SIZE and LOCAL_RANK must be integers, got "
                         + ", ".join(f"{name}={environ.get(name)!r}" for name in names)) from None
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0:
        raise ValueError(f"RANK={rank}, WORLD_SIZE={world_size}, LOCAL_RANK={local_rank}: need 0 <= RANK < WORLD_SIZE "
                         f"and LOCAL_RANK >= 0")
    if world_size == 1:
        return SINGLE_PROCESS
    return DataParallel(rank=rank, world_size=world_size, local_rank=local_rank, timeout=timeout)


def setup(parallel: DataParallel) -> DataParallel:
    """Joins the process group of ``parallel`` through torchrun's rendezvous (MASTER_ADDR, MASTER_PORT)
    and returns it with its gloo group; nothing for one rank. Where CUDA exists, CUDA tensors go
    through NCCL and each rank's current device is ``cuda:LOCAL_RANK``; CPU tensors, objects and
    host numbers go through gloo. Every collective fails after ``parallel.timeout`` seconds."""
    if not parallel.distributed:
        return parallel
    timeout = datetime.timedelta(seconds=parallel.timeout)
    cuda = torch.cuda.is_available() and dist.is_nccl_available()
    if cuda:
        torch.cuda.set_device(parallel.cuda_index())
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", rank=parallel.rank,
                            world_size=parallel.world_size, timeout=timeout)
    cpu_group = dist.new_group(backend="gloo", timeout=timeout) if cuda else None
    return dataclasses.replace(parallel, cpu_group=cpu_group)


@contextlib.contextmanager
def joined(parallel: DataParallel):
    """Joins the process group (:func:`setup`) for the body, which gets the joined ``parallel``,
    and leaves it after. A body that ends normally first waits at a barrier for every rank, so
    that no rank tears its connections down while another is still in a collective or writing
    the checkpoint; one that raises leaves at once (torchrun ends the other ranks)."""
    parallel = setup(parallel)
    try:
        yield parallel
        if parallel.distributed:
            dist.barrier(group=parallel.cpu_group)
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
