"""Where the expert's grant token is kept: the platform's keyring (Secret Service, macOS Keychain, Windows
Credential Locker) when one works, else `grant-token.json` in the config dir (mode 0600, whatever the umask).
Never in store.toml, never printed, never logged. `TRAJREC_KEYRING=0` keeps it out of the keyring."""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from trajrec.paths import write_private
from uploader.errors import StoreConfigError

log = logging.getLogger(__name__)

SERVICE = "trajrec-grants"
TOKEN_FILE = "grant-token.json"  # {grant_url: token}


def _keyring() -> Any | None:
    """The keyring module when a real backend is there (keyring's fail backend has priority 0)."""
    if os.environ.get("TRAJREC_KEYRING", "1") == "0":
        return None
    try:
        import keyring
        from keyring.errors import KeyringError
    except ImportError:
        return None
    try:
        backend = keyring.get_keyring()
        usable = float(getattr(backend, "priority", 0)) > 0
    except (KeyringError, RuntimeError, ValueError):
        return None
    return keyring if usable else None


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise StoreConfigError(
            f"unreadable token file ({e})", "run `trajrec store set token=...` again", source=str(path)
        ) from e
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise StoreConfigError("not a token file", "run `trajrec store set token=...` again", source=str(path))
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return data


def _write(path: Path, data: dict[str, str]) -> None:
    write_private(path, json.dumps(data))


def save_token(url: str, token: str, config_dir: Path) -> str:
    """Keep `token` for the grant service at `url`; returns where ("the keyring" or the file's path)."""
    ring = _keyring()
    if ring is not None:
        try:
            ring.set_password(SERVICE, url, token)
            forget_token(url, config_dir, keyring_too=False)
            return "the keyring"
        except Exception as e:  # a locked or broken keyring: the file still works
            log.warning("the keyring refused the token (%s); keeping it in a private file", type(e).__name__)
    path = config_dir / TOKEN_FILE
    _write(path, {**_read(path), url: token})
    return str(path)


def load_token(url: str, config_dir: Path) -> str | None:
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            token = ring.get_password(SERVICE, url)
            if token:
                return str(token)
    return _read(config_dir / TOKEN_FILE).get(url)


def token_place(url: str, config_dir: Path) -> str | None:
    """Where the token for `url` is (for `store show`), or None when there is none."""
    ring = _keyring()
    if ring is not None:
        with contextlib.suppress(Exception):
            if ring.get_password(SERVICE, url):
                return "the keyring"
    path = config_dir / TOKEN_FILE
    return str(path) if url in _read(path) else None


def forget_token(url: str, config_dir: Path, *, keyring_too: bool = True) -> None:
    ring = _keyring() if keyring_too else None
    if ring is not None:
        with contextlib.suppress(Exception):
            ring.delete_password(SERVICE, url)
    path = config_dir / TOKEN_FILE
    data = _read(path)
    if url in data:
        del data[url]
        _write(path, data)
