"""The bundles under a prefix of the store: one paginated listing, each `<prefix>/<session_id>/manifest.json`
exactly one level down (manifest.json is uploaded last, so a listed manifest means a complete bundle), with the
filters of `trajrec download` (upload time, session id glob)."""

from __future__ import annotations

import fnmatch
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from trajrec import format as fmt
from trajrec.format import MAX_LISTING_OBJECTS
from trajrec.paths import session_id_problem
from trajrec.source.s3 import listed
from uploader.store import StoreCall

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

MANIFEST = fmt.MANIFEST


@dataclass(frozen=True)
class RemoteBundle:
    """A bundle on the store: the key of its manifest and what the listing said about it."""

    session_id: str
    manifest_key: str
    last_modified: datetime  # the manifest object's: when the upload completed
    manifest_size: int
    bytes: int = 0  # every object under the bundle's key prefix, manifest included (a progress total)

    @property
    def key_prefix(self) -> str:
        """`<prefix>/<session_id>/`: the keys of the bundle's files start with it."""
        return self.manifest_key[: -len(MANIFEST)]


def bad_session_id(session_id: str) -> str | None:
    """Why `session_id` cannot name a local folder, or None: the one rule, `trajrec.paths`."""
    return session_id_problem(session_id)


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def list_bundles(
    client: S3Client,
    bucket: str,
    prefix: str,
    *,
    since: datetime | None = None,
    match: str | None = None,
    include_prefix: bool = False,
    call: StoreCall | None = None,
    skipped: list[tuple[str, str]] | None = None,
) -> list[RemoteBundle]:
    """The bundles under `prefix`, sorted by session id: each key `<prefix>/<session_id>/manifest.json` exactly
    one level below the prefix (deeper manifests are not bundles of this prefix).

    `since`: only bundles whose manifest object was stored at or after this time (its LastModified, i.e. when the
    upload completed, not when the session was recorded; a naive datetime is UTC). `match`: an fnmatch glob on the
    session id. `include_prefix`: when the prefix itself holds `manifest.json` it is a bundle and the only one
    returned (its session id is the prefix's last segment). One paginated listing, run by `call` (default: errors
    worded for the client's endpoint); raises UploaderError. Bundles whose session id cannot name a folder are
    left out and, with `skipped`, appended to it as (session id, reason)."""
    base = prefix.strip("/")
    lead = f"{base}/" if base else ""
    manifests: dict[str, Any] = {}
    sizes: dict[str, int] = defaultdict(int)
    own: Any = None
    own_bytes = 0

    def scan() -> None:
        nonlocal own, own_bytes
        for obj in listed(client, bucket, lead, MAX_LISTING_OBJECTS):
            rest = obj["Key"][len(lead) :]
            own_bytes += obj["Size"]
            if rest == MANIFEST:
                own = obj
            session, _, relpath = rest.partition("/")
            if relpath:
                sizes[session] += obj["Size"]
                if relpath == MANIFEST:
                    manifests[session] = obj

    (call or StoreCall.for_client(client, bucket))(scan)
    if include_prefix and own is not None and base:
        session_id = base.rsplit("/", 1)[-1]
        found = [RemoteBundle(session_id, own["Key"], own["LastModified"], own["Size"], own_bytes)]
    else:
        found = []
        for session_id, obj in sorted(manifests.items()):
            reason = bad_session_id(session_id)
            if reason is not None:  # never a folder name: reported to the caller, who says so
                log.warning("s3://%s/%s: skipped: %s", bucket, obj["Key"], reason)
                if skipped is not None:
                    skipped.append((session_id, reason))
                continue
            found.append(RemoteBundle(session_id, obj["Key"], obj["LastModified"], obj["Size"], sizes[session_id]))
    if since is not None:
        found = [b for b in found if _utc(b.last_modified) >= _utc(since)]
    if match is not None:
        found = [b for b in found if fnmatch.fnmatchcase(b.session_id, match)]
    return found
