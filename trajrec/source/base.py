"""What every bundle source is: read-only access to one bundle's files by POSIX path, with the members that
must never be opened (absolute paths, `..`, links, device files, duplicates) listed in `unsafe` for the validator
to report; and the one rule (`unsafe_name`) that says which names those are.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from trajrec.errors import BundleMemberError
from trajrec.paths import member_problem


@dataclass(frozen=True)
class Member:
    path: str  # POSIX path relative to the bundle root
    size: int


@dataclass(frozen=True)
class UnsafeMember:
    path: str
    reason: str


class BundleSource(ABC):
    """Read-only access to the files of one bundle."""

    location: str
    name: str  # the bundle's own name (directory name / archive top folder)

    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.unsafe: list[UnsafeMember] = []
        # The first failure of where the files come from that is no fact about the bundle (a store that kept
        # failing); `trajrec.validate` raises it rather than report findings. Local files never set it.
        self.error: Exception | None = None

    @abstractmethod
    def open(self, path: str) -> IO[bytes]:
        """Open a regular member for binary reading (seekable)."""

    def local_path(self, path: str) -> Path | None:
        """A filesystem path for the member when there is one (faster for media decoders)."""
        return None

    def read_bytes(self, path: str, limit: int) -> bytes:
        member = self.members.get(path)
        if member is None:
            raise BundleMemberError(self.location, path, "missing")
        if member.size > limit:
            raise BundleMemberError(self.location, path, f"{member.size} bytes, over the {limit} byte limit")
        with self.open(path) as f:
            return f.read(limit + 1)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass

    def __enter__(self) -> BundleSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unsafe_name(name: str) -> str | None:
    """Why a member path must not be opened or written, or None: the one rule, `trajrec.paths.member_problem`."""
    return member_problem(name)
