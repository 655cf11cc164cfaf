#!/usr/bin/env bash
# Benchmarks (not part of the test suite): set up with the reference tools, then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
.venv/bin/python bench/validate.py "$@"
