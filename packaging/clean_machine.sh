#!/usr/bin/env bash
# The packaged app on a clean machine: a fresh minimal Debian 12 (debootstrap --variant=minbase, no Python at
# all) with only what an expert's desktop has (PortAudio, X11/GL libraries) plus the test's Xvfb, xdotool and
# PulseAudio, then packaging/smoke.sh inside it (chroot: only the kernel is shared with this machine).
#
#   sudo bash packaging/clean_machine.sh [TARBALL]      (default: the newest dist/trajrec-*.tar.gz)
#
# The root file system is made once under build/clean-root (about 760 MB, ~1 min from the Debian mirror) and
# reused; `--fresh` makes it again. Needs root and debootstrap (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
fresh=0
[[ ${1:-} == --fresh ]] && { fresh=1; shift; }
tarball=${1:-$(ls -t dist/trajrec-*-linux-x86_64.tar.gz 2>/dev/null | head -n 1)}
[[ -f $tarball ]] || { echo "clean_machine: no package tarball; run packaging/build.sh first" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "clean_machine: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null

ROOT=$PWD/build/clean-root
PACKAGES=libportaudio2,libxcb1,libgl1,libegl1,xvfb,xdotool,x11-utils,pulseaudio,pulseaudio-utils,libasound2-plugins
if [[ $fresh == 1 || ! -x $ROOT/usr/bin/Xvfb ]]; then
  rm -rf "$ROOT"
  echo "clean_machine: making a minimal Debian 12 in $ROOT"
  debootstrap --variant=minbase --include="$PACKAGES" bookworm "$ROOT" http://deb.debian.org/debian >"$ROOT.log" 2>&1 \
    || { tail -n 20 "$ROOT.log" >&2; exit 1; }
fi
if compgen -G "$ROOT/usr/bin/python*" >/dev/null; then
  echo "clean_machine: $ROOT has a Python; not a clean machine for this test (use --fresh)" >&2
  exit 1
fi

mounts=(proc dev dev/pts dev/shm sys)
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "$ROOT/${mounts[i]}" 2>/dev/null || true; done
  rm -rf "$ROOT/smoke"
}
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs tmpfs "$ROOT/dev/shm"
mount --bind /sys "$ROOT/sys"
mkdir -p "$ROOT/smoke"
cp packaging/smoke.sh "$tarball" "$ROOT/smoke/"
echo "clean_machine: packaging/smoke.sh $(basename "$tarball") in a Debian 12 chroot with no Python"
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  bash /smoke/smoke.sh "/smoke/$(basename "$tarball")"
