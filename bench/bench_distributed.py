"""Data-parallel overhead: the epoch time of K ranks (torchrun) against one rank at the same per-rank
size, and the time the ranks spend inside collectives.

  python bench/bench_distributed.py --task hopper --obs state --ranks 2 --epochs 10

Each setting runs in fresh processes started by ``python -m torch.distributed.run --standalone``
(one rank: WORLD_SIZE=1, the plain single-process path; K ranks: gloo on the CPU, NCCL on GPUs),
each with one Torch thread and the task's defaults at ``--num-nominal`` / ``--num-aux`` per rank.
Every rank trains through ``Runner.train`` (logging every epoch, no checkpoints): ``--warmup``
epochs, then ``--epochs`` timed ones. The ratio epoch(K ranks) / epoch(1 rank) is what data
parallelism costs per epoch at a fixed per-rank size: the collectives (gradient all-reduce per
optimizer step, normalizer all-gather, metric and stop-flag reductions per epoch), waiting for the
slowest rank, and contention for cores, since K CPU ranks need K free cores. To set the contention
apart, K independent one-rank jobs also run at once: epoch(K ranks) / epoch(K single ranks at
once) is the cost of the communication and the waiting alone. The machine's load average is
recorded beside the numbers. "Collectives" is the wall time inside ``DataParallel``'s methods (on
the CPU the collectives are synchronous, so it includes waiting for the slowest rank; on CUDA it
would time only their queueing). Of the repeats, each setting keeps its quietest job.
"""

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time

WRAPPED = ("average_gradients", "combine_moments", "average", "sum_", "average_metrics", "sum_host")
"""The DataParallel methods that run during an epoch (any_rank goes through sum_host)."""


def _worker(args) -> None:
    """One rank: trains, times, and (rank 0) writes every rank's numbers to ``args.worker``."""
    import torch

    from sdpg_warp import distributed
    from sdpg_warp.config import task_defaults
    from sdpg_warp.runner import Runner

    torch.set_num_threads(1)
    inside = {"seconds": 0.0}
    for name in WRAPPED:
        method = getattr(distributed.DataParallel, name)

        def timed(self, *a, _method=method, **k):
            start = time.perf_counter()
            try:
                return _method(self, *a, **k)
            finally:
                inside["seconds"] += time.perf_counter() - start
        setattr(distributed.DataParallel, name, timed)
    with distributed.joined(distributed.from_environment()) as parallel:
        sizes = {k: v for k, v in (("num_nominal", args.num_nominal), ("num_aux", args.num_aux)) if v}
        cfg = dataclasses.replace(task_defaults(args.task, args.obs), device="cpu", epochs=args.warmup,
                                  schedule_epochs=args.warmup + args.epochs, log_every=1, **sizes)
        sys.stdout = open(os.devnull, "w")  # the Runner's epoch lines
        runner = Runner(cfg, parallel=parallel)
        runner.train()
        runner.cfg = dataclasses.replace(cfg, epochs=args.warmup + args.epochs)
        inside["seconds"] = 0.0
        start = time.perf_counter()
        runner.train()
        seconds = time.perf_counter() - start
        sys.stdout = sys.__stdout__
        mine = {"epoch_seconds": seconds / args.epochs, "collective_seconds": inside["seconds"] / args.epochs,
                "worlds": runner.sim.num_worlds, "nominal": runner.sim.num_nominal, "horizon": cfg.horizon}
        ranks = parallel.gather_objects(mine)
        if parallel.is_main:
            with open(args.worker, "w") as f:
                json.dump(ranks, f)


def _launch(ranks: int, argv: list, copies: int = 1) -> list:
    """Per-rank numbers of one torchrun job of ``ranks`` ranks; with ``copies`` > 1, of that many
    independent jobs run at once (their ranks listed together)."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("WORLD_SIZE", None)
        outs, running = [], []
        for copy in range(copies):
            outs.append(os.path.join(tmp, f"ranks{copy}.json"))
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
                       os.path.abspath(__file__), "--worker", outs[-1], *argv]
            running.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                            text=True))
        for job in running:
            stdout, stderr = job.communicate()
            if job.returncode != 0:
                raise RuntimeError(f"{ranks}-rank job failed:\n{stdout[-2000:]}\n{stderr[-4000:]}")
        per_rank = []
        for out in outs:
            with open(out) as f:
                per_rank += json.load(f)
        return per_rank


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--obs", default="state", choices=["state", "rgb", "depth"])
    parser.add_argument("--ranks", type=int, default=2, help="K, compared with one rank")
    parser.add_argument("--num-nominal", type=int, default=4, help="N per rank (0: the task's default)")
    parser.add_argument("--num-aux", type=int, default=7, help="M (0: the task's default)")
    parser.add_argument("--epochs", type=int, default=10, help="timed epochs")
    parser.add_argument("--warmup", type=int, default=2, help="untimed epochs first (compiles, allocator caches)")
    parser.add_argument("--repeats", type=int, default=1, help="alternate the 1-rank and K-rank jobs this often")
    parser.add_argument("--out", default=None, help="also write the JSON here")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return {}
    if args.quick:
        args.task, args.obs, args.num_nominal, args.num_aux, args.epochs, args.warmup = "pointmass", "state", 2, 3, 2, 1
    forwarded = ["--task", args.task, "--obs", args.obs, "--num-nominal", str(args.num_nominal), "--num-aux",
                 str(args.num_aux), "--epochs", str(args.epochs), "--warmup", str(args.warmup)]
    load = os.getloadavg()[0]
    settings = {"alone": (1, 1), "concurrent": (1, args.ranks), "ranks": (args.ranks, 1)}
    jobs = {name: [] for name in settings}
    for _ in range(args.repeats):
        for name, (ranks, copies) in settings.items():
            jobs[name].append(_launch(ranks, forwarded, copies))
    # Per job the slowest rank (they wait for each other); over the repeats the quietest job.
    epoch = {name: min(max(rank["epoch_seconds"] for rank in job) for job in runs) for name, runs in jobs.items()}
    collectives = min(max(rank["collective_seconds"] for rank in job) for job in jobs["ranks"])
    first = jobs["alone"][0][0]
    steps = first["worlds"] * first["horizon"]
    results = {
        "device": "CPU", "date": time.strftime("%Y-%m-%d"), "task": args.task, "obs": args.obs,
        "num_nominal_per_rank": first["nominal"], "worlds_per_rank": first["worlds"], "horizon": first["horizon"],
        "ranks": args.ranks, "timed_epochs": args.epochs, "repeats": args.repeats, "load_average_1min": load,
        "epoch_seconds_1_rank": epoch["alone"], "epoch_seconds_1_rank_concurrent": epoch["concurrent"],
        "epoch_seconds_k_ranks": epoch["ranks"],
        "overhead_ratio": epoch["ranks"] / epoch["alone"],
        "overhead_ratio_vs_concurrent": epoch["ranks"] / epoch["concurrent"],
        "collective_seconds_per_epoch": collectives, "collective_fraction": collectives / epoch["ranks"],
        "env_steps_per_s_1_rank": steps / epoch["alone"], "env_steps_per_s_k_ranks": args.ranks * steps / epoch["ranks"],
        "jobs": jobs,
    }
    name, k = f"distributed_{args.task}_{args.obs}", args.ranks
    print(f"{name}_epoch_1_rank: {epoch['alone'] * 1e3:.2f} ms")
    print(f"{name}_epoch_1_rank_{k}_at_once: {epoch['concurrent'] * 1e3:.2f} ms")
    print(f"{name}_epoch_{k}_ranks: {epoch['ranks'] * 1e3:.2f} ms")
    print(f"{name}_overhead_ratio: {results['overhead_ratio']:.3f} x")
    print(f"{name}_overhead_ratio_vs_{k}_at_once: {results['overhead_ratio_vs_concurrent']:.3f} x")
    print(f"{name}_collectives: {collectives * 1e3:.2f} ms")
    print(f"{name}_collective_fraction: {collectives / epoch['ranks']:.3f} ratio")
    print(f"{name}_env_steps_per_s_1_rank: {results['env_steps_per_s_1_rank']:.4g} steps/s")
    print(f"{name}_env_steps_per_s_{k}_ranks: {results['env_steps_per_s_k_ranks']:.4g} steps/s")
    print(f"{name}_load_average: {load:.2f} processes")
    print(json.dumps(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
