"""bench/resume_abort_count.py reads the ranks' exit codes from torchrun's failure summary."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))

import resume_abort_count  # noqa: E402

SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
sdpg_warp.train FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2026-12-06_20:49:59
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -15 (pid: 22971)
  error_file: <N/A>
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 0 (local_rank: 0)
  exitcode  : -6 (pid: 22970)
  traceback : Signal 6 (SIGABRT) received by PID 22970
============================================================
"""


def test_rank_exit_codes_and_what_counts_as_an_abort():
    assert resume_abort_count.rank_exit_codes(SUMMARY) == [-15, -6]
    assert resume_abort_count.rank_exit_codes("") == []
    assert resume_abort_count.is_abort([-15, -6]) and resume_abort_count.is_abort([134])
    assert not resume_abort_count.is_abort([2, 2]) and not resume_abort_count.is_abort([])
