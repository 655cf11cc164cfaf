#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: set up, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check trajrec recorder uploader schemas tests bench scripts
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
