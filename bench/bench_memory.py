"""Where the memory of an SDPG epoch goes, at the paper's settings, by component.

Counts the bytes of every Warp array of the simulator's mujoco_warp Data (all N*(M+1) worlds), the
renderer (its N-world Data, render context and frame stack), the rollout storage, and the actor
update's activations (forward hooks sum the outputs the backward pass keeps, for the N*H stored
observations, per chunk of ``actor_chunk`` and, for comparison, for the whole batch at once). Allocations are made on the chosen device; on CUDA the Torch and Warp allocator
peaks are reported beside the component sum.

  python bench/bench_memory.py --task humanoid --obs rgb
  python bench/bench_memory.py --task humanoid --obs rgb --compare ppo   # SDPG vs PPO vs distillation
  python bench/bench_memory.py --obs rgb --ppo-defaults                 # PPO at each task's defaults

``--compare ppo`` sets SDPG beside the baselines at the paper's settings for the task (each
algorithm's registry defaults: SDPG N*(M+1) worlds with N rendered; PPO with 4096 worlds, all
rendered, and minibatches of 8192, as the paper's Table 1 estimates it; the distillation student's
``num_envs`` rendered worlds and its replay buffer, which sdpg_warp keeps on the device). No
4096-world rendered batch fits a CPU run, so every size is computed, not allocated in full: the
simulator's and renderer's arrays are measured at two small world counts and extended along their
exact line (every mujoco_warp and renderer array is a fixed part plus a per-world part), the rollout
storages are allocated on Torch's ``meta`` device (shapes, no memory), and activations are measured
per sample and multiplied by the batch of one backward pass (SDPG's actor chunk and critic
minibatch, PPO's minibatch through actor and critic, the student's minibatch), at the CUDA defaults.
"""

import argparse
import dataclasses
import json

import torch
import warp as wp

from sdpg_warp.config import task_defaults
from sdpg_warp.memory import storage_bytes
from sdpg_warp.networks import Actor, Critic
from sdpg_warp.render import NominalRenderer
from sdpg_warp.runner import Runner
from sdpg_warp.sim import BatchedSim, resolve_device


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


def activation_bytes(module: torch.nn.Module, inputs: torch.Tensor) -> int:
    """Bytes of every leaf module's output in one forward pass: what autograd keeps for the backward."""
    total = [0]

    def hook(_module, _inputs, output):
        if isinstance(output, torch.Tensor):
            total[0] += output.numel() * output.element_size()

    handles = [m.register_forward_hook(hook) for m in module.modules() if len(list(m.children())) == 0]
    try:
        outputs = module(inputs)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        sum(o.sum() for o in outputs).backward()
    finally:
        for h in handles:
            h.remove()
    module.zero_grad(set_to_none=True)
    return total[0]


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


# ---------------------------------------------------------------------------------------- --compare


def _world_bytes(cfg, nominal: int, device: str) -> dict:
    """Warp bytes of the simulator (Data, Model) and renderer with ``nominal`` nominal worlds of the
    config's layout (each with its M auxiliaries)."""
    aux = cfg.world_layout()[1]
    sim = BatchedSim(cfg.task, nominal, aux, device=device)
    sizes = {"sim_data": warp_bytes(sim.d), "sim_model": warp_bytes(sim.m), "renderer": 0}
    if cfg.obs != "state":
        renderer = NominalRenderer(sim, cfg.image_size, cfg.image_size, cfg.frames, cfg.obs)
        sizes["renderer"] = warp_bytes(renderer, seen={id(sim)})  # its own arrays, not the simulator's
    return sizes


def world_bytes_at(cfg, nominal: int, device: str, probes=(1, 2)) -> dict:
    """:func:`_world_bytes` at ``nominal`` worlds, from two small builds extended along their line."""
    (a, b) = probes
    at_a, at_b = _world_bytes(cfg, a, device), _world_bytes(cfg, b, device)
    return {name: at_a[name] + (nominal - a) * (at_b[name] - at_a[name]) // (b - a) for name in at_a}


def _update_bytes(module: torch.nn.Module, sample: torch.Tensor, batch: int) -> int:
    """Activation bytes of one forward/backward of ``batch`` samples like ``sample`` [1, ...]."""
    return activation_bytes(module, sample) * batch


def _optimized_bytes(module: torch.nn.Module) -> int:
    """Parameters, gradients and Adam's two moments."""
    return 4 * tensor_bytes(module.parameters())


def footprint(cfg, device: str, probes=(1, 2)) -> dict:
    """Bytes by component of one training epoch of ``cfg`` (any algorithm) on ``device``."""
    nominal, aux = cfg.world_layout()
    sizes = world_bytes_at(cfg, nominal, device, probes)
    task_sim = BatchedSim(cfg.task, 1, aux, device=device)
    state_dim, d = task_sim.state_dim, task_sim.num_actions
    obs_shape = cfg.actor_obs_shape(state_dim)
    obs_dtype = torch.uint8 if cfg.obs == "rgb" else torch.float32
    actor = Actor.from_config(cfg, obs_shape, d)
    critic = Critic.from_config(cfg, state_dim)
    obs = torch.zeros((1, *obs_shape), dtype=obs_dtype)
    state = torch.zeros(1, state_dim)
    sizes.update(storage_bytes(cfg, state_dim, d))  # what the CLI checks against free memory
    UPDATE_BYTES[cfg.algo](sizes, cfg, actor, critic, obs, state, d)
    return sizes


def _sdpg_update(sizes: dict, cfg, actor, critic, obs, state, num_actions: int) -> None:
    (nominal, aux), H = cfg.world_layout(), cfg.horizon
    # The estimate's outputs, the returns.
    sizes["storage_other"] += 2 * nominal * H * num_actions * 4 + nominal * (aux + 1) * H * 4
    sizes["update_activations"] = (_update_bytes(actor, obs, min(cfg.actor_chunk_on("cuda"), nominal * H))
                                   + _update_bytes(critic, state, cfg.critic_minibatch))
    sizes["networks_and_optimizers"] = _optimized_bytes(actor) + 5 * tensor_bytes(critic.parameters())


def _ppo_update(sizes: dict, cfg, actor, critic, obs, state, num_actions: int) -> None:
    (nominal, _), H = cfg.world_layout(), cfg.horizon
    minibatch = nominal * H // cfg.ppo_minibatches
    sizes["storage_other"] += 4 * nominal * H * 4  # advantages, returns
    # Each chunk of a minibatch is gathered (a copy of its observations), then goes through actor
    # and critic; ``ppo_chunk=None``: the CUDA default. Unchunked (a chunk of the whole minibatch),
    # the figure is that of the update before chunking.
    chunk = min(minibatch, cfg.ppo_chunk_on("cuda"))
    sizes["update_activations"] = (chunk * tensor_bytes([obs]) + _update_bytes(actor, obs, chunk)
                                   + _update_bytes(critic, state, chunk))
    sizes["networks_and_optimizers"] = _optimized_bytes(actor) + _optimized_bytes(critic)


def _distill_update(sizes: dict, cfg, actor, critic, obs, state, num_actions: int) -> None:
    sizes["update_activations"] = cfg.distill_batch * tensor_bytes([obs]) + _update_bytes(actor, obs, cfg.distill_batch)
    teacher = Actor.from_config(dataclasses.replace(cfg, obs="state"), (state.shape[1],), num_actions)
    sizes["networks_and_optimizers"] = _optimized_bytes(actor) + tensor_bytes(teacher.parameters())


UPDATE_BYTES = {"sdpg": _sdpg_update, "ppo": _ppo_update, "distill": _distill_update}
"""``--algo`` name -> what its update adds to ``footprint``'s sizes: the buffers beside its storage,
the activations of one backward pass and its networks and optimizers."""


PAPER_PPO_ENVS = 4096
"""The paper's Table 1 estimates PPO's memory with 4096 worlds and the state-based settings."""
PPO_MINIBATCH = 8192
"""Samples per PPO minibatch in the authors' configs."""


def _paper_ppo(cfg):
    """PPO as the paper's Table 1 estimates it: 4096 worlds, minibatches of 8192 samples."""
    return dataclasses.replace(cfg, num_envs=PAPER_PPO_ENVS,
                               ppo_minibatches=max(1, PAPER_PPO_ENVS * cfg.horizon // PPO_MINIBATCH))


PAPER_SETTINGS = {"ppo": _paper_ppo}
"""``--algo`` name -> its settings at the paper's scale, where they differ from the task's defaults."""



def compare(task: str, obs: str, device: str, quick: bool) -> dict:
    """SDPG, PPO and distillation side by side (see the module docstring); prints and returns them."""
    results = {}
    for algo in ("sdpg", "ppo", "distill"):
        cfg = PAPER_SETTINGS.get(algo, lambda c: c)(dataclasses.replace(task_defaults(task, obs, algo), device=device))
        if quick:
            cfg = dataclasses.replace(cfg, num_nominal=2, num_aux=3, num_envs=4, horizon=4, image_size=16,
                                      ppo_minibatches=2, distill_buffer=64, distill_batch=8, critic_minibatch=16)
        sizes = footprint(cfg, device)
        nominal, aux = cfg.world_layout()
        results[algo] = {"worlds": nominal * (aux + 1), "rendered": nominal if obs != "state" else 0,
                         "horizon": cfg.horizon, "bytes": sizes, "total_bytes": sum(sizes.values())}
        for name, value in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"memory_{algo}_{task}_{obs}_{name}: {value / 2**30:.3f} GiB")
        print(f"memory_{algo}_{task}_{obs}_total: {results[algo]['total_bytes'] / 2**30:.3f} GiB "
              f"({results[algo]['worlds']} worlds, {results[algo]['rendered']} rendered, H={cfg.horizon})")
    for algo in ("ppo", "distill"):
        ratio = results[algo]["total_bytes"] / results["sdpg"]["total_bytes"]
        results[f"ratio_{algo}_sdpg"] = ratio
        print(f"ratio {algo}/sdpg: {ratio:.2f} x")
    return results


def ppo_defaults(obs: str, device: str, quick: bool) -> dict:
    """PPO at each task's defaults (``sdpg_warp/tasks/defaults.py``: its ``num_envs`` worlds, all
    rendered), chunked as on CUDA and, for comparison, with each minibatch in one pass."""
    from sdpg_warp.tasks.defaults import TASK_DEFAULTS

    results = {}
    for task in (name for name, defaults in TASK_DEFAULTS.items() if "ppo" in defaults.algo):
        cfg = dataclasses.replace(task_defaults(task, obs, "ppo"), device=device)
        if quick:
            cfg = dataclasses.replace(cfg, num_envs=4, horizon=4, image_size=16, ppo_minibatches=2)
        minibatch = cfg.num_envs * cfg.horizon // cfg.ppo_minibatches
        sizes = footprint(cfg, device)
        whole = footprint(dataclasses.replace(cfg, ppo_chunk=minibatch), device)["update_activations"]
        results[task] = {"num_envs": cfg.num_envs, "horizon": cfg.horizon, "minibatch": minibatch,
                         "chunk": min(minibatch, cfg.ppo_chunk_on("cuda")), "bytes": sizes,
                         "total_bytes": sum(sizes.values()),
                         "unchunked_total_bytes": sum(sizes.values()) - sizes["update_activations"] + whole}
        r = results[task]
        print(f"memory_ppo_{task}_{obs}_total: {r['total_bytes'] / 2**30:.3f} GiB ({cfg.num_envs} worlds rendered, "
              f"H={cfg.horizon}, minibatch {minibatch} in chunks of {r['chunk']}; unchunked "
              f"{r['unchunked_total_bytes'] / 2**30:.3f} GiB)")
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="humanoid")
    parser.add_argument("--obs", default="rgb", choices=["rgb", "depth", "state"])
    parser.add_argument("--num-nominal", type=int, default=64)
    parser.add_argument("--num-aux", type=int, default=63)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    parser.add_argument("--compare", choices=["ppo"], help="SDPG beside PPO and distillation at the paper's settings")
    parser.add_argument("--ppo-defaults", action="store_true", help="PPO at every task's registry defaults")
    args = parser.parse_args(argv)
    if args.ppo_defaults:
        wp.config.log_level = wp.LOG_WARNING
        device = resolve_device(args.device)
        results = {"device": wp.get_device(device).name, "obs": args.obs,
                   "tasks": ppo_defaults(args.obs, device, args.quick)}
        print(json.dumps(results))
        return results
    if args.compare:
        wp.config.log_level = wp.LOG_WARNING
        device = resolve_device(args.device)
        results = compare(args.task, args.obs, device, args.quick)
        results.update(device=wp.get_device(device).name, task=args.task, obs=args.obs)
        print(json.dumps(results))
        return results
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
        "renderer": 0 if runner.renderer is None else warp_bytes(runner.renderer, seen={id(runner.sim)}),
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
