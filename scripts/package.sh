#!/usr/bin/env bash
# The desktop package, end to end (not part of the test suite; about 5 minutes on 2 cores):
#   1. packaging/build.sh          dist/trajrec/ and dist/trajrec-<version>-linux-<arch>.tar.gz
#   2. packaging/smoke.sh          the tarball on a clean desktop session: record, validate, GUI, upload/download
#   3. packaging/clean_machine.sh  (as root) the same smoke test inside a fresh minimal Debian 12 with no Python
#   4. packaging/check_installs.sh pip install (core) and [desktop] into fresh venvs
# Usage: scripts/package.sh [--clean]     (--clean: rebuild from scratch)
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/build.sh "$@"
version=$(.venv/bin/python -c 'import recorder; print(recorder.__version__)')
status=0
tarball="dist/trajrec-$version-linux-$(uname -m).tar.gz"
bash packaging/smoke.sh "$tarball" || status=1
if [[ $(id -u) -eq 0 ]]; then
  bash packaging/clean_machine.sh "$tarball" || status=1
else
  echo "package: not root: skipping packaging/clean_machine.sh (a Debian 12 chroot needs root)"
fi
bash packaging/check_installs.sh || status=1
exit $status
