"""Run every benchmark and write one JSON plus a Markdown summary table.

  python bench/run_all.py                 # full sizes, results in bench/results/<device>_<date>.{json,md}
  python bench/run_all.py --quick --out /tmp/bench
"""

import argparse
import contextlib
import io
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# bench_render picks MuJoCo's OpenGL backend at import, which must come before anything imports mujoco.
import bench_render  # noqa: E402, I001
import bench_kernels  # noqa: E402
import bench_memory  # noqa: E402
import bench_sim  # noqa: E402
import bench_train  # noqa: E402

BENCHES = {"sim": bench_sim, "kernels": bench_kernels, "render": bench_render, "train": bench_train,
           "memory": bench_memory}
_LINE = re.compile(r"^([A-Za-z0-9_.\-]+): ([-+0-9.eE]+|nan|inf) (\S.*)$")


def run(name: str, argv: list) -> tuple[dict, list]:
    """Runs one bench's main, echoing its output; returns (its JSON, its ``name: value unit`` lines)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = BENCHES[name].main(argv)
    text = out.getvalue()
    print(text, end="")
    lines = [m.groups() for m in map(_LINE.match, text.splitlines()) if m]
    return result, lines


def markdown(device: str, date: str, lines: dict) -> str:
    rows = [f"# sdpg_warp benchmarks: {device}, {date}", "", "| bench | metric | value | unit |", "|---|---|---|---|"]
    for bench, entries in lines.items():
        for metric, value, unit in entries:
            rows.append(f"| {bench} | {metric} | {float(value):.4g} | {unit} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="every bench in its quick (smoke-test) mode")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHES), default=list(BENCHES))
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = parser.parse_args(argv)
    common = ["--device", args.device] + (["--quick"] if args.quick else [])
    results, lines = {}, {}
    for name in args.only:
        results[name], lines[name] = run(name, common)
    device = next(iter(results.values()))["device"]
    date = time.strftime("%Y-%m-%d")
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{re.sub(r'[^A-Za-z0-9]+', '_', device).strip('_')}_{date}")
    with open(stem + ".json", "w") as f:
        json.dump({"device": device, "date": date, "quick": args.quick, "results": results}, f, indent=1)
    with open(stem + ".md", "w") as f:
        f.write(markdown(device, date, lines))
    print(f"wrote {stem}.json and {stem}.md")
    return {"json": stem + ".json", "markdown": stem + ".md"}


if __name__ == "__main__":
    main()
