"""Data-parallel training (sdpg_warp/distributed.py): 2-rank torchrun jobs on the CPU with gloo.

The jobs are tiny (pointmass from the state, N=2, M=3, H=4) and share the Warp kernel cache. One
job trains through the Runner (tests/distributed_worker.py) and keeps what every rank holds; the
CLI tests run ``torchrun -m sdpg_warp.train`` itself.
"""

import glob
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from sdpg_warp import distributed, train
from sdpg_warp.distributed import DataParallel
from sdpg_warp.run_lock import RunLock

WORKER = os.path.join(os.path.dirname(__file__), "distributed_worker.py")
TINY = ["--task", "pointmass", "--obs", "state", "--num-nominal", "2", "--num-aux", "3", "--horizon", "4",
        "--critic-minibatch", "16", "--alpha", "0.01", "--auto-alpha", "--device", "cpu"]
"""Temperature auto-tuning on, so that its averaged gradient is exercised too."""


def _torchrun(*args, timeout: float = 300.0) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def _check(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list:
    """What each of the two ranks of a 3-epoch SDPG Runner job (then 2 epochs of PPO and of
    distillation) held."""
    out = tmp_path_factory.mktemp("ranks")
    _check(_torchrun(WORKER, "train", str(out), *TINY, "--epochs", "3", "--schedule-epochs", "3"))
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.parametrize("algo", ["sdpg", "ppo", "distill"])
def test_two_ranks_end_with_bit_identical_networks(ranks, algo):
    first, second = ranks[0][algo], ranks[1][algo]
    names = {"sdpg": ["actor", "critic", "target_critic"], "ppo": ["actor", "critic"], "distill": ["actor"]}[algo]
    for name in names:
        for key, value in first[name].items():
            assert torch.equal(value, second[name][key]), f"{algo} {name}.{key}"
    if algo == "sdpg":
        assert torch.equal(first["log_alpha"], second["log_alpha"])
        # The critic's normalizer took in every rank's states: 3 epochs of 2 ranks x 2*4*4 states.
        assert float(first["critic"]["obs_rms.count"]) == 3 * 2 * 2 * 4 * 4
    if algo == "distill":  # each rank learned from its own replay buffer, and as many updates
        assert first["history"][-1]["charts/student_updates"] > 0
        assert not torch.equal(first["buffer"], second["buffer"])
    # Logged metrics are the ranks' averages, the same on both.
    loss = {"sdpg": "losses/critic", "ppo": "losses/value", "distill": "losses/imitation"}[algo]
    assert [h.get(loss) for h in first["history"]] == [h.get(loss) for h in second["history"]]
    assert first["history"][-1][loss] > 0


def test_ranks_draw_different_perturbations_and_states(ranks):
    first, second = ranks[0]["sdpg"], ranks[1]["sdpg"]
    assert first["eps"].abs().sum() > 0 and not torch.equal(first["eps"], second["eps"])
    assert not np.array_equal(first["sim"]["qpos"], second["sim"]["qpos"])


def test_averaged_gradient_equals_one_process_gradient_over_both_ranks_data(ranks):
    for rank in ranks:
        probe = rank["probe"]
        for name, grad in probe["one_process"]["grads"].items():
            torch.testing.assert_close(probe["ranks"]["grads"][name], grad, rtol=1e-5, atol=1e-6, msg=name)
        for merged, union in zip(probe["ranks"]["rms"], probe["one_process"]["rms"]):
            torch.testing.assert_close(merged, union, rtol=1e-10, atol=1e-12)
    for name, grad in ranks[0]["probe"]["ranks"]["grads"].items():
        assert torch.equal(grad, ranks[1]["probe"]["ranks"]["grads"][name]), name


def test_cli_writes_one_run_folder_and_resumes_every_rank_exactly(ranks, tmp_path, capsys):
    common = [*TINY, "--log-dir", str(tmp_path), "--checkpoint-every", "1"]
    done = _torchrun("-m", "sdpg_warp.train", *common, "--epochs", "2", "--schedule-epochs", "3", "--run-name", "r")
    _check(done)
    assert "world size 2" in done.stdout and done.stdout.count("run: ") == 1, "one banner, from rank 0"
    run = tmp_path / "r"
    assert os.listdir(tmp_path) == ["r"]
    assert len(glob.glob(str(run / "events.out.tfevents.*"))) == 1
    assert sorted(p for p in os.listdir(run) if not p.startswith("events")) == ["checkpoint.pt", "config.json"]
    saved = torch.load(run / "checkpoint.pt", weights_only=False)
    assert saved["epoch"] == 2 and saved["world_size"] == 2 and len(saved["ranks"]) == 1

    done = _torchrun("-m", "sdpg_warp.train", "--resume", str(run), "--epochs", "3")
    _check(done)
    assert f"resumed {run} at epoch 2" in done.stdout
    resumed = torch.load(run / "checkpoint.pt", weights_only=False)
    assert resumed["epoch"] == 3
    # Both ranks continued from their own simulator and RNG state: the job equals the unbroken one.
    straight = ranks[0]["sdpg"]
    for name in ("actor", "critic", "target_critic"):
        for key, value in straight[name].items():
            assert torch.equal(resumed["algo"][name][key], value), f"{name}.{key}"
    np.testing.assert_array_equal(resumed["ranks"][0]["sim"]["qpos"], ranks[1]["sdpg"]["sim"]["qpos"])

    # A second job on a run in use (this process holds its lock) ends every rank with exit status 2
    # before anything is touched; rank 0 alone names the holder.
    lock = RunLock()
    lock.acquire(str(run))
    try:
        done = _torchrun("-m", "sdpg_warp.train", "--resume", str(run), "--epochs", "4")
    finally:
        lock.release()
    assert done.stderr.count(f"{run} is in use by pid {os.getpid()}") == 1, done.stderr[-3000:]
    # Each rank exits 2; torchrun stops the ranks still exiting once the first has (SIGTERM, -15).
    codes = re.findall(r"exitcode  : (-?\d+)", done.stderr)
    assert "2" in codes and set(codes) <= {"2", "-15"}, done.stderr[-3000:]
    assert torch.load(run / "checkpoint.pt", weights_only=False)["epoch"] == 3

    # One process cannot take over the two ranks' worlds.
    assert train.main(["--resume", str(run), "--epochs", "4"]) == 2
    assert "was written by 2 rank(s), this run has 1" in capsys.readouterr().err


def test_a_stalled_rank_fails_the_job_after_the_collective_timeout(tmp_path):
    start = time.monotonic()
    done = _torchrun(WORKER, "stall", *TINY, "--epochs", "5", "--collective-timeout", "10",
                     "--log-dir", str(tmp_path), timeout=240)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "error: rank 0 of 2: averaging gradients failed" in output, output[-3000:]
    assert "did not arrive within --collective-timeout 10 s" in output
    assert time.monotonic() - start < 180


def test_plain_python_sets_up_nothing_distributed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert train.main([*TINY, "--epochs", "1", "--log-dir", str(tmp_path)]) == 0
    assert not torch.distributed.is_initialized()
    assert "world size 1" in capsys.readouterr().out


# ------------------------------------------------------------------------------ no processes


def test_merge_moments_equals_the_statistics_of_the_concatenation():
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(n, 3, generator=g, dtype=torch.float64) * (k + 1) + k for k, n in enumerate((5, 1, 9))]
    batches.append(torch.zeros(0, 3, dtype=torch.float64))  # an empty rank adds nothing
    means = torch.stack([b.mean(0) if len(b) else torch.zeros(3, dtype=torch.float64) for b in batches])
    variances = torch.stack([b.var(0, unbiased=False) if len(b) else torch.zeros(3, dtype=torch.float64)
                             for b in batches])
    counts = torch.tensor([float(len(b)) for b in batches], dtype=torch.float64)
    mean, var, count = distributed.merge_moments(means, variances, counts)
    union = torch.cat(batches)
    torch.testing.assert_close(mean, union.mean(0))
    torch.testing.assert_close(var, union.var(0, unbiased=False))
    assert float(count) == 15


def test_torchrun_environment():
    assert distributed.from_environment({}) is distributed.SINGLE_PROCESS
    assert distributed.from_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is distributed.SINGLE_PROCESS
    parallel = distributed.from_environment({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, timeout=7.0)
    assert (parallel.rank, parallel.world_size, parallel.local_rank, parallel.timeout) == (3, 4, 1, 7.0)
    assert not parallel.is_main and parallel.distributed
    with pytest.raises(ValueError, match="must be integers"):
        distributed.from_environment({"RANK": "0", "WORLD_SIZE": "two", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="must be integers"):
        distributed.from_environment({"WORLD_SIZE": "2"})
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE"):
        distributed.from_environment({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_rank_seeds_and_devices(monkeypatch):
    ranks = [DataParallel(rank=r, world_size=3, local_rank=r) for r in range(3)]
    assert [p.rank_seed(5) for p in ranks] == [5, 5 + distributed.RANK_SEED_STRIDE, 5 + 2 * distributed.RANK_SEED_STRIDE]
    assert distributed.SINGLE_PROCESS.rank_device("cuda:1") == "cuda:1"
    # A rank takes cuda:(LOCAL_RANK mod visible GPUs): its own of 4, or the one SLURM leaves it.
    monkeypatch.setattr(distributed.torch.cuda, "device_count", lambda: 4)
    assert ranks[2].rank_device("cpu") == "cpu" and ranks[2].rank_device("cuda") == "cuda:2"
    monkeypatch.setattr(distributed.torch.cuda, "device_count", lambda: 1)
    assert ranks[2].rank_device("cuda") == "cuda:0"
    with pytest.raises(ValueError, match="names one GPU"):
        ranks[1].rank_device("cuda:0")


def test_one_process_collectives_change_nothing():
    single = distributed.SINGLE_PROCESS
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    single.average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    mean, var = torch.zeros(2), torch.ones(2)
    assert single.combine_moments(mean, var, 4) == (mean, var, 4)
    assert single.any_rank(True) and not single.any_rank(False)
    assert single.gather_objects("x") == ["x"] and single.broadcast_object("y") == "y"


def test_collective_timeout_is_validated(tmp_path, capsys):
    assert train.main(["--task", "pointmass", "--collective-timeout", "0", "--log-dir", str(tmp_path / "runs")]) == 2
    assert "collective-timeout must be finite and > 0" in capsys.readouterr().err


def test_distillation_checkpoints_keep_each_ranks_replay_buffer_in_its_own_shard(tmp_path):
    # The teacher: one epoch of a single-process state run of the task.
    assert train.main([*TINY, "--epochs", "1", "--log-dir", str(tmp_path), "--run-name", "teacher"]) == 0
    student = ["--algo", "distill", "--task", "pointmass", "--obs", "rgb", "--teacher", str(tmp_path / "teacher"),
               "--device", "cpu", "--image-size", "16", "--num-envs", "2", "--horizon", "4", "--distill-buffer", "64",
               "--distill-batch", "8", "--distill-learning-starts", "8", "--distill-updates", "5",
               "--log-dir", str(tmp_path), "--checkpoint-every", "1"]
    _check(_torchrun("-m", "sdpg_warp.train", *student, "--epochs", "2", "--run-name", "s"))
    run = tmp_path / "s"
    saved = torch.load(run / "checkpoint.pt", weights_only=False)
    assert saved["shards"] == ["checkpoint.pt.rank0-epoch2", "checkpoint.pt.rank1-epoch2"]
    assert "buffer_obs" not in saved["algo"] and "buffer_obs" not in saved["ranks"][0]["algo"]
    assert sorted(p for p in os.listdir(run) if p.startswith("checkpoint")) == ["checkpoint.pt", *saved["shards"]]
    shards = [torch.load(run / name, weights_only=False) for name in saved["shards"]]
    assert shards[0]["buffer_obs"].shape == (16, *shards[0]["buffer_obs"].shape[1:])  # 2 epochs x 2 worlds x 4 steps
    assert not torch.equal(shards[0]["buffer_obs"], shards[1]["buffer_obs"]), "each rank its own worlds"

    done = _torchrun("-m", "sdpg_warp.train", "--resume", str(run), "--epochs", "3")
    _check(done)
    resumed = torch.load(run / "checkpoint.pt", weights_only=False)
    assert resumed["epoch"] == 3 and resumed["shards"] == ["checkpoint.pt.rank0-epoch3", "checkpoint.pt.rank1-epoch3"]
    assert sorted(p for p in os.listdir(run) if p.startswith("checkpoint")) == ["checkpoint.pt", *resumed["shards"]]
    for before, name in zip(shards, resumed["shards"]):  # read back, then grown by one epoch
        after = torch.load(run / name, weights_only=False)["buffer_obs"]
        assert after.shape[0] == 24 and torch.equal(after[:16], before["buffer_obs"])


def test_each_rank_takes_a_gpu_it_can_see(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # per-rank CUDA_VISIBLE_DEVICES (SLURM)
    assert DataParallel(rank=3, world_size=4, local_rank=3).rank_device("cuda") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert [DataParallel(rank=r, world_size=8, local_rank=r).rank_device("cuda") for r in (0, 3, 5)] == \
        ["cuda:0", "cuda:3", "cuda:1"]
