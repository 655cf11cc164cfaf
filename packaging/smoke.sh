#!/usr/bin/env bash
# Smoke test of the built package as an expert's machine would run it: packaging/smoke.sh DIST_DIR_OR_TARBALL
#
# A tarball is unpacked into a temporary folder first. Every trajrec command then runs with an empty environment
# except what a desktop session has (`env -i HOME=<tmp> PATH=/usr/bin:/bin DISPLAY=:N XDG_RUNTIME_DIR=... LANG`):
# no venv, no PYTHONPATH, nothing of the build. To show that no Python installation is used, the checks also run
# with a PATH that holds no python at all, and the running app's mapped files are checked for a Python outside
# the package. (A real clean machine is a fresh container or VM; on the build machine this is the stand-in.)
#
# It starts its own Xvfb (and a PulseAudio virtual microphone when pulseaudio is installed), then checks:
# --version; a 3 s headless recording without audio, and one with audio; `validate --deep` of both bundles;
# the desktop app shows its window; `upload` to the embedded store (the bundled rclone) and `download` back,
# then `validate --deep` of what came back. One PASS/FAIL line per check; exit 1 if any failed.
# Needs: Xvfb, xdotool, xdpyinfo (x11-utils); pulseaudio + pactl + pacat for the audio check (else SKIP).
# KEEP=1 keeps the temporary folder.
set -uo pipefail

src=${1:?usage: packaging/smoke.sh DIST_DIR_OR_TARBALL}
for tool in Xvfb xdotool xdpyinfo; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is not installed (scripts/setup.sh installs it)" >&2; exit 2; }
done

T=$(mktemp -d /tmp/trajrec-smoke.XXXXXX)
chmod 755 "$T"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "smoke: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

failures=0
pass() { printf 'PASS %-34s %s\n' "$1" "${2:-}"; }
fail() {
  printf 'FAIL %-34s %s\n' "$1" "${2:-}"
  failures=$((failures + 1))
  if [[ -n ${3:-} && -f $3 ]]; then sed 's/^/     | /' "$3" | tail -n 15; fi
}
skip() { printf 'SKIP %-34s %s\n' "$1" "${2:-}"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

# --- the package ------------------------------------------------------------------------------------------
if [[ -d $src ]]; then
  APP=$(cd "$src" && pwd -P)
else
  mkdir -p "$T/pkg"
  t0=$(now)
  if tar -xzf "$src" -C "$T/pkg" && [[ -x $T/pkg/trajrec/trajrec ]]; then
    APP=$T/pkg/trajrec
    pass "unpack tarball" "$(secs "$t0"), $(du -sh "$APP" | cut -f1)"
  else
    fail "unpack tarball" "$src has no trajrec/trajrec"
    exit 1
  fi
fi
[[ -x $APP/trajrec && -x $APP/trajrec-gui ]] || { fail "package layout" "$APP: trajrec, trajrec-gui missing"; exit 1; }

# --- a desktop session: display, runtime dir, home ----------------------------------------------------------
n=$(for i in $(seq 120 220); do [[ -e /tmp/.X11-unix/X$i || -e /tmp/.X$i-lock ]] || { echo "$i"; break; }; done)
Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp -noreset >"$T/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do xdpyinfo -display ":$n" >/dev/null 2>&1 && break; sleep 0.1; done
if ! xdpyinfo -display ":$n" >/dev/null 2>&1; then fail "Xvfb :$n" "did not start" "$T/xvfb.log"; exit 1; fi
mkdir -p -m 700 "$T/home" "$T/run"

# A PATH with the basic tools of a desktop and no python (checked below).
mkdir -p "$T/nopy-bin"
for tool in sh bash env ls cat uname id xdg-open; do
  p=$(command -v "$tool") && ln -sf "$p" "$T/nopy-bin/$tool"
done

desktop=(env -i "HOME=$T/home" "PATH=/usr/bin:/bin" "DISPLAY=:$n" "XDG_RUNTIME_DIR=$T/run" "LANG=C.UTF-8"
  "USER=${USER:-$(id -un)}")
nopy=(env -i "HOME=$T/home" "PATH=$T/nopy-bin" "DISPLAY=:$n" "XDG_RUNTIME_DIR=$T/run" "LANG=C.UTF-8"
  "USER=${USER:-$(id -un)}")
if "${nopy[@]}" sh -c 'command -v python3 || command -v python' >/dev/null 2>&1; then
  fail "PATH without python" "$T/nopy-bin has a python"
fi

# run LOG COMMAND...: run a command (with its env -i prefix), its output to LOG.
run() {
  local log=$1
  shift
  "$@" >"$log" 2>&1
}

# --- checks -------------------------------------------------------------------------------------------------
t0=$(now)
if run "$T/version.log" "${nopy[@]}" "$APP/trajrec" --version && grep -q '^trajrec [0-9]' "$T/version.log"; then
  pass "trajrec --version (no python on PATH)" "$(cat "$T/version.log"), $(secs "$t0")"
else
  fail "trajrec --version (no python on PATH)" "" "$T/version.log"
fi
t0=$(now)
if run "$T/version2.log" "${desktop[@]}" "$APP/trajrec" --version; then
  pass "trajrec --version (desktop env)" "$(secs "$t0")"
else
  fail "trajrec --version (desktop env)" "" "$T/version2.log"
fi

bundles=()
t0=$(now)
if "${nopy[@]}" "$APP/trajrec" record --consent --duration 3 --no-audio --task-id smoke --out "$T/bundles" \
  >"$T/record.out" 2>"$T/record.log" && b=$(tail -n 1 "$T/record.out") && [[ -f $b/manifest.json ]]; then
  bundles+=("$b")
  pass "record 3 s, no audio" "$(secs "$t0"), $(basename "$b"), $(du -sh "$b" | cut -f1)"
else
  fail "record 3 s, no audio" "" "$T/record.log"
fi

# The microphone: PulseAudio with a null sink whose monitor is the default source, found by the package's
# PortAudio through the session's XDG_RUNTIME_DIR, as on a desktop.
if command -v pulseaudio >/dev/null && command -v pactl >/dev/null && command -v pacat >/dev/null; then
  pulse_env=(env "XDG_RUNTIME_DIR=$T/run" "HOME=$T/home")
  "${pulse_env[@]}" pulseaudio -n --daemonize=no --exit-idle-time=-1 --use-pid-file=no \
    --log-target="file:$T/pulse.log" -L module-native-protocol-unix \
    -L "module-null-sink sink_name=vsink sink_properties=device.description=VirtualSpeaker" \
    -L "module-remap-source master=vsink.monitor source_name=vmic source_properties=device.description=VirtualMic" \
    >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 200); do "${pulse_env[@]}" pactl info >/dev/null 2>&1 && break; sleep 0.025; done
  "${pulse_env[@]}" pactl set-default-sink vsink && "${pulse_env[@]}" pactl set-default-source vmic
  # keepalive: without a stream the idle null sink delivers capture in 2 s bursts
  "${pulse_env[@]}" pacat -p -d vsink --latency-msec=20 --raw --format=s16le --rate=44100 --channels=2 /dev/zero &
  pids+=($!)
  for _ in $(seq 1 200); do [[ -n $("${pulse_env[@]}" pactl list short sink-inputs 2>/dev/null) ]] && break; sleep 0.01; done
  "${pulse_env[@]}" pactl suspend-sink vsink 1 && "${pulse_env[@]}" pactl suspend-sink vsink 0
  # something to hear: 5 s of noise played into the sink the microphone listens to (noise does not compress,
  # so the FLAC's size shows that sound came through)
  head -c 480000 /dev/urandom | "${pulse_env[@]}" pacat -p -d vsink --raw --format=s16le --rate=48000 --channels=1 \
    --volume=16384 &
  pids+=($!)
  t0=$(now)
  if "${desktop[@]}" "$APP/trajrec" record --consent --duration 3 --task-id smoke-audio --out "$T/bundles" \
    >"$T/record-audio.out" 2>"$T/record-audio.log" && b=$(tail -n 1 "$T/record-audio.out") \
    && [[ -f $b/audio/voiceover.flac ]]; then
    bundles+=("$b")
    flac=$(stat -c %s "$b/audio/voiceover.flac")
    samples=$(tr -d ' \n' <"$b/manifest.json" | grep -o '"samples":[0-9]*' | head -n 1 | cut -d: -f2)
    if ((flac > 50000)); then
      pass "record 3 s with audio (PulseAudio mic)" "$(secs "$t0"), ${samples:-?} samples at 48 kHz, FLAC $((flac / 1024)) KiB"
    else
      fail "record 3 s with audio (PulseAudio mic)" "FLAC of $flac bytes: the noise played into the mic is not there"
    fi
  else
    fail "record 3 s with audio (PulseAudio mic)" "" "$T/record-audio.log"
  fi
else
  skip "record 3 s with audio" "pulseaudio/pactl/pacat not installed"
fi

for b in "${bundles[@]}"; do
  t0=$(now)
  if run "$T/validate.log" "${nopy[@]}" "$APP/trajrec" validate --deep --progress never "$b"; then
    pass "validate --deep $(basename "$b" | cut -c1-24)" "$(secs "$t0"): $(grep -Eo '[0-9]+ bundles?: .*' "$T/validate.log" | head -n 1)"
  else
    fail "validate --deep $(basename "$b" | cut -c1-24)" "exit $?" "$T/validate.log"
  fi
done

# Upload what `record` queued to the embedded store (the package's own rclone), and download it back.
if ((${#bundles[@]})); then
  t0=$(now)
  if run "$T/upload.log" "${nopy[@]}" "$APP/trajrec" upload; then
    pass "upload (embedded store, bundled rclone)" "$(secs "$t0"): $(tail -n 1 "$T/upload.log")"
  else
    fail "upload (embedded store, bundled rclone)" "" "$T/upload.log"
  fi
  t0=$(now)
  if run "$T/download.log" "${nopy[@]}" "$APP/trajrec" download s3://trajectories "$T/downloaded"; then
    got=$(find "$T/downloaded" -mindepth 2 -maxdepth 2 -name manifest.json | wc -l)
    if ((got == ${#bundles[@]})); then
      pass "download" "$(secs "$t0"), $got bundles"
    else
      fail "download" "$got bundles downloaded, ${#bundles[@]} uploaded" "$T/download.log"
    fi
  else
    fail "download" "" "$T/download.log"
  fi
  t0=$(now)
  if run "$T/validate-down.log" "${nopy[@]}" "$APP/trajrec" validate --deep --progress never "$T/downloaded"; then
    pass "validate --deep of the downloads" "$(secs "$t0"): $(grep -Eo '[0-9]+ bundles?: .*' "$T/validate-down.log" | head -n 1)"
  else
    fail "validate --deep of the downloads" "" "$T/validate-down.log"
  fi
  differ=0
  for b in "${bundles[@]}"; do
    if ! diff -rq "$b" "$T/downloaded/$(basename "$b")" >"$T/diff.log" 2>&1; then
      fail "round trip is byte-identical" "$(basename "$b")" "$T/diff.log"
      differ=1
    fi
  done
  ((differ)) || pass "round trip is byte-identical" "${#bundles[@]} bundles"
fi

# The desktop app (last: it starts sending the upload queue itself): its window appears on the display, and no
# Python outside the package is loaded.
t0=$(now)
"${desktop[@]}" QT_QPA_PLATFORM=xcb "$APP/trajrec-gui" >"$T/gui.log" 2>&1 &
gui=$!
pids+=("$gui")
win=""
for _ in $(seq 1 150); do
  win=$(DISPLAY=:$n xdotool search --name "Trajectory Recorder" 2>/dev/null | head -n 1)
  [[ -n $win ]] && break
  kill -0 "$gui" 2>/dev/null || break
  sleep 0.1
done
if [[ -n $win ]]; then
  sleep 3  # let it run for a while: the store check, the level meter, the monitor thumbnails
  geometry=$(DISPLAY=:$n xdotool getwindowgeometry "$win" | grep -o 'Geometry: .*')
  if kill -0 "$gui" 2>/dev/null; then
    pass "trajrec-gui shows its window" "$(secs "$t0"), window $win, ${geometry:-?}"
  else
    fail "trajrec-gui shows its window" "it exited after showing it" "$T/gui.log"
  fi
  foreign=$(grep -i python "/proc/$gui/maps" 2>/dev/null | awk '{print $6}' | grep -v "^$APP/" | sort -u)
  if [[ -z $foreign ]]; then
    pass "no Python outside the package" "$(grep -c "$APP/" "/proc/$gui/maps" 2>/dev/null) mappings from the package"
  else
    fail "no Python outside the package" "$(echo "$foreign" | head -n 3 | tr '\n' ' ')"
  fi
  kill -TERM "$gui" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$gui" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$gui" 2>/dev/null; then
    fail "trajrec-gui closes on SIGTERM" "still running after 5 s"
    kill -KILL "$gui" 2>/dev/null
  fi
else
  fail "trajrec-gui shows its window" "no window named 'Trajectory Recorder' within 15 s" "$T/gui.log"
  kill -KILL "$gui" 2>/dev/null
fi

if ((failures)); then
  echo "smoke: $failures check(s) FAILED"
  exit 1
fi
echo "smoke: all checks passed"
