"""Smoke test: bench/bench_kernels.py runs end to end in --quick mode on the test device and prints JSON."""

import importlib.util
import json
import pathlib

import torch

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_kernels.py"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_kernels", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_quick_run_prints_lines_and_json(device, capsys):
    bench = load_bench()
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


def test_tied_returns_are_integers(device):
    bench = load_bench()
    generator = torch.Generator(device=device).manual_seed(0)
    tied = bench.bench_returns(64, 8, True, generator)
    assert set(tied.unique().tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
    assert bench.bench_returns(64, 8, False, generator).unique().numel() == 64 * 8
    report = bench.main(["--quick", "--device", device, "--tied-returns"])
    assert report["returns"] == "integers in [-2, 2]"
    assert any(name.startswith("sdpg_targets_top") for name in next(iter(report["results"].values())))
