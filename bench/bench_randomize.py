"""Cost of domain randomization per environment step: BatchedSim with the task's randomization (draws at
every nominal reset, pushes) against the same task without, in one run and on one device; and with
"neutral" ranges (every field batched and drawn, at the model's own values; no pushes), which
separates the machinery's cost from that of the different physics (e.g. slippery contacts take the
solver more iterations: the mean iterations per physics step are printed for each setting).

An environment step here is what a rollout runs: ``step()`` and ``reset_done_episodes()``, both
replays of captured graphs. Short episodes (``--episode-length``) make the redraws frequent. Prints
``name: value unit`` lines, then one JSON object with the device.

  python bench/bench_randomize.py --task go2_terrain --nominal 64 --aux 15
"""

import argparse
import json

import torch
import warp as wp

from sdpg_warp.randomization import FIELDS, Randomization
from sdpg_warp.sim import BatchedSim, resolve_device
from sdpg_warp.tasks import make_task
from timing import time_eager

ANT = Randomization(body="torso", friction=(0.5, 1.25), added_mass=(-0.1, 0.3), com_offset=(-0.01, 0.01),
                    kp_scale=(0.8, 1.2), kd_scale=(0.8, 1.2), motor_offset=(-0.02, 0.02), damping_scale=(0.5, 2.0),
                    armature_scale=(0.5, 2.0), push_interval_s=0.1, push_velocity=1.0)
"""Every quantity drawn, pushes every 5 steps: for a task without ranges of its own (e.g. ant)."""


def neutral(spec: Randomization, mjm) -> Randomization:
    """``spec``'s quantities drawn at the model's own values (friction only when every geom has one)."""
    friction = float(mjm.geom_friction[0, 0])
    unique = bool((mjm.geom_friction[:, 0] == friction).all())
    ranges = {"friction": (friction, friction) if unique else None, "added_mass": (0.0, 0.0),
              "com_offset": (0.0, 0.0), "motor_offset": (0.0, 0.0)}
    ranges = {name: (ranges[name] if name in ranges else (1.0, 1.0)) if value is not None else None
              for name, value in ((name, getattr(spec, name)) for name in FIELDS)}
    return Randomization(body=spec.body, **ranges)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="go2_terrain")
    parser.add_argument("--nominal", type=int, default=64)
    parser.add_argument("--aux", type=int, default=15)
    parser.add_argument("--episode-length", type=int, default=20, help="short episodes: frequent redraws")
    parser.add_argument("--steps", type=int, default=50, help="environment steps timed per setting")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings per setting (best kept)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.task, args.nominal, args.aux, args.steps, args.repeats = "ant", 2, 1, 3, 1
    wp.config.log_level = wp.LOG_WARNING
    device = resolve_device(args.device)
    task = make_task(args.task, episode_length=args.episode_length)
    spec = task.randomization or ANT
    settings = (("plain", False), ("neutral", neutral(spec, task.mj_model())), ("randomized", spec))
    sims = {name: BatchedSim(task, args.nominal, args.aux, device=device, seed=0, graph=True, randomize=randomize)
            for name, randomize in settings}
    # The same actions in every setting (plain and neutral then step the same physics).
    actions = torch.rand(sims["plain"].action.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for sim in sims.values():
        sim.reset()
        sim.action.copy_(actions)

    def rollout_step(sim):
        sim.step()
        sim.reset_done_episodes()

    best = {name: float("inf") for name in sims}
    for _ in range(args.repeats):  # alternate, so both settings see the same machine load
        for name, sim in sims.items():
            best[name] = min(best[name], time_eager(lambda: rollout_step(sim), args.steps, sim.device) / args.steps)
    W = sims["plain"].num_worlds
    for sim in sims.values():
        sim.pop_physics_stats()
        time_eager(lambda: rollout_step(sim), args.steps, sim.device)
    niter = {name: sim.pop_physics_stats()["solver_niter_mean"] for name, sim in sims.items()}
    # The machinery alone, free of the step's noise: a redraw of every group, and a push launch.
    randomized = sims["randomized"]
    randomizer, state = randomized._randomizer, randomized.state_dict()
    draw = time_eager(lambda: randomizer.draw(0, randomized._all, randomized._reset_count), args.steps,
                      randomized.device) / args.steps
    push = time_eager(lambda: randomizer.push(0, randomized._episode_step, randomized._reset_count,
                                              randomized.d.qvel), args.steps, randomized.device) / args.steps
    randomized.load_state_dict(state)
    results = {"device": wp.get_device(device).name, "task": args.task, "worlds": W, "steps": args.steps,
               "episode_length": args.episode_length, "randomization": str(spec),
               **{f"{name}_ms_per_step": 1e3 * best[name] for name in sims},
               **{f"{name}_solver_niter_mean": niter[name] for name in sims},
               "draw_all_groups_ms": 1e3 * draw, "push_ms": 1e3 * push,
               "draw_all_groups_over_plain_step": draw / best["plain"], "push_over_plain_step": push / best["plain"],
               "neutral_over_plain": best["neutral"] / best["plain"],
               "randomized_over_plain": best["randomized"] / best["plain"]}
    prefix = f"randomize_{args.task}_{W}w"
    for name in sims:
        print(f"{prefix}_{name}: {results[name + '_ms_per_step']:.4g} ms/step")
        print(f"{prefix}_{name}_solver_niter_mean: {niter[name]:.3g} iterations")
    print(f"{prefix}_draw_all_groups: {results['draw_all_groups_ms']:.4g} ms")
    print(f"{prefix}_push: {results['push_ms']:.4g} ms")
    for name in ("draw_all_groups", "push"):
        print(f"{prefix}_{name}_over_plain_step: {results[name + '_over_plain_step']:.4g} x")
    for name in ("neutral", "randomized"):
        print(f"{prefix}_{name}_over_plain: {results[name + '_over_plain']:.4g} x")
    print(json.dumps(results))
    return results


if __name__ == "__main__":
    main()
