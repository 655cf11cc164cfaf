"""The recorder's directories on this machine (logs, settings, data; each moved by its `TRAJREC_*_DIR`
variable), and logging to the log directory (e.g. ~/.local/state/trajrec/log on Linux)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

APP = "trajrec"


def log_dir() -> Path:
    override = os.environ.get("TRAJREC_LOG_DIR")
    return Path(override) if override else Path(platformdirs.user_log_dir(APP, appauthor=False))


def config_dir() -> Path:
    """The settings directory (e.g. ~/.config/trajrec on Linux); `TRAJREC_CONFIG_DIR` overrides it."""
    override = os.environ.get("TRAJREC_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """The data directory (e.g. ~/.local/share/trajrec on Linux): sealed bundles, the upload ledger and the
    embedded store; `TRAJREC_DATA_DIR` overrides it."""
    override = os.environ.get("TRAJREC_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP, appauthor=False))


PRIVATE_UMASK = 0o077  # files 0600, folders 0700: what is written about an expert is theirs alone


def make_private() -> None:
    """Everything this process writes is private to the user whatever the umask it was started with (live
    directories, bundles, the upload ledger, logs, the embedded store's objects: its server inherits the
    umask), and the recorder's own folders made under a looser umask are tightened to 0700. Called first
    by `trajrec` and `trajrec-gui`."""
    os.umask(PRIVATE_UMASK)
    for folder in (config_dir(), data_dir(), data_dir() / "bundles", log_dir()):
        try:
            if folder.is_dir() and not folder.is_symlink() and folder.stat().st_mode & 0o077:
                folder.chmod(0o700)
        except OSError:
            pass  # not ours to change (a shared folder named by TRAJREC_*_DIR): leave it, keep going


def setup_logging(debug: bool = False) -> Path | None:
    """Log INFO+ to a rotating file (DEBUG with --debug); warnings to stderr. Returns the log file."""
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if debug else logging.ERROR)  # commands print their own one-line messages
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    if not debug:  # the CLI prints its own one-line error; tracebacks go to the log file only
        console.addFilter(lambda record: not record.exc_info)
    root.addHandler(console)
    try:
        d = log_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{APP}.log"
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
    except OSError:
        return None  # a read-only home must not stop the tool
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return path
