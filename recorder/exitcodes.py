"""Exit codes of `trajrec`: the same meaning in every subcommand."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # done; for validate: every bundle valid
    INVALID = 1  # validate: at least one bundle invalid
    USAGE = 2  # bad arguments or paths: nothing was done
    FAILURE = 3  # the work could not be done (I/O error, a bundle that cannot be written...)
    INTERRUPTED = 130  # Ctrl+C
