"""Smoke test: bench/bench_randomize.py runs end to end in --quick mode on the test device and prints
its lines and JSON."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))

import bench_randomize  # noqa: E402


def test_quick_run_prints_lines_and_json(device, capsys):
    returned = bench_randomize.main(["--quick", "--device", device])
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report == json.loads(json.dumps(returned))
    for name in ("plain", "neutral", "randomized"):
        assert report[f"{name}_ms_per_step"] > 0
    # Neutral ranges draw the model's own values: the same physics as none, so the same iterations.
    assert report["neutral_solver_niter_mean"] == report["plain_solver_niter_mean"]
    assert any(line.startswith("randomize_ant_4w_randomized_over_plain: ") and line.endswith(" x") for line in lines)
