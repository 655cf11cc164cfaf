#!/usr/bin/env bash
# Install the Trajectory Recorder for this user, from the unpacked folder this script sits in:
#   ~/.local/opt/trajrec/                      the app (replaced as a whole on re-install)
#   ~/.local/bin/trajrec, trajrec-gui          links to its two programs
#   ~/.local/share/applications/trajrec.desktop and the icon, so "Trajectory Recorder" is in the menu
# Usage: ./install.sh [--prefix DIR] [--uninstall]      (DIR defaults to ~/.local; no root needed)
# Safe to run again. Your recordings, settings and upload queue are not touched, by install or uninstall.
set -euo pipefail

prefix="${HOME:?HOME is not set}/.local"
action=install
while (($#)); do
  case "$1" in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) action=uninstall; shift ;;
    -h|--help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
app="$prefix/opt/trajrec"
bin="$prefix/bin"
share="$prefix/share"

refresh_menus() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$share/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$share/icons/hicolor" || true
}

if [[ $action == uninstall ]]; then
  for link in "$bin/trajrec" "$bin/trajrec-gui"; do
    if [[ -L $link && $(readlink "$link") == "$app/"* ]]; then rm -f "$link"; fi
  done
  rm -f "$share/applications/trajrec.desktop"
  rm -f "$share/icons/hicolor/scalable/apps/trajrec.svg" "$share/icons/hicolor/"*/apps/trajrec.png
  rm -rf "$app"
  refresh_menus
  echo "Trajectory Recorder removed (recordings and settings are kept)."
  exit 0
fi

if [[ ! -x $here/trajrec || ! -x $here/trajrec-gui || ! -d $here/_internal ]]; then
  echo "install.sh: $here is not an unpacked Trajectory Recorder (trajrec, trajrec-gui, _internal/ missing)" >&2
  exit 1
fi

# Copy the whole folder next to its final place, then swap it in: a failed copy leaves the old install working.
mkdir -p "$prefix/opt" "$bin" "$share/applications"
if [[ $here != "$app" ]]; then
  staging="$prefix/opt/.trajrec.new.$$"
  rm -rf "$staging"
  trap 'rm -rf "$staging"' EXIT
  cp -a "$here/." "$staging/"
  rm -rf "$prefix/opt/.trajrec.old"
  [[ -e $app ]] && mv "$app" "$prefix/opt/.trajrec.old"
  mv "$staging" "$app"
  rm -rf "$prefix/opt/.trajrec.old"
  trap - EXIT
fi

ln -sfn "$app/trajrec" "$bin/trajrec"
ln -sfn "$app/trajrec-gui" "$bin/trajrec-gui"

icons="$app/share/icons/hicolor"
if [[ -d $icons ]]; then
  for dir in "$icons"/*/apps; do
    size=$(basename "$(dirname "$dir")")
    mkdir -p "$share/icons/hicolor/$size/apps"
    cp -f "$dir"/trajrec.* "$share/icons/hicolor/$size/apps/"
  done
fi

# The menu entry names the installed program by its full path: ~/.local/bin need not be on PATH.
sed -e "s|^Exec=.*|Exec=\"$app/trajrec-gui\"|" -e "s|^TryExec=.*|TryExec=$app/trajrec-gui|" \
  "$app/share/applications/trajrec.desktop" > "$share/applications/trajrec.desktop"
chmod 644 "$share/applications/trajrec.desktop"
refresh_menus

echo "Trajectory Recorder $("$app/trajrec" --version 2>/dev/null | awk '{print $2}') installed in $app"
echo "  start it from the menu (Trajectory Recorder) or with: trajrec-gui"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "  note: $bin is not on your PATH; add it (e.g. in ~/.profile) to type trajrec / trajrec-gui" ;;
esac

# What the app takes from the system (everything else is in the package): say what is missing now, not later.
missing=()
if command -v ldconfig >/dev/null 2>&1 || [[ -x /sbin/ldconfig ]]; then
  libs=$({ ldconfig -p 2>/dev/null || /sbin/ldconfig -p; } | awk '{print $1}')
  for lib in libportaudio.so.2 libxcb.so.1 libGL.so.1 libEGL.so.1; do
    grep -qx "$lib" <<<"$libs" || missing+=("$lib")
  done
fi
if ((${#missing[@]})); then
  echo "  warning: missing system libraries: ${missing[*]}"
  echo "  on Debian/Ubuntu: sudo apt install libportaudio2 libxcb1 libgl1 libegl1"
fi
