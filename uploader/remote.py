"""`s3://` URLs to read bundles from, for `trajrec validate` and `trajrec download`: the store they name (as
`uploader.config` resolves it), and `RemoteBundles`, which finds the bundles under each URL and validates each
through the lab package's `S3Source` without writing it to disk.

The source reads with the uploader's hooks: its requests' botocore failures become the uploader's errors, retried
under the download policy while they say they are retryable. A store error that persists is raised by
`RemoteBundles.validate`, because a store that fails is no finding about the bundle.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import trajrec
from trajrec.source.s3 import S3Source
from trajrec.validation import Report
from uploader.config import StoreConfig, load_config, parse_s3_url
from uploader.dirs import Dirs
from uploader.download import DEFAULT_RETRY
from uploader.errors import RetriesExceeded, StoreConfigError
from uploader.listing import RemoteBundle, list_bundles
from uploader.server import StoreHandle, open_store

if TYPE_CHECKING:
    from collections.abc import Callable


def load_source(url: str, *, profile: str | None = None, settings: Path) -> StoreConfig:
    """load_config (with the settings file at `settings`) for an s3:// URL to read bundles from, with URL errors
    worded for a source."""
    try:
        parse_s3_url(url)
    except StoreConfigError as e:
        fix = e.fix if e.key == "bucket" else "write it as s3://BUCKET or s3://BUCKET/PREFIX"
        raise StoreConfigError(e.problem, fix) from e
    return load_config(url, profile=profile, path=settings)


class RemoteBundles:
    """The s3:// URLs given to `trajrec validate`: each store opened once, the bundles under each URL found, and
    each validated through an S3Source. A context manager (it closes the clients and any embedded server).
    `dirs`: the uploader's directories (the settings file; the embedded store's data, keys and log)."""

    def __init__(self, dirs: Dirs) -> None:
        self.dirs = dirs
        self._stack = ExitStack()
        self._stores: dict[StoreConfig, StoreHandle] = {}
        self._found: dict[str, tuple[StoreHandle, RemoteBundle]] = {}

    def expand(self, url: str) -> list[str]:
        """The bundles under `url` as s3:// locations: the URL itself if it holds manifest.json, else each
        `<session_id>/manifest.json` one level below it. Raises StoreConfigError / UploaderError."""
        config = load_source(url, settings=self.dirs.settings)
        store = replace(config, prefix="")
        handle = self._stores.get(store)
        if handle is None:
            handle = self._stores[store] = self._stack.enter_context(open_store(store, self.dirs))
        out = []
        for bundle in list_bundles(handle.client, config.bucket, config.prefix, include_prefix=True, call=handle.call):
            location = f"s3://{config.bucket}/{bundle.key_prefix.rstrip('/')}"
            self._found[location] = (handle, bundle)
            out.append(location)
        return out

    def found(self, location: str) -> tuple[StoreHandle, RemoteBundle] | None:
        """The store and listing entry of a location from `expand` (None for one it did not find)."""
        return self._found.get(location)

    def size(self, location: str) -> int:
        """Bytes stored under the bundle (a progress total)."""
        return self._found[location][1].bytes

    def validate(
        self,
        location: str,
        *,
        deep: bool = False,
        cancel: threading.Event | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        """trajrec.validate on the bundle at `location` (from expand). Raises the UploaderError of a store that kept
        failing: that is no finding about the bundle."""
        with self.source(location, cancel) as source:
            return trajrec.validate(source, deep=deep, cancel=cancel, progress=progress)

    def source(self, location: str, cancel: threading.Event | None = None) -> S3Source:
        """The bundle at `location` (from expand), read straight from its store."""
        handle, bundle = self._found[location]
        return S3Source(
            handle.client,
            handle.config.bucket,
            bundle.key_prefix,
            name=bundle.session_id,
            cancel=cancel,
            retry=DEFAULT_RETRY,
            call=handle.call,
            exceeded=RetriesExceeded,
        )

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> RemoteBundles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
