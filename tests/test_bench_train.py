"""bench_train and run_all run end to end in their quick modes."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))

import bench_train  # noqa: E402
import run_all  # noqa: E402


def test_bench_train_quick(device, capsys):
    result = bench_train.main(["--quick", "--device", device])
    out = capsys.readouterr().out
    assert "train_reacher_rgb_epoch_over_physics:" in out
    row = result["runs"][0]
    assert row["epoch_seconds"] > 0 and row["bare_physics_seconds"] > 0 and row["peak_bytes"] > 0
    assert {"rollout", "physics", "render", "actor_update", "critic_update"} <= set(row["phase_seconds"])
    assert json.loads(out.strip().splitlines()[-1])["runs"][0]["task"] == "reacher"


def test_run_all_quick_writes_json_and_markdown(device, tmp_path):
    paths = run_all.main(["--quick", "--device", device, "--only", "sim", "train", "--out", str(tmp_path)])
    report = json.loads(open(paths["json"]).read())
    assert set(report["results"]) == {"sim", "train"}
    table = open(paths["markdown"]).read()
    assert "| sim |" in table and "| train |" in table


def test_bench_memory_quick(device, capsys):
    import bench_memory

    result = bench_memory.main(["--quick", "--device", device])
    assert "memory_humanoid_rgb_total:" in capsys.readouterr().out
    assert result["bytes"]["sim_data"] > 0 and result["bytes"]["renderer"] > 0
    assert 0 < result["bytes"]["actor_update_activations"] <= result["whole_batch_activation_bytes"]


def test_bench_memory_compare_quick(device, capsys):
    import bench_memory

    result = bench_memory.main(["--quick", "--compare", "ppo", "--task", "pointmass", "--device", device])
    out = capsys.readouterr().out
    assert "ratio ppo/sdpg:" in out and "ratio distill/sdpg:" in out
    assert result["ppo"]["rendered"] == result["ppo"]["worlds"], "PPO renders every world"
    assert result["sdpg"]["rendered"] * 4 == result["sdpg"]["worlds"], "SDPG renders its nominal worlds only"
    for algo in ("sdpg", "ppo", "distill"):
        assert all(value > 0 for value in result[algo]["bytes"].values()), algo
    assert result["ratio_ppo_sdpg"] == result["ppo"]["total_bytes"] / result["sdpg"]["total_bytes"]


def test_bench_memory_ppo_defaults_quick(device, capsys):
    import bench_memory

    result = bench_memory.main(["--quick", "--ppo-defaults", "--device", device])
    assert "memory_ppo_humanoid_rgb_total:" in capsys.readouterr().out
    humanoid = result["tasks"]["humanoid"]
    assert humanoid["minibatch"] == 8 and humanoid["chunk"] == 8  # 4 worlds x 4 steps / 2: one chunk
    assert humanoid["unchunked_total_bytes"] == humanoid["total_bytes"]


def test_world_bytes_lie_on_a_line_in_the_world_count(device):
    """The compare mode extends two small builds along a line: a third build must lie on it."""
    import dataclasses

    import bench_memory
    from sdpg_warp.config import task_defaults

    cfg = dataclasses.replace(task_defaults("pointmass", "rgb", "ppo"), image_size=16)
    assert bench_memory.world_bytes_at(cfg, 5, device, probes=(1, 3)) == bench_memory._world_bytes(cfg, 5, device)


def test_bench_distributed_quick(capsys):
    """One rank alone, two at once, and a 2-rank torchrun job (CPU, gloo), timed and compared."""
    import bench_distributed

    result = bench_distributed.main(["--quick"])
    out = capsys.readouterr().out
    assert "distributed_pointmass_state_overhead_ratio:" in out
    assert "distributed_pointmass_state_overhead_ratio_vs_2_at_once:" in out
    assert result["epoch_seconds_1_rank"] > 0 and result["epoch_seconds_k_ranks"] > 0
    assert 0 < result["collective_seconds_per_epoch"] < result["epoch_seconds_k_ranks"]
    assert [len(job) for job in result["jobs"]["ranks"]] == [2]
