"""End-to-end SDPG epoch: time per phase, ratio to bare physics, env-steps/s, and peak memory.

For each task and observation type, at the paper's settings (N=64, M=63; humanoid H=16, others
H=32; 84x84 RGB, 3 frames) unless overridden. "Bare physics" is the same number of world-steps of
``mujoco_warp.step`` alone, replayed from a captured graph on the same Data: the floor an epoch can
approach. Peak memory: on CUDA the Torch allocator's peak plus Warp's memory-pool high-water mark;
on the CPU the process's peak resident set.

  python bench/bench_train.py --tasks humanoid hopper --obs rgb state
"""

import argparse
import dataclasses
import json
import resource
import time

import mujoco_warp as mjw
import torch
import warp as wp

from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner
from sdpg_warp.sim import resolve_device
from timing import time_graph


def _peak_memory_bytes(device: str) -> dict:
    if device.startswith("cuda"):
        torch_peak = torch.cuda.max_memory_allocated(device)
        warp_peak = wp.get_mempool_used_mem_high(device) if hasattr(wp, "get_mempool_used_mem_high") else 0
        return {"torch_peak_bytes": torch_peak, "warp_peak_bytes": warp_peak, "peak_bytes": torch_peak + warp_peak}
    return {"peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def bare_physics_seconds(runner: Runner, repeats: int) -> float:
    """Seconds for one epoch's world-steps of mujoco_warp.step alone (graph replay), state restored."""
    sim = runner.sim
    state = sim.state_dict()
    steps = runner.cfg.horizon * sim.task.frame_skip
    seconds = time_graph(lambda: mjw.step(sim.m, sim.d), repeats * steps, sim.device) / repeats
    sim.load_state_dict(state)
    return seconds


def bench_one(task: str, obs: str, device: str, epochs: int, overrides: dict) -> dict:
    cfg = dataclasses.replace(task_defaults(task), obs=obs, device=device, epochs=10**9, **overrides)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    runner = Runner(cfg)
    runner.rollout()  # warm-up: compiles kernels, fills the allocator
    runner.update()
    runner.timer.pop()
    wp.synchronize_device(runner.device)
    start = time.perf_counter()
    for _ in range(epochs):
        runner.rollout()
        runner.update()
        runner.epoch += 1
    wp.synchronize_device(runner.device)
    epoch_seconds = (time.perf_counter() - start) / epochs
    phases = {name: total / epochs for name, total in runner.timer.pop().items()}
    physics = bare_physics_seconds(runner, epochs)
    world_steps = cfg.horizon * runner.sim.num_worlds
    row = {
        "task": task, "obs": obs, "num_nominal": cfg.num_nominal, "num_aux": cfg.num_aux, "horizon": cfg.horizon,
        "epoch_seconds": epoch_seconds,
        "bare_physics_seconds": physics,
        "epoch_over_physics": epoch_seconds / physics,
        "env_steps_per_s": world_steps / epoch_seconds,
        "phase_seconds": phases,
    }
    row.update(_peak_memory_bytes(device))
    return row


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["humanoid", "hopper"])
    parser.add_argument("--obs", nargs="+", default=["rgb", "state"])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per setting (after one warm-up)")
    parser.add_argument("--num-nominal", type=int, default=None)
    parser.add_argument("--num-aux", type=int, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    overrides = {}
    if args.quick:
        args.tasks, args.obs, args.epochs = ["reacher"], ["rgb"], 1
        overrides = dict(num_nominal=2, num_aux=3, horizon=4, image_size=16, critic_minibatch=16)
    if args.num_nominal:
        overrides["num_nominal"] = args.num_nominal
    if args.num_aux:
        overrides["num_aux"] = args.num_aux
    wp.config.log_level = wp.LOG_WARNING
    device = resolve_device(args.device)
    results = {"device": wp.get_device(device).name, "date": time.strftime("%Y-%m-%d"), "runs": []}
    for task in args.tasks:
        for obs in args.obs:
            row = bench_one(task, obs, device, args.epochs, overrides)
            results["runs"].append(row)
            name = f"train_{task}_{obs}"
            print(f"{name}_epoch: {row['epoch_seconds'] * 1e3:.2f} ms")
            print(f"{name}_bare_physics: {row['bare_physics_seconds'] * 1e3:.2f} ms")
            print(f"{name}_epoch_over_physics: {row['epoch_over_physics']:.3f} x")
            print(f"{name}_env_steps_per_s: {row['env_steps_per_s']:.4g} steps/s")
            print(f"{name}_peak_memory: {row['peak_bytes'] / 2**20:.1f} MiB")
            for phase, seconds in row["phase_seconds"].items():
                print(f"{name}_phase_{phase}: {seconds * 1e3:.2f} ms")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
