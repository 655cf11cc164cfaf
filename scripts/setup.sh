#!/usr/bin/env bash
# Set up everything the project needs on a fresh Debian 12 machine, idempotently:
# Debian packages (when run as root), a virtual environment in .venv, the project with its extras.
# Usage: scripts/setup.sh [--bench]     (--bench adds ffmpeg, the benchmarks' reference tools)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3 python3-venv ca-certificates openssl
  # capture and its tests: a virtual display with XTEST input injection, a virtual microphone, Qt's X11 needs
  xvfb xdotool x11-utils xauth pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins
  libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1
  # the demo's scripted session on a private display: a real terminal, spoken narration
  xterm espeak-ng
  # privacy guards and their tests: the accessibility bus (AT-SPI over D-Bus), a window manager, and GTK 3 test
  # windows run by the system's Python (python3-gi); the recorder itself speaks D-Bus from the venv (jeepney)
  dbus at-spi2-core openbox python3-gi gir1.2-gtk-3.0
  # a real browser whose incognito windows are recognised by what its accessibility tree says
  chromium
  # on-screen secret scan (OCR, through pytesseract)
  tesseract-ocr
  # packaging checks (tests/test_packaging.py): the .desktop entry validator
  desktop-file-utils
  # the grant token in a real Secret Service keyring (tests/test_grants.py)
  gnome-keyring)
if [[ "${1:-}" == "--bench" ]]; then
  APT_PACKAGES+=(ffmpeg coreutils)  # the benchmarks' references
fi

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]} (run this script as root, or: sudo apt-get install ${missing[*]})" >&2
    # Python may still come from elsewhere (pyenv, a distribution of its own): carry on and let the checks below decide.
  fi
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: Python >= 3.11 is required; '$PY' is $("$PY" --version 2>&1 || echo missing). Set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys' 2>/dev/null; then
  rm -rf .venv
  "$PY" -m venv .venv
fi

# Reinstall only when the project's requirements changed.
stamp=.venv/.trajrec-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]] || ! .venv/bin/python -c 'import recorder, av, pyarrow' 2>/dev/null; then
  echo "setup: installing the project into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -e ".[dev]"; } \
      > .venv/install.log 2>&1 \
      || ! .venv/bin/python -c 'import recorder, av, pyarrow, soundfile, mcap, cv2' 2>>.venv/install.log; then
    tail -n 20 .venv/install.log >&2
    echo "setup: installing the project failed; the full log is .venv/install.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
