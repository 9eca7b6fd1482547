"""Where the memory of an SDPG epoch goes, at the paper's settings, by component.

Counts the bytes of every Warp array of the simulator's mujoco_warp Data (all N*(M+1) worlds), the
renderer (its N-world Data, render context and frame stack), the rollout storage, and the actor
update's activations (forward hooks sum the outputs the backward pass keeps, for the N*H stored
observations, per chunk of ``actor_chunk`` and, for comparison, for the whole batch at once). Allocations are made on the chosen device; on CUDA the Torch and Warp allocator
peaks are reported beside the component sum.

  python bench/bench_memory.py --task humanoid --obs rgb
"""

import argparse
import dataclasses
import json

import torch
import warp as wp

from sdpg_warp.config import task_defaults
from sdpg_warp.runner import Runner
from sdpg_warp.sim import resolve_device


def warp_bytes(obj, seen=None) -> int:
    """Bytes of the Warp arrays reachable through ``obj``'s attributes (dataclasses, objects)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, wp.array):
        return obj.capacity if obj.is_contiguous else 0
    if isinstance(obj, (list, tuple)):
        return sum(warp_bytes(x, seen) for x in obj)
    fields = getattr(obj, "__dict__", None)
    if fields is None or isinstance(obj, type):
        return 0
    return sum(warp_bytes(v, seen) for v in fields.values())


def activation_bytes(actor: torch.nn.Module, obs: torch.Tensor) -> int:
    """Bytes of every module output in one forward pass: what autograd keeps for the backward."""
    total = [0]

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()

    handles = [m.register_forward_hook(hook) for m in actor.modules() if len(list(m.children())) == 0]
    try:
        mean, logstd = actor(obs)
        (mean.sum() + logstd.sum()).backward()
    finally:
        for h in handles:
            h.remove()
    actor.zero_grad(set_to_none=True)
    return total[0]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="humanoid")
    parser.add_argument("--obs", default="rgb", choices=["rgb", "depth", "state"])
    parser.add_argument("--num-nominal", type=int, default=64)
    parser.add_argument("--num-aux", type=int, default=63)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    overrides = dict(num_nominal=args.num_nominal, num_aux=args.num_aux)
    if args.quick:
        overrides = dict(num_nominal=2, num_aux=3, horizon=4, image_size=16)
    wp.config.log_level = wp.LOG_WARNING
    device = resolve_device(args.device)
    cfg = dataclasses.replace(task_defaults(args.task), obs=args.obs, device=device, **overrides)
    runner = Runner(cfg)
    s = runner.algo.storage
    components = {
        "sim_data": warp_bytes(runner.sim.d),
        "sim_model": warp_bytes(runner.sim.m),
        "renderer": 0 if runner.renderer is None else warp_bytes(runner.renderer),
        "storage_obs": s.obs.numel() * s.obs.element_size(),
        "storage_other": sum(t.numel() * t.element_size() for name, t in vars(s).items() if name != "obs"),
        "actor_update_activations": activation_bytes(runner.algo.actor, s.obs.flatten(0, 1)[: runner.algo.actor_chunk]),
        "networks": sum(p.numel() * p.element_size() for p in runner.algo.actor.parameters())
        + 2 * sum(p.numel() * p.element_size() for p in runner.algo.critic.parameters()),
    }
    # Before chunked gradient accumulation the whole N*H batch went through at once:
    whole_batch = activation_bytes(runner.algo.actor, s.obs.flatten(0, 1))
    results = {
        "device": wp.get_device(device).name, "task": args.task, "obs": args.obs,
        "num_nominal": cfg.num_nominal, "num_aux": cfg.num_aux, "horizon": cfg.horizon,
        "image_size": cfg.image_size, "actor_chunk": runner.algo.actor_chunk, "bytes": components,
        "total_bytes": sum(components.values()), "whole_batch_activation_bytes": whole_batch,
    }
    if device.startswith("cuda"):
        results["torch_peak_bytes"] = torch.cuda.max_memory_allocated(device)
    for name, value in sorted(components.items(), key=lambda kv: -kv[1]):
        print(f"memory_{args.task}_{args.obs}_{name}: {value / 2**20:.1f} MiB")
    print(f"memory_{args.task}_{args.obs}_total: {results['total_bytes'] / 2**20:.1f} MiB")
    print(f"memory_{args.task}_{args.obs}_activations_whole_batch: {whole_batch / 2**20:.1f} MiB")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
