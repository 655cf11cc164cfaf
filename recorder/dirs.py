"""Where the uploader's files live on this machine: the recorder resolves the directories and hands them in.

Settings, data (upload ledger, embedded store) and logs, each moved by its `TRAJREC_*_DIR` variable. Every
command and app screen that uploads, downloads or reads s3:// takes its directories from `uploader_dirs()`.
"""

from __future__ import annotations

from recorder.logs import config_dir, data_dir, log_dir
from uploader.dirs import Dirs


def uploader_dirs() -> Dirs:
    """The uploader's directories on this machine (platform directories unless overridden)."""
    return Dirs(config=config_dir(), data=data_dir(), logs=log_dir())
