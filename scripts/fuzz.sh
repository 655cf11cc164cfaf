#!/usr/bin/env bash
# The long fuzz run, outside the test suite: tests/test_fuzz.py with thousands of cases per property.
# Usage: scripts/fuzz.sh [CASES]   (default 2000 per property; the suite runs 40)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
FUZZ_EXAMPLES=${1:-2000} exec .venv/bin/python -m pytest -q -p no:cacheprovider --timeout 0 tests/test_fuzz.py \
  -o addopts="-ra --strict-markers" --durations=0
