"""The first GPU run, as one command (``bench/gpu_smoke.sh``): what the machine is, whether the GPU
paths work, and the numbers no CPU run can give. Under 10 minutes on one GPU, cold kernel cache
included. Stages, each timed and kept in the report even when another fails:

  environment  GPU, driver, Torch / Warp CUDA status, conditional graph nodes, the capture mode
  tests        the GPU variants of the kernel and hot-path tests (``pytest --gpu``)
  train        humanoid from pixels at the paper's sizes (N=64, M=63, H=16, 84x84 RGB): build
               (compile) time, epoch breakdown, env-steps/s, peak memory (Torch + Warp pools);
               every phase is an NVTX range (run the script under ``nsys profile -t cuda,nvtx``)
  determinism  two identical short runs with --deterministic, and two without, compared bitwise
  physics      solver iterations (max / mean) and overflow bits of humanoid and hopper at 4096
               worlds under random actions, and a forced overflow (a hopper with 2 constraint rows
               per world) that must be reported for every world

Writes ``bench/results/<gpu>_<date>.json`` and ``.md`` (``--out`` elsewhere). ``--dry-run`` runs
every stage on the CPU at tiny sizes (tests collected, not run) into a temporary folder, in about a
minute: the test suite runs it, so that the script cannot rot before a GPU runs it.

  bench/gpu_smoke.sh                 # on the GPU machine
  bench/gpu_smoke.sh --dry-run       # anywhere
"""

import argparse
import dataclasses
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import torch
import warp as wp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_train  # noqa: E402
import solver_iterations  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPU_TESTS = ["tests/test_hot_path.py", "tests/test_perturb.py", "tests/test_estimator.py", "tests/test_returns.py",
             "tests/test_top_k.py", "tests/test_physics_stats.py"]
"""The kernel and hot-path tests that ``pytest --gpu`` runs on cuda:0."""


def environment(device: str, dry_run: bool) -> dict:
    from sdpg_warp.device import conditional_graphs, cuda_status
    from sdpg_warp.sim import BatchedSim

    toolkit, driver = wp.get_cuda_toolkit_version(), wp.get_cuda_driver_version()
    info = {
        "device": device,
        "device_name": wp.get_device(device).name,
        "warp": wp.__version__,
        "warp_cuda_toolkit": ".".join(map(str, toolkit)) if toolkit else None,
        "cuda_driver": ".".join(map(str, driver)) if driver else None,
        "warp_cuda_devices": wp.get_cuda_device_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_cuda_available": torch.cuda.is_available(),
        "cuda_status": cuda_status() or "Warp and Torch both have CUDA",
        "conditional_graph_nodes": bool(device.startswith("cuda") and wp.is_conditional_graph_supported()),
        "capture_mode": BatchedSim("pointmass", 1, 1, device=device, graph=True).capture_mode,
        "solver_early_exit_in_graphs": conditional_graphs(device),
    }
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_bytes=props.total_memory, compute_capability=f"{props.major}.{props.minor}")
    if shutil.which("nvidia-smi"):
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=30)
        info["nvidia_smi"] = query.stdout.strip()
    return info


def tests(device: str, dry_run: bool) -> dict:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--gpu", *GPU_TESTS]
    if dry_run:
        command.append("--collect-only")  # the files, the --gpu option and every test id resolve
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=540)
    lines = [line for line in done.stdout.strip().splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-300:]
    if done.returncode != 0:
        raise RuntimeError(f"pytest exit {done.returncode}: {summary}\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    return {"command": " ".join(command[1:]), "summary": summary}


def train(device: str, dry_run: bool) -> dict:
    overrides = {}
    epochs = 3
    if dry_run:
        overrides = dict(num_nominal=2, num_aux=1, horizon=2, image_size=16, critic_minibatch=8)
        epochs = 1
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    row = bench_train.bench_one("humanoid", "rgb", device, epochs, overrides)
    row["total_seconds_with_build"] = time.perf_counter() - start
    return row


def _run_epochs(cfg, epochs: int):
    from sdpg_warp.runner import Runner

    runner = Runner(cfg)
    for _ in range(epochs):
        runner.rollout()
        runner.update()
        runner.epoch += 1
    wp.synchronize_device(runner.device)
    return runner


def _compare(first, second) -> dict:
    """Bitwise comparison of two runners' networks and simulator state; the largest difference."""
    largest, equal = 0.0, True
    for name, module in first.algo.networks().items():
        other = second.algo.networks()[name].state_dict()
        for key, value in module.state_dict().items():
            if value.is_floating_point():
                equal &= torch.equal(value, other[key])
                largest = max(largest, float((value.double() - other[key].double()).abs().max()))
    for key in ("qpos", "qvel"):
        a, b = getattr(first.sim, key), getattr(second.sim, key)
        equal &= torch.equal(a, b)
        largest = max(largest, float((a.double() - b.double()).abs().max()))
    return {"bitwise_equal": bool(equal), "max_abs_difference": largest}


def determinism(device: str, dry_run: bool) -> dict:
    from sdpg_warp.config import task_defaults

    sizes = dict(num_nominal=2, num_aux=1, horizon=2, critic_minibatch=8) if dry_run else \
        dict(num_nominal=16, num_aux=15, horizon=16, critic_minibatch=1024)
    epochs = 1 if dry_run else 3
    result = {"task": "humanoid", "obs": "state", "epochs": epochs, **sizes}
    for deterministic in (True, False):
        cfg = dataclasses.replace(task_defaults("humanoid", "state"), device=device, deterministic=deterministic,
                                  **sizes)
        runs = [_run_epochs(cfg, epochs) for _ in range(2)]
        result["deterministic" if deterministic else "default"] = _compare(*runs)
    return result


def physics(device: str, dry_run: bool) -> dict:
    from sdpg_warp.sim import BatchedSim, overflow_warnings
    from sdpg_warp.tasks.hopper import Hopper

    worlds, steps = (4, 3) if dry_run else (4096, 50)
    result = {task: solver_iterations.measure(task, worlds, steps, device=device) for task in ("humanoid", "hopper")}

    @dataclasses.dataclass(frozen=True)
    class TightHopper(Hopper):
        max_constraints = 2

    sim = BatchedSim(TightHopper(), worlds, 0, device=device, graph=True)
    with wp.ScopedDevice(sim.device):
        sim.reset()
        sim.qpos[:, 1] -= 0.3  # into the floor: about 12 constraint rows per world
        sim.step(torch.zeros(sim.num_worlds, sim.num_actions, device=sim.qpos.device))
        stats = sim.pop_physics_stats()
    lines = overflow_warnings(stats["overflow"], sim.task, sim.num_worlds)
    result["forced_overflow"] = {"worlds": worlds, "overflow": stats["overflow"], "console": lines,
                                 "every_world_reported": stats["overflow"].get("NEFC", 0) == worlds}
    if not result["forced_overflow"]["every_world_reported"]:
        raise RuntimeError(f"forced NEFC overflow not reported for all {worlds} worlds: {stats['overflow']}")
    return result


STAGES = {"environment": environment, "tests": tests, "train": train, "determinism": determinism, "physics": physics}


def _markdown(report: dict) -> str:
    lines = [f"# GPU smoke: {report['device_name']} ({report['date']}{', dry run on the CPU' if report['dry_run'] else ''})",
             "", f"`bench/gpu_smoke.sh{' --dry-run' if report['dry_run'] else ''}`; {report['seconds']:.0f} s in all.", "",
             "| stage | ok | seconds | headline |", "|---|---|---|---|"]
    for name, stage in report["stages"].items():
        lines.append(f"| {name} | {'yes' if stage['ok'] else 'NO'} | {stage['seconds']:.1f} | {_headline(name, stage)} |")
    for name, stage in report["stages"].items():
        lines += ["", f"## {name}", "", "```json", json.dumps(stage, indent=1, default=str)[:6000], "```"]
    return "\n".join(lines) + "\n"


def _headline(name: str, stage: dict) -> str:
    if not stage["ok"]:
        return stage["error"].splitlines()[0][:120]
    r = stage["result"]
    if name == "environment":
        return f"driver {r['cuda_driver']}, conditional graphs {r['conditional_graph_nodes']}, {r['cuda_status']}"
    if name == "tests":
        return r["summary"]
    if name == "train":
        return (f"epoch {r['epoch_seconds'] * 1e3:.1f} ms, {r['env_steps_per_s']:.3g} steps/s, "
                f"{r['epoch_over_physics']:.2f}x physics, peak {r['peak_bytes'] / 2**30:.2f} GiB")
    if name == "determinism":
        return (f"--deterministic bitwise {r['deterministic']['bitwise_equal']}, default bitwise "
                f"{r['default']['bitwise_equal']} (max diff {r['default']['max_abs_difference']:.3g})")
    return ", ".join(f"{task} niter max {r[task]['solver_niter_max']} mean {r[task]['solver_niter_mean']:.2f}"
                     for task in ("humanoid", "hopper")) + f"; forced overflow reported {r['forced_overflow']['every_world_reported']}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="every stage on the CPU at tiny sizes (tests collected)")
    parser.add_argument("--device", default=None, help="default: cuda:0, or cpu with --dry-run")
    parser.add_argument("--out", default=None, help="folder of the report (default bench/results, or a temporary one "
                                                    "with --dry-run)")
    parser.add_argument("--only", nargs="+", choices=list(STAGES), default=list(STAGES))
    args = parser.parse_args(argv)
    from sdpg_warp.device import ExecutionScope, resolve_device

    wp.config.log_level = wp.LOG_WARNING
    torch.set_num_threads(1 if args.dry_run else torch.get_num_threads())
    try:
        device = resolve_device(args.device or ("cpu" if args.dry_run else "cuda:0"))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out or (tempfile.mkdtemp(prefix="gpu_smoke_") if args.dry_run else os.path.join(ROOT, "bench", "results"))
    report = {"device_name": wp.get_device(device).name, "date": datetime.date.today().isoformat(),
              "dry_run": args.dry_run, "stages": {}}
    start = time.perf_counter()
    for name in args.only:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            with ExecutionScope(device):
                stage = {"ok": True, "result": STAGES[name](device, args.dry_run)}
        except Exception as e:  # every stage is reported, whatever another did
            stage = {"ok": False, "error": f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"}
        stage["seconds"] = time.perf_counter() - t0
        report["stages"][name] = stage
        print(f"{name}: {'ok' if stage['ok'] else 'FAILED'} in {stage['seconds']:.1f} s | {_headline(name, stage)}",
              flush=True)
        if name == "environment" and stage["ok"]:
            for key, value in stage["result"].items():
                print(f"  {key}: {value}", flush=True)
    report["seconds"] = time.perf_counter() - start
    gpu = "cpu-dry-run" if args.dry_run else re.sub(r"[^A-Za-z0-9]+", "_", report["device_name"]).strip("_")
    base = os.path.join(out, f"{gpu}_{report['date']}")
    os.makedirs(out, exist_ok=True)
    with open(f"{base}.json", "w") as f:
        json.dump(report, f, indent=1, default=str)
    with open(f"{base}.md", "w") as f:
        f.write(_markdown(report))
    print(f"report: {base}.json, {base}.md ({report['seconds']:.0f} s)", flush=True)
    return 0 if all(stage["ok"] for stage in report["stages"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
