"""Where a bundle's files come from, behind one small interface (`BundleSource`): a directory or a .tar archive
(`trajrec.source.local`), or the objects of an S3 prefix (`trajrec.source.s3`, imported only for s3:// locations:
boto3 is slow to import). `open_source` is the one factory.

Members that could escape or confuse a reader (absolute paths, `..`, links, device files, duplicates) are never
opened: they are listed in `unsafe` for the validator to report.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

from trajrec.errors import BundleNotFoundError
from trajrec.source.base import BundleSource, Member, UnsafeMember, unsafe_name
from trajrec.source.local import DirSource, TarSource

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from trajrec.source.s3 import S3Source

__all__ = [
    "BundleSource",
    "DirSource",
    "Member",
    "S3Source",
    "TarSource",
    "UnsafeMember",
    "is_s3_url",
    "open_source",
    "unsafe_name",
]

_unsafe_name = unsafe_name  # the former private name
S3 = "s3://"


def is_s3_url(location: object) -> TypeGuard[str]:
    """Does `location` name S3 objects (`s3://...`) rather than a local path?"""
    return isinstance(location, str) and location.startswith(S3)


def open_source(path: str | Path, *, client: S3Client | None = None) -> BundleSource:
    """The one factory: a directory, a tar archive, or `s3://BUCKET/PREFIX/SESSION_ID` (through `client`, or a
    client from boto3's usual chain: AWS_ENDPOINT_URL, credentials, profile)."""
    if is_s3_url(path):
        from trajrec.source.s3 import open_s3

        return open_s3(str(path), client=client)
    p = Path(path)
    if p.is_dir():
        return DirSource(p)
    if p.is_file():
        return TarSource(p)
    raise BundleNotFoundError(str(path))


def __getattr__(name: str) -> Any:
    if name == "S3Source":  # loaded on first use (PEP 562): boto3 is slow to import
        return importlib.import_module("trajrec.source.s3").S3Source
    raise AttributeError(f"module 'trajrec.source' has no attribute {name!r}")
