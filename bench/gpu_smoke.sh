#!/usr/bin/env bash
# The first GPU run in one command (bench/gpu_smoke.py says what each stage does):
#   bench/gpu_smoke.sh            on a GPU machine: report in bench/results/<gpu>_<date>.{json,md}
#   bench/gpu_smoke.sh --dry-run  anywhere: every stage on the CPU at tiny sizes, report in a temporary folder
# Exit status: 0 when every stage passed, 1 when one failed (the report says which), 2 on bad input.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python}" bench/gpu_smoke.py "$@"
