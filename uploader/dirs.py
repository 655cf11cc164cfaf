"""The uploader's directories, handed in by the caller: the uploader never decides where files live.

The recorder resolves them (platform directories, each overridden by its `TRAJREC_*_DIR` variable) and
passes them down; tests and benchmarks pass temporary ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SETTINGS_FILE = "store.toml"
LEDGER_FILE = "uploads.sqlite"
STORE_FOLDER = "store"


@dataclass(frozen=True)
class Dirs:
    config: Path  # the store settings file, the embedded store's key file and its (empty) rclone config
    data: Path  # the upload ledger, and the embedded store's buckets under store/
    logs: Path  # the embedded store's server log

    @property
    def settings(self) -> Path:
        """The store settings file, shared by the command line and the app."""
        return self.config / SETTINGS_FILE

    @property
    def store(self) -> Path:
        """The embedded store's data directory: one sub-directory per bucket."""
        return self.data / STORE_FOLDER

    @property
    def ledger(self) -> Path:
        """The upload ledger, next to the embedded store's data."""
        return self.data / LEDGER_FILE
