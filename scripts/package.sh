#!/usr/bin/env bash
# The desktop package, end to end (not part of the test suite; about 5 minutes on 2 cores):
#   1. packaging/build.sh          dist/trajrec/ and dist/trajrec-<version>-linux-<arch>.tar.gz
#   2. packaging/smoke.sh          the tarball on a clean desktop session: record, validate, GUI, upload/download
#   3. packaging/check_installs.sh pip install (core) and [desktop] into fresh venvs
# Usage: scripts/package.sh [--clean]     (--clean: rebuild from scratch)
set -euo pipefail
cd "$(dirname "$0")/.."
bash packaging/build.sh "$@"
version=$(.venv/bin/python -c 'import recorder; print(recorder.__version__)')
status=0
bash packaging/smoke.sh "dist/trajrec-$version-linux-$(uname -m).tar.gz" || status=1
bash packaging/check_installs.sh || status=1
exit $status
