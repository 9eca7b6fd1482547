"""One rank of the torchrun jobs that tests/test_distributed.py starts (not a test module itself).

  torchrun --standalone --nproc-per-node 2 tests/distributed_worker.py train OUT_DIR TRAIN_ARGS...
      the gradient probe (one update of each rank on its own batch against one process's update on
      both ranks' batches), then SDPG, PPO and distillation (the SDPG actor its teacher) trained with
      the Runner; each rank saves what it computed and holds to OUT_DIR/rank{r}.pt.
  torchrun --standalone --nproc-per-node 2 tests/distributed_worker.py stall TRAIN_ARGS...
      ``python -m sdpg_warp.train TRAIN_ARGS`` whose rank 1 stops answering in its second epoch's
      update, as a hung process would (only SIGKILL or a default SIGTERM ends it).
"""

import copy
import dataclasses
import os
import signal
import sys
import time

import torch

from sdpg_warp import distributed, train
from sdpg_warp.runner import Runner
from sdpg_warp.sdpg import SDPG


def _batch(rank: int, algo: SDPG) -> dict:
    """A fixed batch per rank: actor observations and targets, critic states and returns."""
    g = torch.Generator().manual_seed(100 + rank)
    obs_dim, d = algo.actor.obs_shape[0], algo.actor.logstd.numel()
    return {
        "obs": torch.randn(8, obs_dim, generator=g),
        "mean_target": 0.5 * torch.randn(8, d, generator=g),
        "logstd_target": -0.5 + 0.1 * torch.randn(8, d, generator=g),
        "states": torch.randn(32, algo.critic.obs_rms.shape[0], generator=g),
        "returns": torch.randn(32, generator=g),
    }


def _learner(algo: SDPG, parallel: distributed.DataParallel) -> SDPG:
    """A copy of ``algo``'s networks that learns from one minibatch per critic update."""
    cfg = dataclasses.replace(algo.cfg, critic_iterations=1, critic_minibatch=64, critic_minibatches=1)
    learner = SDPG(copy.deepcopy(algo.actor), copy.deepcopy(algo.critic), cfg, "cpu")
    learner.parallel = parallel
    return learner


def _update(learner: SDPG, batch: dict, combine=None) -> dict:
    """One actor (and temperature) step and one critic step; the gradients they applied, and the
    normalizer statistics after merging the batch's observations."""
    learner.update_actor(batch["obs"], batch["mean_target"], batch["logstd_target"])
    grads = {f"actor.{name}": p.grad.clone() for name, p in learner.actor.named_parameters()}
    grads["log_alpha"] = learner.log_alpha.grad.clone()
    learner.update_critic(batch["states"], batch["returns"])
    grads.update({f"critic.{name}": p.grad.clone() for name, p in learner.critic.named_parameters()})
    learner.actor.update_normalizer(batch["obs"], combine)
    rms = learner.actor.obs_rms
    return {"grads": grads, "rms": (rms.mean.clone(), rms.var.clone(), rms.count.clone())}


def _gradient_probe(runner: Runner, parallel: distributed.DataParallel) -> dict:
    batches = [_batch(r, runner.algo) for r in range(parallel.world_size)]
    union = {key: torch.cat([b[key] for b in batches]) for key in batches[0]}
    return {
        "ranks": _update(_learner(runner.algo, parallel), batches[parallel.rank], parallel.combine_moments),
        "one_process": _update(_learner(runner.algo, distributed.SINGLE_PROCESS), union),
    }


def _held(runner: Runner) -> dict:
    """What a rank holds after training: networks, its last rollout and simulator, its log."""
    algo = runner.algo
    held = {name: copy.deepcopy(module.state_dict()) for name, module in algo.networks().items()}
    held["history"] = runner.history
    held["sim"] = runner.sim.state_dict()
    if isinstance(algo, SDPG):
        held["log_alpha"] = algo.log_alpha.detach().clone()
        held["eps"] = algo.storage.eps.clone()
    return held


def train_and_save(out_dir: str, args: list) -> None:
    with distributed.joined(distributed.from_environment()) as parallel:
        cfg = train.parse_config(args)
        runner = Runner(cfg, parallel=parallel)
        result = {"probe": _gradient_probe(runner, parallel)}
        runner.train()
        result["sdpg"] = _held(runner)
        ppo_cfg = dataclasses.replace(train.parse_config(["--algo", "ppo", "--task", cfg.task, "--obs", "state"]),
                                      device="cpu", num_envs=4, horizon=4, ppo_minibatches=2, epochs=2)
        ppo = Runner(ppo_cfg, parallel=parallel)
        ppo.train()
        result["ppo"] = _held(ppo)
        teacher = os.path.join(out_dir, "teacher.pt")
        runner.save(teacher)  # every rank takes part, rank 0 writes
        student = Runner(train.parse_config(
            ["--algo", "distill", "--task", cfg.task, "--obs", "rgb", "--teacher", teacher, "--device", "cpu",
             "--image-size", "16", "--num-envs", "2", "--horizon", "4", "--epochs", "2", "--distill-buffer", "64",
             "--distill-batch", "8", "--distill-learning-starts", "8", "--distill-updates", "50"]), parallel=parallel)
        student.train()
        result["distill"] = {**_held(student), "buffer": student.algo.obs[:student.algo.size].clone()}
        torch.save(result, os.path.join(out_dir, f"rank{parallel.rank}.pt"))


def stall_rank_one(args: list) -> int:
    if os.environ["RANK"] == "1":
        update = Runner.update

        def stalled(self):
            if self.epoch == 1:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # hung in native code: no Python handler runs
                time.sleep(600)
            return update(self)

        Runner.update = stalled
    return train.main(args)


if __name__ == "__main__":
    if sys.argv[1] == "train":
        train_and_save(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(stall_rank_one(sys.argv[2:]))
