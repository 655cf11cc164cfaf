#!/usr/bin/env bash
# Benchmarks (not part of the test suite): set up with the reference tools, then run one.
# Usage: scripts/bench.sh [validate|capture|upload|labs] [options of bench/<name>.py]   (default: validate)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bench
name=validate
if [[ "${1:-}" == "validate" || "${1:-}" == "capture" || "${1:-}" == "upload" || "${1:-}" == "labs" ]]; then
  name=$1
  shift
fi
exec .venv/bin/python "bench/$name.py" "$@"
