"""bench/gpu_smoke.sh, the first GPU run's script, runs end to end in its CPU dry run (every stage
at tiny sizes, the GPU tests collected), so that it still works when a GPU is there to run it."""

import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_gpu_smoke_dry_run_passes_every_stage_and_writes_its_report(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([str(ROOT / "bench" / "gpu_smoke.sh"), "--dry-run", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (report_path,) = tmp_path.glob("cpu-dry-run_*.json")
    report = json.loads(report_path.read_text())
    stages = report["stages"]
    assert list(stages) == ["environment", "tests", "train", "determinism", "physics"]
    assert all(stage["ok"] for stage in stages.values())
    env_info = stages["environment"]["result"]
    assert "Warp" in env_info["cuda_status"] or "both have CUDA" in env_info["cuda_status"]
    assert "tests collected" in stages["tests"]["result"]["summary"]
    assert stages["train"]["result"]["phase_seconds"]["physics"] > 0
    assert stages["determinism"]["result"]["deterministic"]["bitwise_equal"]
    assert stages["physics"]["result"]["forced_overflow"]["every_world_reported"]
    markdown = report_path.with_suffix(".md").read_text()
    assert "| determinism | yes |" in markdown and "conditional graphs" in markdown
    assert "report: " in done.stdout and "capture_mode: captured graph" in done.stdout
