"""The one rule that turns untrusted text (session ids, manifest paths, store keys) into filesystem paths, and
the one way to open a bundle's files: regular files inside the bundle root, never through a link.

Everything that reads or writes a bundle's files by a name it did not choose (seal, repair, edit, upload,
download, the reader, the validator) goes through `member_problem` / `session_id_problem` and `open_member`.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO

from trajrec.errors import UnsafePathError
from trajrec.format import MAX_PATH_DEPTH, MAX_PATH_LENGTH, SESSION_ID_PATTERN

_SESSION_ID = re.compile(SESSION_ID_PATTERN)


def member_problem(name: str) -> str | None:
    """Why a member path (POSIX, relative to the bundle root) must not be opened or written, or None."""
    if not name:
        return "empty path"
    if len(name) > MAX_PATH_LENGTH:
        return f"path longer than {MAX_PATH_LENGTH} characters"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    parts = PurePosixPath(name).parts
    if ".." in parts:
        return "path climbs out with '..'"
    if "\\" in name or "\x00" in name:
        return "path has a backslash or NUL"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return "path has a control character"
    if len(parts) > MAX_PATH_DEPTH:
        return f"path more than {MAX_PATH_DEPTH} folders deep"
    return None


def session_id_problem(session_id: object) -> str | None:
    """Why `session_id` cannot name a bundle's folder or key prefix, or None (letters, digits, `.`, `_`, `-`;
    starting with a letter or digit; at most 128 characters)."""
    if not isinstance(session_id, str):
        return f"a session id must be a string, not {type(session_id).__name__}"
    if not _SESSION_ID.fullmatch(session_id):
        return "a session id is 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def check_session_id(session_id: object, where: str) -> str:
    """`session_id` when it is safe to use as a folder name; else UnsafePathError naming `where` it came from."""
    problem = session_id_problem(session_id)
    if problem is not None:
        raise UnsafePathError(where, repr(session_id)[:80], problem)
    assert isinstance(session_id, str)
    return session_id


def member_path(root: Path, name: str, where: str | None = None) -> Path:
    """`root / name` for a member name that passed the rule, with no link on the way below `root`."""
    problem = member_problem(name)
    if problem is not None:
        raise UnsafePathError(where or str(root), repr(name)[:80], problem)
    path = root
    for part in PurePosixPath(name).parts:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            break  # what does not exist yet cannot be a link; the caller creates it
        except NotADirectoryError as e:
            raise UnsafePathError(where or str(root), name, "a folder on the way is a file") from e
        if stat.S_ISLNK(mode):
            raise UnsafePathError(where or str(root), name, "a symbolic link: bundles hold regular files only")
    return root.joinpath(*PurePosixPath(name).parts)


def open_member(root: Path, name: str, mode: str = "rb", where: str | None = None) -> IO[bytes]:
    """Open a bundle member for reading ("rb") or writing ("wb", "ab"): a regular file inside `root`, never
    through a link (O_NOFOLLOW on the file, lstat on the folders above it)."""
    return open_regular(member_path(root, name, where), mode, where or str(root), name)


def open_regular(path: Path, mode: str = "rb", where: str | None = None, name: str | None = None) -> IO[bytes]:
    """Open `path` (whose folders the caller checked, e.g. with `member_path`) only if it is a regular file
    and not a link."""
    where, name = where or str(path.parent), name or path.name
    flags = {"rb": os.O_RDONLY, "wb": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "ab": os.O_WRONLY | os.O_CREAT}[mode]
    try:
        # O_NONBLOCK: a FIFO planted as a member opens at once (and is refused below) instead of hanging
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:  # the file itself is a link
            raise UnsafePathError(where, name, "a symbolic link: bundles hold regular files only") from e
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePathError(where, name, "not a regular file")
    os.set_blocking(fd, True)
    if mode == "ab":
        os.lseek(fd, 0, os.SEEK_END)
    return os.fdopen(fd, mode)


def write_private(path: Path, data: str | bytes) -> None:
    """Replace the file at `path` with `data` atomically: a temporary file of mode 0600 beside it, synced, renamed
    over it (a link at `path` is replaced, never followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
