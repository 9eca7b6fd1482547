"""Reference levels of a task's return and task metrics, for reading a learning curve: what a random
policy and an idle one reach.

  random: actions drawn uniformly in [-1, 1] every step (what an untrained wide-std actor does, roughly);
  idle:   action 0 every step (the middle of every actuator's range; for the position-servoed
          robots that is a fixed pose near the default one: standing, holding, doing nothing).

Each runs ``--worlds`` independent worlds of the task in the training simulator until each world
has finished ``--episodes`` episodes (or ``--max-steps`` passed), and reports the mean episode return, length and task metrics
over the finished episodes, as the trainer logs them (``task/<name>``). Prints ``name: value unit``
lines and one JSON object; ``--out`` appends the JSON to a file.

  python tools/policy_references.py --tasks walker_hurdle franka_pick_cube --worlds 16 --episodes 2 \\
      --out bench/results/policy_references_2026-12-06.json
"""

import argparse
import json
import os
import platform
import time


def measure(task: str, policy: str, worlds: int, episodes_per_world: int, seed: int, max_steps: int,
            device: str) -> dict:
    """Mean return, length and task metrics of the first ``episodes_per_world`` episodes of each of
    ``worlds`` worlds under ``policy`` (metrics as of each episode's last step, as the trainer
    records them); worlds still running after ``max_steps`` steps add fewer."""
    import torch

    from sdpg_warp.sim import BatchedSim

    sim = BatchedSim(task, worlds, 0, device=device, seed=seed)
    sim.reset()
    names = sim.task.metric_names
    generator = torch.Generator().manual_seed(seed)
    episode_return = torch.zeros(worlds, dtype=torch.float64)
    episode_length = torch.zeros(worlds, dtype=torch.float64)
    totals = {"return": 0.0, "length": 0.0, **{f"task/{name}": 0.0 for name in names}}
    counted = torch.zeros(worlds, dtype=torch.int64)  # episodes of each world recorded so far
    steps = 0
    while int(counted.min()) < episodes_per_world and steps < max_steps:
        if policy == "random":
            action = torch.rand(worlds, sim.num_actions, generator=generator) * 2 - 1
        else:
            action = torch.zeros(worlds, sim.num_actions)
        reward, terminated, truncated = sim.step(action.to(device))
        done = (terminated | truncated).cpu()
        episode_return += reward.cpu().double()
        episode_length += 1
        # Only each world's first episodes count: stopping at the first K to finish anywhere would
        # favour short (failed) episodes.
        record = done & (counted < episodes_per_world)
        if record.any():
            totals["return"] += float(episode_return[record].sum())
            totals["length"] += float(episode_length[record].sum())
            ended = sim.metrics.cpu()[record].double().sum(0) if names else ()
            for i, name in enumerate(names):
                totals[f"task/{name}"] += float(ended[i])
            counted += record.long()
        episode_return[done] = 0.0
        episode_length[done] = 0.0
        sim.reset_done_episodes()
        steps += 1
    finished = int(counted.sum())
    row = {"task": task, "policy": policy, "episodes": finished, "steps": steps}
    if finished:
        row.update({key: total / finished for key, total in totals.items()})
    return row


def main() -> None:
    from sdpg_warp.tasks import task_names

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", required=True, choices=task_names())
    parser.add_argument("--policies", nargs="+", default=["random", "idle"], choices=["random", "idle"])
    parser.add_argument("--worlds", type=int, default=16)
    parser.add_argument("--episodes", type=int, default=2, help="episodes per world")
    parser.add_argument("--max-steps", type=int, default=3000, help="stop after this many steps regardless")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="append the JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    rows = []
    for task in args.tasks:
        for policy in args.policies:
            start = time.perf_counter()
            row = measure(task, policy, args.worlds, args.episodes, args.seed, args.max_steps, args.device)
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)
            for key, value in row.items():
                if isinstance(value, float):
                    print(f"{task}.{policy}.{key}: {value:.4g}", flush=True)
    result = {"what": "random and idle policy references", "device": args.device, "host": platform.node(),
              "date": time.strftime("%Y-%m-%d"), "worlds": args.worlds, "seed": args.seed, "rows": rows}
    print(json.dumps(result))
    if args.out:
        previous = []
        if os.path.exists(args.out):
            with open(args.out) as f:
                previous = json.load(f)
        with open(args.out, "w") as f:
            json.dump(previous + [result], f, indent=1)


if __name__ == "__main__":
    main()
