"""The embedded store's access key pair: made once from a CSPRNG, kept in `<config dir>/embedded-store.json`
(mode 0600, whatever the umask), and checked each time it is read."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
import tempfile
from pathlib import Path

from uploader.errors import StoreConfigError
from uploader.store import Credentials

KEYS_FILE = "embedded-store.json"
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits  # no ',' or '"': RCLONE_AUTH_KEY is CSV


def _valid_key(value: object, length: int) -> bool:
    return isinstance(value, str) and len(value) >= length and value.isalnum()


def load_or_create_keys(directory: Path) -> Credentials:
    """The embedded store's access key pair, made on first use and kept in `directory/embedded-store.json`."""
    path = directory / KEYS_FILE
    source = f"the embedded store's key file {path}"
    if not path.exists():
        data = {
            "access_key_id": "TR" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18)),
            "secret_access_key": "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40)),
        }
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{KEYS_FILE}.", dir=directory)  # created with mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process made its keys first: use those
                os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise StoreConfigError(
            f"unreadable key file ({e})", "delete it: new keys are made on the next start", source=str(path)
        ) from e
    if not (
        isinstance(data, dict)
        and _valid_key(data.get("access_key_id"), 16)
        and _valid_key(data.get("secret_access_key"), 32)
    ):
        raise StoreConfigError(
            "not a valid key file", "delete it: new keys are made on the next start", source=str(path)
        )
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return Credentials(data["access_key_id"], data["secret_access_key"], source=source)
