"""World-steps per second of BatchedSim vs number of worlds: eager, graph-captured, and C MuJoCo.

Prints ``name: value unit`` lines, then one JSON object. C MuJoCo runs ``mujoco.mj_step`` on one
thread over the same model, as the single-thread reference.

  python bench/bench_sim.py --task humanoid --worlds 64 1024 4096
"""

import argparse
import json
import time

import mujoco
import torch
import warp as wp

from sdpg_warp.sim import BatchedSim, resolve_device
from timing import time_eager, time_graph


def time_c_mujoco(mjm: mujoco.MjModel, frame_skip: int, steps: int) -> float:
    mjd = mujoco.MjData(mjm)
    mjd.ctrl[:] = 0.1
    start = time.perf_counter()
    for _ in range(steps * frame_skip):
        mujoco.mj_step(mjm, mjd)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="humanoid")
    parser.add_argument("--worlds", type=int, nargs="+", default=[64, 512, 4096])
    parser.add_argument("--steps", type=int, default=100, help="environment steps timed per setting")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.worlds, args.steps = [4], 3
    wp.config.log_level = wp.LOG_WARNING
    device = resolve_device(args.device)
    results = {"device": wp.get_device(device).name, "task": args.task, "steps": args.steps, "worlds": {}}
    c_seconds = None
    for worlds in args.worlds:
        sim = BatchedSim(args.task, num_nominal=worlds // 2, num_aux=1, device=device, seed=0)
        sim.reset()
        sim.action.copy_(torch.rand_like(sim.action) * 2 - 1)
        eager = time_eager(sim.step, args.steps, sim.device)
        graph = time_graph(sim.step, args.steps, sim.device)
        if c_seconds is None:
            c_seconds = time_c_mujoco(sim.mjm, sim.task.frame_skip, args.steps)
        row = {
            "eager_world_steps_per_s": sim.num_worlds * args.steps / eager,
            "graph_world_steps_per_s": sim.num_worlds * args.steps / graph,
            "c_mujoco_world_steps_per_s": args.steps / c_seconds,
        }
        row["graph_over_c_mujoco"] = row["graph_world_steps_per_s"] / row["c_mujoco_world_steps_per_s"]
        row["graph_over_eager"] = row["graph_world_steps_per_s"] / row["eager_world_steps_per_s"]
        results["worlds"][sim.num_worlds] = row
        for key, value in row.items():
            unit = "x" if "over" in key else "world-steps/s"
            print(f"sim_{args.task}_{sim.num_worlds}w_{key}: {value:.4g} {unit}")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
