"""The constraint solver's iterations per physics step of the tasks in mujoco_warp, under random actions.

What ``Task.solver_iterations`` / ``Task.ls_iterations`` must hold. All worlds of a step iterate
together until the slowest one converges (or reaches the cap), so a step costs the maximum over
the worlds: the cap should sit above what the tasks need and bound the rest. Each task runs
``--worlds`` worlds for ``--steps`` environment steps of uniform random actions in [-1, 1] (with
the task's resets), from the caps given (``--iterations``/``--ls-iterations``, default the task's),
and prints the largest and mean iterations and the worlds that reached a cap, then one JSON object.
Everything is device-independent except speed (float32 on the CPU as on CUDA).

  python bench/solver_iterations.py --task hopper humanoid go2_terrain --worlds 64 --steps 200
"""

import argparse
import json

import torch
import warp as wp

from sdpg_warp.sim import BatchedSim
from sdpg_warp.tasks import make_task, task_names


def measure(task_name: str, worlds: int, steps: int, iterations=None, ls_iterations=None, seed: int = 0,
            device: str = "cpu") -> dict:
    """Solver iterations and overflow bits of ``worlds`` worlds of ``task_name`` over ``steps``
    random-action steps (``BatchedSim.pop_physics_stats``), with the caps given (None: the task's)."""
    task = make_task(task_name)
    for name, value in (("solver_iterations", iterations), ("ls_iterations", ls_iterations)):
        if value is not None:
            object.__setattr__(task, name, value)  # this instance only; the class keeps its cap
    sim = BatchedSim(task, worlds, 0, device=device, seed=seed, graph=True)
    with wp.ScopedDevice(sim.device):
        sim.reset()
        generator = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            actions = 2.0 * torch.rand(sim.num_worlds, sim.num_actions, generator=generator) - 1.0
            sim.step(actions.to(sim.qpos.device))
            sim.reset_done_episodes()
        stats = sim.pop_physics_stats()
    return {"task": task_name, "worlds": worlds, "steps": steps, "solver_iterations": task.solver_iterations,
            "ls_iterations": task.ls_iterations, **stats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", nargs="+", default=sorted(task_names()), choices=sorted(task_names()))
    parser.add_argument("--worlds", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--iterations", type=int, default=None, help="solver cap (default: the task's)")
    parser.add_argument("--ls-iterations", type=int, default=None, help="line-search cap (default: the task's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for name in args.task:
        r = measure(name, args.worlds, args.steps, args.iterations, args.ls_iterations)
        results.append(r)
        print(f"{name}: solver iterations max {r['solver_niter_max']} mean {r['solver_niter_mean']:.2f} "
              f"(caps {r['solver_iterations']} / {r['ls_iterations']}); overflow {r['overflow'] or 'none'}", flush=True)
    print(json.dumps({"device": "cpu", "results": results}))


if __name__ == "__main__":
    main()
