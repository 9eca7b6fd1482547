"""The sim2sim gap of briefly trained policies: each task trained for a few CPU epochs (state
actor), exported, then run by ``python -m sdpg_warp.deploy`` in C MuJoCo and in the training
simulator (mujoco_warp, ``play``) over the same episodes and seed. Prints ``name: value unit`` lines
and writes bench/results/sim2sim_<date>.{md,json}.

  nice -n 10 python bench/sim2sim.py --tasks hopper walker --episodes 5
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile

RECIPE = ["--obs", "state", "--num-nominal", "4", "--num-aux", "3", "--horizon", "16", "--epochs", "20",
          "--critic-minibatch", "64", "--threads", "1", "--device", "cpu", "--logger", "none"]
"""The CPU training recipe (20 epochs of 4 x 4 worlds, 16 steps)."""


def _run(args, env) -> str:
    done = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])}: exit {done.returncode}: {done.stderr.strip()[-400:]}")
    return done.stdout


def measure(task: str, episodes: int, seed: int, folder: str, env) -> dict:
    _run(["-m", "sdpg_warp.train", "--task", task, *RECIPE, "--log-dir", folder, "--run-name", task], env)
    out = _run(["-m", "sdpg_warp.deploy", os.path.join(folder, task), "--episodes", str(episodes), "--seed", str(seed)],
               env)
    lines = out.strip().splitlines()
    words = lines[-1].split()
    returns = [float(line.split()[3]) for line in lines if line.startswith("episode ")]
    latency = next(line for line in lines if line.startswith("latency:")).split()
    return {"task": task, "mujoco": float(words[2]), "warp": float(words[4]), "mujoco_returns": returns,
            "latency_median_ms": float(latency[2]), "latency_p99_ms": float(latency[5])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["hopper", "walker", "ant", "humanoid", "reacher", "pointmass"])
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for task in args.tasks:
            row = measure(task, args.episodes, args.seed, folder, env)
            rows.append(row)
            returns = row["mujoco_returns"]
            std = (sum((r - row["mujoco"]) ** 2 for r in returns) / max(1, len(returns) - 1)) ** 0.5
            row["mujoco_std"] = std
            print(f"{task}_mujoco_return: {row['mujoco']:.3f}", flush=True)
            print(f"{task}_warp_return: {row['warp']:.3f}", flush=True)
            print(f"{task}_gap: {row['mujoco'] - row['warp']:.3f} (episode std {std:.3f})", flush=True)
    date = datetime.date.today().isoformat()
    result = {"device": f"cpu ({platform.processor() or platform.machine()})", "episodes": args.episodes,
              "seed": args.seed, "recipe": RECIPE, "rows": rows}
    print(json.dumps(result))
    with open(os.path.join(args.out, f"sim2sim_{date}.json"), "w") as f:
        json.dump(result, f, indent=2)
    table = ["| task | C MuJoCo | mujoco_warp | gap | C MuJoCo episode std |", "|---|---|---|---|---|"]
    table += [f"| {r['task']} | {r['mujoco']:.2f} | {r['warp']:.2f} | {r['mujoco'] - r['warp']:.2f} | "
              f"{r['mujoco_std']:.2f} |" for r in rows]
    with open(os.path.join(args.out, f"sim2sim_{date}.md"), "w") as f:
        f.write(f"# sim2sim, {date}\n\n`python bench/sim2sim.py --episodes {args.episodes} --seed {args.seed}` on the "
                f"CPU: each task trained with `{' '.join(RECIPE)}`, then `python -m sdpg_warp.deploy RUN`.\n\n"
                + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
