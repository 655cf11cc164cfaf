#!/usr/bin/env bash
# Build the desktop package: a PyInstaller one-folder app in dist/trajrec/ and its tarball
# dist/trajrec-<version>-linux-x86_64.tar.gz (Linux x86_64, X11).
#
#   dist/trajrec/trajrec            the command line (recorder.cli:main)
#   dist/trajrec/trajrec-gui        the desktop app (recorder.app.main:main)
#   dist/trajrec/_internal/         Python, the libraries, Qt, FFmpeg (PyAV), rclone (bin/rclone)
#   dist/trajrec/install.sh         per-user install: ~/.local/opt/trajrec, ~/.local/bin links, menu entry
#   dist/trajrec/share/             the .desktop entry and the icon
#   dist/trajrec/LICENSES/          the project's licence and the third-party notices (FFmpeg/x264: GPL)
#
# Usage: packaging/build.sh [--clean]    (--clean: drop PyInstaller's cache and earlier outputs first)
# Idempotent: a re-run rebuilds dist/trajrec/ and the tarball in place. Sets up .venv through scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

clean=0
for arg in "$@"; do
  case "$arg" in
    --clean) clean=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
WORK=build/pyinstaller
DIST=dist
APP=$DIST/trajrec

bash scripts/setup.sh
PY=.venv/bin/python
if ! $PY -c 'import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ("PyInstaller", "PySide6", "mss", "pynput", "sounddevice")))'; then
  echo "build: installing the project with its desktop and packaging extras into .venv"
  $PY -m pip install -q -e '.[desktop,packaging]'
fi
VERSION=$($PY -c 'import recorder; print(recorder.__version__)')
ARCH=$(uname -m)
TARBALL=$DIST/trajrec-$VERSION-linux-$ARCH.tar.gz
# Reproducible outputs: fixed timestamps in the archive, no hash randomisation during the build.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y pyproject.toml)}
export PYTHONHASHSEED=0

if ((clean)); then
  rm -rf "$WORK" "$APP" "$DIST"/trajrec-*.tar.gz
fi
mkdir -p "$WORK" "$DIST"

# 1. The project as installed: unpack its own wheel (trajrec.schemas is schemas/ in the source tree).
echo "build: trajectory-recorder $VERSION: wheel"
rm -rf "$WORK/wheel" "$WORK/src"
$PY -m pip wheel -q --no-deps -w "$WORK/wheel" . >"$WORK/wheel.log" 2>&1 \
  || { cat "$WORK/wheel.log" >&2; exit 1; }
$PY -m zipfile -e "$WORK"/wheel/trajectory_recorder-"$VERSION"-*.whl "$WORK/src"

# 2. PyInstaller: one folder, two executables sharing _internal/.
echo "build: PyInstaller (log: $WORK/pyinstaller.log)"
pyi_args=(--noconfirm --log-level WARN --distpath "$DIST" --workpath "$WORK/work")
((clean)) && pyi_args+=(--clean)
if ! TRAJREC_SRC="$ROOT/$WORK/src" $PY -m PyInstaller "${pyi_args[@]}" packaging/trajrec.spec >"$WORK/pyinstaller.log" 2>&1; then
  tail -n 30 "$WORK/pyinstaller.log" >&2
  echo "build: PyInstaller failed; the full log is $WORK/pyinstaller.log" >&2
  exit 1
fi
chmod 755 "$APP/_internal/bin/rclone"

# 3. Desktop integration, installer, licences.
echo "build: desktop entry, icon, install.sh, LICENSES/"
rm -rf "$APP/share"
mkdir -p "$APP/share/applications" "$APP/share/icons/hicolor/scalable/apps"
install -m 644 packaging/trajrec.desktop "$APP/share/applications/trajrec.desktop"
install -m 644 packaging/trajrec.svg "$APP/share/icons/hicolor/scalable/apps/trajrec.svg"
QT_QPA_PLATFORM=offscreen $PY packaging/render_icon.py "$APP/share/icons/hicolor" 256 128 64 48 32 >/dev/null
for d in "$APP"/share/icons/hicolor/*x*; do mkdir -p "$d/apps" && mv "$d/trajrec.png" "$d/apps/trajrec.png"; done
install -m 755 packaging/install.sh "$APP/install.sh"
$PY packaging/notices.py "$APP" "$WORK/work/trajrec" >/dev/null
cat >"$APP/README.txt" <<EOF
Trajectory Recorder $VERSION for Linux ($ARCH, X11)

  ./install.sh           install for this user (~/.local/opt/trajrec, ~/.local/bin, the menu entry)
  ./trajrec-gui          or run it from here without installing
  ./trajrec --help       the command line (record, validate, upload, download, ...)

Needs an X11 session, glibc >= 2.36 (Debian 12, Ubuntu 23.04, Fedora 37 or newer) and, from the system,
PortAudio for the microphone and the graphics stack (present on any desktop):
  sudo apt install libportaudio2 libxcb1 libgl1 libegl1
Licences: LICENSES/ (the package includes FFmpeg with x264/x265, so it is distributed under GPL terms).
EOF
find "$APP" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# 4. The tarball (sorted, numeric owners, fixed mtimes, gzip without a timestamp).
echo "build: $TARBALL"
rm -f "$TARBALL"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -C "$DIST" -cf - trajrec \
  | gzip -n -6 >"$TARBALL.tmp"
mv "$TARBALL.tmp" "$TARBALL"

# 5. Did it work at all: both executables start; rclone runs.
"$APP/trajrec" --version
"$APP/_internal/bin/rclone" version | head -n 1

end=$(date +%s)
echo "build: done in $((end - start)) s: $APP $(du -sh "$APP" | cut -f1), $TARBALL $(du -h "$TARBALL" | cut -f1)"
