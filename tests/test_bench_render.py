"""bench/bench_render.py runs end to end in quick mode and prints its results as promised."""

import json
import os
import re
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(REPO, "bench", "bench_render.py")
RESULT_LINE = re.compile(r"^render_\w+: [-+0-9.e]+ (frames/s|x)$")


def test_bench_render_quick(device):
    # A child process: the bench picks MuJoCo's OpenGL backend before it imports mujoco.
    run = subprocess.run(
        [sys.executable, BENCH, "--quick", "--device", device],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    lines = run.stdout.strip().splitlines()
    results = json.loads(lines[-1])
    assert results["device"]
    row = results["nominal"]["2"]
    assert row["rgb_frames_per_s"] > 0 and row["depth_frames_per_s"] > 0
    if results["opengl_backend"] is None:
        assert any(line.startswith("opengl: unavailable") for line in lines)
    else:
        assert row["opengl_rgb_frames_per_s"] > 0
    values = [line for line in lines[:-1] if line.startswith("render_")]
    assert len(values) == len(row)
    assert all(RESULT_LINE.match(line) for line in values), values
