#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: set up, make a sample trajectory bundle, validate it.
# (Until the recorder lands, the sample is synthesized through the real writers: H.264, FLAC, Parquet.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${1:-samples}
bundle=$(.venv/bin/trajrec sample "$out" --duration 20 --pause)
.venv/bin/trajrec info "$bundle"
echo
.venv/bin/trajrec validate --deep "$bundle"
