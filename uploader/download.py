"""Bundles from the store to a lab's disk: `download_many` runs the transfers (so many at once, shared by all
bundles) and says what became of each bundle. Listing is `uploader.listing`; the work items are `uploader.fetch`.

On the store (DESIGN.md, "Upload protocol") a bundle is `<prefix>/<session_id>/<relpath>` with `manifest.json`
uploaded last, so a listed manifest means a complete bundle. Locally it becomes `<dest>/<session_id>/<relpath>`:
each file arrives as `<relpath>.part`, is checked against the manifest's sha256 (never against the objects'
`sha256` metadata, which some stores lose) and renamed into place; `manifest.json` is written last (a temporary
file renamed over), so a local directory with a manifest is a complete, verified bundle.

Files already present with the manifest's size and sha256 are not fetched again. A `.part` left behind by an
interrupted run, or by a connection that broke, is resumed with a ranged GET from its current size. A file whose
bytes do not hash to the manifest's sha256 is fetched once more from zero, then the bundle fails and nothing of
that file is kept. Errors the store may get over (unreachable, busy) are retried with jittered exponential
back-off (`trajrec.retry`), logged as "attempt i/n"; the others fail the bundle with their reason.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trajrec.errors import Cancelled
from trajrec.retry import RetryPolicy
from uploader.errors import DownloadError, UploaderError
from uploader.fetch import MANIFEST, PART_SUFFIX, DownloadResult, Entry, Fetcher, InFlight, Progress
from uploader.listing import RemoteBundle, list_bundles
from uploader.store import StoreCall

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DEFAULT_JOBS",
    "DEFAULT_RETRY",
    "PART_SUFFIX",
    "DownloadResult",
    "Progress",
    "RemoteBundle",
    "download_bundle",
    "download_many",
    "list_bundles",
]

log = logging.getLogger(__name__)

DEFAULT_JOBS = 4
DEFAULT_RETRY = RetryPolicy(attempts=5, base_s=0.25, cap_s=8.0)


def download_many(
    client: S3Client,
    bucket: str,
    remotes: Iterable[RemoteBundle],
    dest_root: Path,
    *,
    jobs: int = DEFAULT_JOBS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    on_result: Callable[[DownloadResult], None] | None = None,
    call: StoreCall | None = None,
) -> list[DownloadResult]:
    """Download bundles into `dest_root/<session_id>/` with `jobs` transfers at once, shared by all bundles.

    Results come back in the order of `remotes`; `on_result` hears of each as it ends (on this thread). A failed
    bundle never gets a manifest.json; its verified files stay, so the next run fetches only the rest. When
    `cancel` is set, transfers stop between chunks (their .part files are resumed next time) and unfinished
    bundles come back `cancelled`. `call` runs each request (default: errors worded for the client's endpoint)."""
    dest_root = Path(dest_root)
    cancel = cancel or threading.Event()
    fetcher = Fetcher(client, bucket, progress, cancel, retry, call)
    bundles = [InFlight(r, DownloadResult(r.session_id, dest_root / r.session_id)) for r in remotes]

    def end(b: InFlight, status: str, error: str | None = None) -> None:
        if b.result.status != "pending":
            return
        b.result.status, b.result.error = status, error
        if on_result is not None:
            on_result(b.result)

    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="download") as pool:
        futures: dict[Future[Any], tuple[InFlight, Entry | None]] = {
            pool.submit(fetcher.manifest, b): (b, None) for b in bundles
        }
        try:
            while futures and not cancel.is_set():
                done, _ = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in done:
                    b, entry = futures.pop(fut)
                    try:
                        outcome = fut.result()
                    except Cancelled:  # stopped between two chunks: its .part is resumed next time
                        continue
                    except Exception as e:  # this bundle's failure (MemoryError, a decoder...): a row, never the batch
                        _fail(b, entry, e, end)
                        if entry is not None:
                            b.waiting -= 1
                        continue
                    if entry is None:  # the manifest is in: its files go to the pool
                        b.waiting = len(b.entries)
                        for item in b.entries:
                            futures[pool.submit(fetcher.file, b, item)] = (b, item)
                    else:
                        b.waiting -= 1
                        skipped, fetched = outcome
                        b.result.files_skipped += skipped
                        b.result.files_downloaded += not skipped
                        b.result.bytes_downloaded += fetched
                    if b.waiting == 0 and b.result.status == "pending":
                        try:
                            fetcher.commit(b)
                        except Exception as e:
                            _fail(b, None, e, end)
                            continue
                        fresh = not (b.present and b.result.files_downloaded == 0)
                        end(b, "downloaded" if fresh else "present")
        finally:
            for fut in futures:
                fut.cancel()
            if futures:
                cancel.set()  # running transfers stop between chunks; the pool waits for them on exit
    for b in bundles:
        end(b, "cancelled", "interrupted before it completed: run again to resume")
    return [b.result for b in bundles]


def _fail(b: InFlight, entry: Entry | None, e: BaseException, end: Callable[[InFlight, str, str | None], None]) -> None:
    if isinstance(e, DownloadError):
        message = str(e)
    elif isinstance(e, OSError):
        where = f"{b.directory / entry.path}" if entry else str(b.directory)
        message = f"{b.remote.session_id}: cannot write {where} ({e.strerror or e})"
    elif isinstance(e, UploaderError):
        message = f"{b.remote.session_id}/{entry.path if entry else MANIFEST}: {e}"
    else:
        message = (
            f"{b.remote.session_id}/{entry.path if entry else MANIFEST}: unexpected {type(e).__name__}: "
            f"{str(e)[:300]} (please report)"
        )
    log.warning("download failed: %s", message)
    end(b, "failed", message)


def download_bundle(
    client: S3Client,
    bucket: str,
    remote: RemoteBundle,
    dest_root: Path,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    jobs: int = DEFAULT_JOBS,
    retry: RetryPolicy = DEFAULT_RETRY,
    call: StoreCall | None = None,
) -> DownloadResult:
    """Download one bundle into `dest_root/<session_id>/` (see download_many)."""
    (result,) = download_many(
        client, bucket, [remote], dest_root, jobs=jobs, progress=progress, cancel=cancel, retry=retry, call=call
    )
    return result
