"""Smoke test: bench/bench_kernels.py runs end to end in --quick mode on the test device and prints JSON."""

import importlib.util
import json
import pathlib

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_kernels.py"


def test_quick_run_prints_lines_and_json(device, capsys):
    spec = importlib.util.spec_from_file_location("bench_kernels", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    returned = bench.main(["--quick", "--device", device])
    lines = capsys.readouterr().out.strip().splitlines()
    report = json.loads(lines[-1])
    assert report == json.loads(json.dumps(returned))
    assert report["device"] == ("CPU" if device == "cpu" else report["device"]) and report["device"]
    (rows,) = report["results"].values()
    assert {"sample_actions", "td_lambda_returns", "sdpg_targets"} <= set(rows)
    for row in rows.values():
        assert row["warp_us"] > 0 and row["torch_us"] > 0 and row["speedup"] > 0
        assert row.get("max_abs_diff", 0.0) < 1e-4  # both sides compute the same numbers
    names = [line.split(":")[0] for line in lines[:-1] if ": " in line]
    assert any(name.endswith("sdpg_targets.warp") for name in names)
    assert all(len(line.split(": ")[1].split()) == 2 for line in lines[:-1] if line.startswith("N"))
