"""SDPG kernels (sdpg_warp.ops) against the same maths in plain Torch, side by side.

For each op at the paper's sizes (N = 64 nominal, M = 63 auxiliaries, H = 32, d = 21 as for the
humanoid, and d = 3): time per call (warm-up, then repeats between synchronizations; the median
of rounds that alternate Warp and Torch, so that a shared machine's load hits both alike), the
Warp/Torch speed-up, and the effective memory bandwidth (the bytes an op must read and write,
divided by its time), set against the ceiling of a plain copy (Torch's copy_ of a 64 MiB buffer,
read + write bytes over its time) measured in the same run. The Torch side is the
straightforward implementation: repeat_interleave, view, std, mean, topk, and a Python loop over
the horizon for the returns. Prints ``name: value unit`` lines, then one JSON object;
``--out STEM`` also writes STEM.json and a Markdown table STEM.md.

  python bench/bench_kernels.py                 # cuda:0 when available, else cpu
  python bench/bench_kernels.py --device cpu --torch-threads 1 --out bench/results/cpu_kernels_DATE
  python bench/bench_kernels.py --device cpu --quick
"""

import argparse
import gc
import json
import os
import statistics
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch
import warp as wp

from sdpg_warp import ops
from sdpg_warp.device import ExecutionScope, resolve_device

GAMMA, LAM = 0.99, 0.95
MEAN_BOUNDS, LOGSTD_BOUNDS = (-2.0, 2.0), (-5.0, 2.0)
FLOAT_BYTES = 4


# ----------------------------------------------------------------------------------------------
# The same maths in plain Torch.


def torch_sample_actions(mean, logstd, num_aux, generator):
    num_nominal, action_dim = mean.shape
    group = num_aux + 1
    eps = torch.randn(num_nominal, group, action_dim, device=mean.device, generator=generator)
    eps[:, 0] = 0.0
    eps = eps.view(num_nominal * group, action_dim)
    mu = mean.repeat_interleave(group, dim=0)
    sigma = logstd.exp().repeat_interleave(group, dim=0)
    actions = (mu + sigma * eps).clamp(*MEAN_BOUNDS)
    return actions, eps, torch.tanh(actions)


def torch_td_lambda_returns(rewards, dones, next_values, gamma, lam):
    num_worlds, horizon = rewards.shape
    returns = torch.empty_like(rewards)
    a = torch.zeros(num_worlds, device=rewards.device)
    b = torch.zeros(num_worlds, device=rewards.device)
    trace = torch.ones(num_worlds, device=rewards.device)
    for t in reversed(range(horizon)):
        r, d, v = rewards[:, t], dones[:, t], next_values[:, t]
        trace = trace * lam * (1 - d) + d
        a = (1 - d) * (lam * gamma * a + gamma * v + (1 - trace) / (1 - lam) * r)
        b = gamma * (v * d + b * (1 - d)) + r
        returns[:, t] = (1 - lam) * a + trace * b
    return returns


def torch_sdpg_targets(J, eps, actions_nominal, logstd, num_aux, top_k=None):
    num_nominal, horizon, action_dim = actions_nominal.shape
    group = num_aux + 1
    returns = J.view(num_nominal, group, horizon)
    noise = eps.view(num_nominal, group, horizon, action_dim)
    dJ = returns - returns[:, :1]
    weights = dJ / (dJ.std(dim=1, keepdim=True) + 1e-6)
    if top_k is not None:
        weights, index = weights.topk(top_k, dim=1)
        noise = noise.gather(1, index[..., None].expand(-1, -1, -1, action_dim))
    weights = weights[..., None]
    mean_step = (weights * noise).mean(dim=1)
    logstd_step = (weights * (noise * noise - 1.0)).mean(dim=1) * logstd.exp()
    mean_target = (actions_nominal + mean_step).clamp(*MEAN_BOUNDS)
    logstd_target = (logstd + logstd_step).clamp(*LOGSTD_BOUNDS)
    return mean_target, logstd_target


# ----------------------------------------------------------------------------------------------
# Timing.


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def seconds_per_call(
    fns: Sequence[Callable[[], object]], device: str, budget_s: float, max_repeats: int, rounds: int = 5
) -> List[float]:
    """Median time per call of each fn: warm-up, a repeat count sized to the time budget, then
    ``rounds`` rounds that alternate between the fns (fair when the machine's load changes).

    Python's cyclic garbage collector is off while timing, as in ``timeit``: with Torch and Warp
    loaded a full collection takes up to 0.1 s, and it would land in the rounds of whichever fn
    happens to cross its allocation threshold (measured: a 2x swing of one op's median)."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _timed_rounds(fns, device, budget_s, max_repeats, rounds)
    finally:
        if enabled:
            gc.enable()


def _timed_rounds(fns, device: str, budget_s: float, max_repeats: int, rounds: int) -> List[float]:
    repeats = []
    for fn in fns:
        for _ in range(3):
            fn()
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        single = max(time.perf_counter() - start, 1e-7)
        repeats.append(int(min(max_repeats, max(1, budget_s / rounds / single))))
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, count, times in zip(fns, repeats, samples):
            start = time.perf_counter()
            for _ in range(count):
                fn()
            synchronize(device)
            times.append((time.perf_counter() - start) / count)
    return [statistics.median(times) for times in samples]


def copy_bandwidth(device: str, budget_s: float, max_repeats: int, nbytes: int = 64 << 20) -> float:
    """GB/s of a plain device copy (bytes read + written over time): the ceiling for the ops."""
    src = torch.ones(nbytes // FLOAT_BYTES, device=device)
    dst = torch.empty_like(src)
    (seconds,) = seconds_per_call((lambda: dst.copy_(src),), device, budget_s, max_repeats)
    return 2 * nbytes / seconds / 1e9


def bench_returns(num_worlds: int, horizon: int, tied: bool, generator: torch.Generator) -> torch.Tensor:
    """The returns J the estimates are timed on: N(0, 9), or with ``tied`` integers in [-2, 2]."""
    device = generator.device
    if tied:
        return torch.randint(-2, 3, (num_worlds, horizon), device=device, generator=generator).float()
    return torch.randn(num_worlds, horizon, device=device, generator=generator) * 3.0


def bench_config(
    device: str,
    num_nominal: int,
    num_aux: int,
    horizon: int,
    action_dim: int,
    budget_s: float,
    max_repeats: int,
    copy_GBps: float,
    tied_returns: bool = False,
) -> Dict[str, Dict[str, float]]:
    """Times the three ops (and the top-k estimator) at one size; returns {op: metrics}. Returns J
    are N(0, 9), or with ``tied_returns`` integers in [-2, 2] (ties everywhere: the top-k
    selection's slowest case)."""
    group = num_aux + 1
    num_worlds = num_nominal * group
    top_k = max(1, group // 4)
    gen = torch.Generator(device=device).manual_seed(0)

    def rand(*shape, scale=1.0):
        return torch.randn(*shape, device=device, generator=gen) * scale

    # Per-step sampling, as in the rollout: one (N, d) actor output -> (W, d) actions.
    mean = rand(num_nominal, action_dim, scale=0.5).clamp(*MEAN_BOUNDS)
    logstd_step = rand(num_nominal, action_dim, scale=0.2) - 1.0
    actions_buffer = torch.empty(num_worlds, horizon, action_dim, device=device)
    eps_buffer = torch.empty(num_worlds, horizon, action_dim, device=device)
    squashed = torch.empty(num_worlds, action_dim, device=device)
    out = (actions_buffer[:, 0], eps_buffer[:, 0])

    # One epoch of returns and targets.
    rewards = rand(num_worlds, horizon)
    dones = (torch.rand(num_worlds, horizon, device=device, generator=gen) < 0.05).float()
    dones[:, -1] = 1.0
    next_values = rand(num_worlds, horizon, scale=5.0)
    returns_out = torch.empty(num_worlds, horizon, device=device)
    J = bench_returns(num_worlds, horizon, tied_returns, gen)
    eps = rand(num_worlds, horizon, action_dim)
    eps.view(num_nominal, group, horizon, action_dim)[:, 0] = 0.0
    actions_nominal = rand(num_nominal, horizon, action_dim, scale=0.5)
    logstd = rand(num_nominal, horizon, action_dim, scale=0.2) - 1.0
    targets_out = (torch.empty_like(actions_nominal), torch.empty_like(actions_nominal))

    f = FLOAT_BYTES
    cases: Dict[str, Tuple[Callable, Callable, int]] = {
        "sample_actions": (
            lambda: ops.sample_actions(mean, logstd_step, num_aux, 0, 1, squashed_out=squashed, out=out),
            lambda: torch_sample_actions(mean, logstd_step, num_aux, gen),
            f * (2 * num_nominal * action_dim + 3 * num_worlds * action_dim),
        ),
        "td_lambda_returns": (
            lambda: ops.td_lambda_returns(rewards, dones, next_values, GAMMA, LAM, out=returns_out),
            lambda: torch_td_lambda_returns(rewards, dones, next_values, GAMMA, LAM),
            f * 4 * num_worlds * horizon,
        ),
        "sdpg_targets": (
            lambda: ops.sdpg_targets(J, eps, actions_nominal, logstd, num_aux, out=targets_out),
            lambda: torch_sdpg_targets(J, eps, actions_nominal, logstd, num_aux),
            f * (num_worlds * horizon * (1 + action_dim) + 4 * num_nominal * horizon * action_dim),
        ),
        f"sdpg_targets_top{top_k}": (
            lambda: ops.sdpg_targets(J, eps, actions_nominal, logstd, num_aux, top_k=top_k, out=targets_out),
            lambda: torch_sdpg_targets(J, eps, actions_nominal, logstd, num_aux, top_k=top_k),
            f * (num_worlds * horizon * (1 + action_dim) + 4 * num_nominal * horizon * action_dim),
        ),
    }

    # The two sides compute the same numbers (sampling aside: different generators; top-k on tied
    # returns aside: Torch's topk breaks ties in no stated order).
    agreement = {
        "td_lambda_returns": (cases["td_lambda_returns"][0](), cases["td_lambda_returns"][1]()),
        "sdpg_targets": (cases["sdpg_targets"][0]()[0].clone(), cases["sdpg_targets"][1]()[0]),
    }
    if not tied_returns:
        agreement[f"sdpg_targets_top{top_k}"] = (
            cases[f"sdpg_targets_top{top_k}"][0]()[1].clone(), cases[f"sdpg_targets_top{top_k}"][1]()[1]
        )

    results = {}
    for name, (warp_fn, torch_fn, nbytes) in cases.items():
        warp_s, torch_s = seconds_per_call((warp_fn, torch_fn), device, budget_s, max_repeats)
        row = {
            "warp_us": warp_s * 1e6,
            "torch_us": torch_s * 1e6,
            "speedup": torch_s / warp_s,
            "warp_GBps": nbytes / warp_s / 1e9,
            "torch_GBps": nbytes / torch_s / 1e9,
            "warp_copy_fraction": nbytes / warp_s / 1e9 / copy_GBps,
            "bytes": nbytes,
        }
        if name in agreement:
            ours, theirs = agreement[name]
            row["max_abs_diff"] = (ours - theirs).abs().max().item()
        results[name] = row
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help='"cpu", "cuda:0", or "auto" (cuda:0 when available)')
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats, for a smoke test")
    parser.add_argument("--num-nominal", type=int, default=64)
    parser.add_argument("--num-aux", type=int, default=63)
    parser.add_argument("--horizon", type=int, default=32)
    parser.add_argument("--action-dims", type=int, nargs="+", default=[21, 3])
    parser.add_argument(
        "--tied-returns", action="store_true",
        help="returns J drawn as integers in [-2, 2] rather than N(0, 9): the top-k selection's slowest case",
    )
    parser.add_argument("--seconds", type=float, default=1.0, help="time budget per op and side")
    parser.add_argument("--max-repeats", type=int, default=1000)
    parser.add_argument(
        "--torch-threads", type=int, default=0,
        help="Torch CPU threads (0: Torch's default); 1 compares thread for thread with Warp's CPU device",
    )
    parser.add_argument("--out", default="", help="also write OUT.json and OUT.md (e.g. bench/results/cpu_kernels_DATE)")
    args = parser.parse_args(argv)
    if args.quick:
        args.num_nominal, args.num_aux, args.horizon, args.action_dims = 2, 3, 4, [3]
        args.seconds, args.max_repeats = 0.01, 3
    device = resolve_device(args.device)

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    report = {
        "device": wp.get_device(device).name,
        "torch_threads": torch.get_num_threads(),
        "num_nominal": args.num_nominal,
        "num_aux": args.num_aux,
        "horizon": args.horizon,
        "returns": "integers in [-2, 2]" if args.tied_returns else "N(0, 9)",
        "results": {},
    }
    scope = ExecutionScope(device)  # Torch and Warp on one stream on CUDA, as in training
    scope.__enter__()
    report["copy_GBps"] = copy_bandwidth(device, args.seconds, args.max_repeats)
    print(f"copy_bandwidth: {report['copy_GBps']:.3f} GB/s")
    for action_dim in args.action_dims:
        config = f"N{args.num_nominal}_M{args.num_aux}_H{args.horizon}_d{action_dim}"
        rows = bench_config(
            device, args.num_nominal, args.num_aux, args.horizon, action_dim, args.seconds, args.max_repeats,
            report["copy_GBps"], args.tied_returns,
        )
        report["results"][config] = rows
        for op, row in rows.items():
            prefix = f"{config}.{op}"
            print(f"{prefix}.warp: {row['warp_us']:.2f} us")
            print(f"{prefix}.torch: {row['torch_us']:.2f} us")
            print(f"{prefix}.speedup: {row['speedup']:.2f} x")
            print(f"{prefix}.warp_bandwidth: {row['warp_GBps']:.3f} GB/s")
            print(f"{prefix}.torch_bandwidth: {row['torch_GBps']:.3f} GB/s")
            print(f"{prefix}.warp_copy_fraction: {row['warp_copy_fraction']:.4f} ratio")
            if "max_abs_diff" in row:
                print(f"{prefix}.max_abs_diff: {row['max_abs_diff']:.3g} abs")
    print(json.dumps(report))
    if args.out:
        write_results(args.out, report)
    scope.__exit__(None, None, None)
    return report


def write_results(stem: str, report: dict) -> None:
    """STEM.json (the report) and STEM.md (one row per op and size, Warp beside Torch)."""
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    with open(stem + ".json", "w") as f:
        json.dump(report, f, indent=1)
    lines = [
        f"# Kernel benchmark: {report['device']}, {report['torch_threads']} Torch thread(s)",
        "",
        f"Plain copy (the bandwidth ceiling): {report['copy_GBps']:.2f} GB/s. Returns J: {report['returns']}.",
        "",
        "| size | op | Warp (us) | Torch (us) | speed-up | Warp GB/s | of copy |",
        "|---|---|---|---|---|---|---|",
    ]
    for config, rows in report["results"].items():
        for op, row in rows.items():
            lines.append(
                f"| {config} | {op} | {row['warp_us']:.1f} | {row['torch_us']:.1f} | {row['speedup']:.2f}x "
                f"| {row['warp_GBps']:.3f} | {100 * row['warp_copy_fraction']:.1f}% |"
            )
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
