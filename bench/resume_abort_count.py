"""Exit-time aborts of resumed 2-rank CPU runs: the distributed shutdown (``distributed.joined``
meets at a barrier before leaving the process group) exists so that no rank tears its gloo
connections down while another is still in a collective; without it a rank could die of SIGABRT at
exit. This counts how often that still happens.

  python bench/resume_abort_count.py --resumes 50

Trains a tiny run (pointmass from the state, N=2, M=3, H=4, one Torch thread) for one epoch with
``torchrun --standalone --nproc-per-node 2``, then resumes it ``--resumes`` times in a row, one more
epoch each, through ``torchrun ... -m sdpg_warp.train --resume``: every resume builds, loads every
rank's state, trains an epoch, checkpoints and leaves, which is the exit path in question. An
abort is a resume where a rank ended by a signal (torchrun reports a negative exit code) or with
134 (128 + SIGABRT, through a shell); any other non-zero exit is counted apart as a failure. Prints
``name: value unit`` lines, then one JSON object.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

TINY = ["--task", "pointmass", "--obs", "state", "--device", "cpu", "--num-nominal", "2", "--num-aux", "3",
        "--horizon", "4", "--critic-minibatch", "16", "--checkpoint-every", "1", "--threads", "1"]


def rank_exit_codes(torchrun_stderr: str) -> list:
    """The exit codes of the failed ranks, as torchrun's failure summary lists them
    (``exitcode  : -6 (pid: 123)``); empty when every rank exited 0."""
    return [int(code) for code in re.findall(r"^\s*exitcode\s*:\s*(-?\d+)", torchrun_stderr, flags=re.M)]


def is_abort(codes: list) -> bool:
    """A rank killed by a signal, or one whose shell reported SIGABRT (134)."""
    return any(code < 0 or code == 134 for code in codes)


def _torchrun(args: list, ranks: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
               "-m", "sdpg_warp.train", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resumes", type=int, default=50, help="K: resumes in a row")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--out", default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as log_dir:
        run = os.path.join(log_dir, "r")
        first = _torchrun([*TINY, "--epochs", "1", "--log-dir", log_dir, "--run-name", "r"], args.ranks)
        if first.returncode != 0:
            raise RuntimeError(f"the first run failed:\n{first.stdout[-2000:]}\n{first.stderr[-4000:]}")
        aborts, failures, codes, seconds = [], [], {}, []
        for k in range(args.resumes):
            start = time.perf_counter()
            done = _torchrun(["--resume", run, "--epochs", str(k + 2)], args.ranks)
            seconds.append(time.perf_counter() - start)
            failed = rank_exit_codes(done.stderr) if done.returncode != 0 else []
            for code in failed:
                codes[str(code)] = codes.get(str(code), 0) + 1
            if is_abort(failed):
                aborts.append({"resume": k + 1, "exit_codes": failed, "stderr_tail": done.stderr[-1500:]})
            elif done.returncode != 0:
                failures.append({"resume": k + 1, "returncode": done.returncode, "exit_codes": failed,
                                 "stderr_tail": done.stderr[-1500:]})
            print(f"resume {k + 1}/{args.resumes}: torchrun exit {done.returncode}"
                  f"{f', rank exit codes {failed}' if failed else ''} ({seconds[-1]:.1f} s)", file=sys.stderr,
                  flush=True)
        import torch

        epoch = int(torch.load(os.path.join(run, "checkpoint.pt"), weights_only=False)["epoch"])
    results = {
        "device": "CPU", "date": time.strftime("%Y-%m-%d"), "ranks": args.ranks, "resumes": args.resumes,
        "aborts": len(aborts), "other_failures": len(failures), "failed_rank_exit_codes": codes,
        "final_epoch": epoch, "expected_final_epoch": 1 + args.resumes,
        "seconds_per_resume_median": sorted(seconds)[len(seconds) // 2] if seconds else None,
        "load_average_1min_before": load_before, "load_average_1min_after": os.getloadavg()[0],
        "abort_details": aborts, "failure_details": failures,
    }
    print(f"resume_aborts_resumes: {args.resumes} runs")
    print(f"resume_aborts_aborted: {len(aborts)} runs")
    print(f"resume_aborts_other_failures: {len(failures)} runs")
    print(f"resume_aborts_final_epoch: {epoch} epochs")
    if seconds:
        print(f"resume_aborts_seconds_per_resume: {results['seconds_per_resume_median']:.1f} s")
    print(f"resume_aborts_load_average: {load_before:.2f} processes")
    print(json.dumps(results))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
