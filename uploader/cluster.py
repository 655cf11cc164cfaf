"""Batch commands on a Dask cluster: one task per bundle, run on the workers, results streamed back as they finish.

A task carries a `BundleRef`: the bundle's location and, for a bundle on a store, the store's settings without any
credential (bucket, endpoint, region, addressing) and the bundle's key prefix. A worker opens the store with its
own credentials (boto3's chain: its environment, its profile, its instance role), never with the lab machine's:
no secret is ever in the task graph. A bundle on a shared path is read from that path.

Dask (`distributed`) is imported only here, only when a command is given `--scheduler` (or DASK_SCHEDULER_ADDRESS):
the `cluster` extra. Workers need the project installed (trajectory-recorder[cluster]).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from trajrec.validation import Code, Finding, Report
from uploader.config import StoreConfig
from uploader.errors import StoreConfigError

if TYPE_CHECKING:
    from trajrec.source.s3 import S3Source
    from uploader.remote import RemoteBundles

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"


@dataclass(frozen=True)
class BundleRef:
    """A bundle as a worker finds it: a path it can read, or a store (no credentials) and a key prefix."""

    location: str
    store: StoreConfig | None = None
    key_prefix: str = ""
    session_id: str = ""


def refs(bundles: Iterable[str], remote: RemoteBundles | None) -> list[BundleRef]:
    """BundleRefs for what `expand` found: s3:// locations carry their store's settings, credentials left out."""
    out = []
    for b in bundles:
        found = remote.found(b) if remote is not None else None
        if found is None:
            out.append(BundleRef(os.path.abspath(b)))
            continue
        handle, bundle = found
        store = replace(handle.config, embedded=False, endpoint_url=handle.client.meta.endpoint_url)
        out.append(BundleRef(b, store, bundle.key_prefix, bundle.session_id))
    return out


# --- the worker's side ------------------------------------------------------------------------------------------
_clients: dict[StoreConfig, Any] = {}
_lock = threading.Lock()


def _client(store: StoreConfig) -> Any:
    """One client per store per worker process, made from the worker's own credentials."""
    from uploader.store import make_client

    with _lock:
        if store not in _clients:
            _clients[store] = make_client(store)
        return _clients[store]


def open_source(ref: BundleRef, cancel: threading.Event | None = None) -> S3Source | str:
    """The bundle behind `ref`, for a BundleReader or the validator."""
    if ref.store is None:
        return ref.location
    from trajrec.source.s3 import S3Source
    from uploader.download import DEFAULT_RETRY
    from uploader.errors import RetriesExceeded
    from uploader.server import StoreHandle

    handle = StoreHandle(ref.store, _client(ref.store))
    return S3Source(handle.client, ref.store.bucket, ref.key_prefix, name=ref.session_id, cancel=cancel,
                    retry=DEFAULT_RETRY, call=handle.call, exceeded=RetriesExceeded)  # fmt: skip


class WorkerBundles:
    """On a worker, what the commands' per-bundle functions take as `remote` for one bundle on a store."""

    def __init__(self, ref: BundleRef) -> None:
        self.ref = ref

    def source(self, location: str, cancel: threading.Event | None = None) -> S3Source:
        source = open_source(self.ref, cancel)
        assert not isinstance(source, str)
        return source

    def validate(self, location: str, *, deep: bool = False, cancel: threading.Event | None = None) -> Report:
        import trajrec

        with self.source(location, cancel) as source:
            return trajrec.validate(source, deep=deep, cancel=cancel)


def bundle_task(ref: BundleRef, fn: Callable[..., Any], *args: Any) -> Any:
    """A command's per-bundle function, `fn(location, remote, *args, cancel)`, run on a worker for `ref`."""
    remote = WorkerBundles(ref) if ref.store is not None else None
    return fn(ref.location, remote, *args, threading.Event())


def validate_task(ref: BundleRef, deep: bool) -> Report:
    """`trajrec validate` of one bundle on a worker. A check that crashes is an `internal` finding (the validator
    already turns its checks' crashes into one; this catches what escapes it); a store that keeps failing raises,
    and the run reports it."""
    import trajrec
    from trajrec.errors import TrajrecError

    try:
        source = open_source(ref)
        if isinstance(source, str):
            report = trajrec.validate(source, deep=deep)
        else:
            with source:
                report = trajrec.validate(source, deep=deep)
    except TrajrecError:
        raise
    except Exception as e:
        message = f"validator error {type(e).__name__}: {str(e)[:300]} (please report)"
        report = Report(location=ref.location, findings=[Finding(Code.INTERNAL, Code.INTERNAL.severity, "", message)])
    report.location = ref.location
    return report


# --- the lab machine's side -------------------------------------------------------------------------------------
def scheduler_address(given: str | None) -> str | None:
    """--scheduler, else DASK_SCHEDULER_ADDRESS, else None (run here)."""
    return given or os.environ.get(ENV_ADDRESS) or None


def connect(address: str, timeout_s: float = 20.0) -> Any:
    """A Dask client of the scheduler at `address`; StoreConfigError (one line, what to do) when Dask is missing or
    the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError as e:
        raise StoreConfigError(
            "running on a cluster needs Dask", "pip install 'trajectory-recorder[cluster]' (here and on the workers)"
        ) from e
    try:
        return Client(address, timeout=timeout_s, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError) as e:
        raise StoreConfigError(
            f"cannot reach the Dask scheduler at {address} ({' '.join(str(e).split())[:160]})",
            "check --scheduler (tcp://HOST:8786) or DASK_SCHEDULER_ADDRESS, and that the scheduler runs",
        ) from e


def run_tasks(
    client: Any,
    task: Callable[..., Any],
    refs_: list[BundleRef],
    args: tuple[Any, ...],
    done: Callable[[str, Any], None],
    cancel: threading.Event,
) -> None:
    """Submit `task(ref, *args)` for each bundle, and call `done(location, result)` as each finishes. A worker that
    dies has its tasks rerun elsewhere by the scheduler; each bundle is reported once. Ctrl+C (or `cancel`) cancels
    what is still queued or running on the cluster."""
    from distributed import as_completed

    futures = {client.submit(task, ref, *args, key=f"trajrec-{task.__name__}-{i}-{os.getpid()}", pure=False): ref
               for i, ref in enumerate(refs_)}  # fmt: skip
    try:
        for fut in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
            if cancel.is_set():
                raise KeyboardInterrupt
            done(futures[fut].location, fut.result())
    except BaseException:
        client.cancel(list(futures))
        raise
