#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: set up, record a real session, validate it, upload it to the
# embedded store, download it back, validate and compare. With DISPLAY set it records this screen after
# asking (--yes skips the question, --no-audio the microphone); without one it records a scripted session on a
# private Xvfb display with a virtual microphone. Usage: scripts/demo.sh [OUT] [--seconds N] [--yes] [--no-audio]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py "$@"
