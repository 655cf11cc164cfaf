"""The batch commands' shared loop (scan, report, export): one task per bundle on a pool, results handed back as
they finish, Ctrl+C cancels the rest, and a bundle's own problem is that bundle's result, never the batch's end.
A store that keeps failing, or Ctrl+C, ends the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console

from recorder.commands.validate import S3, add_progress_option
from recorder.interrupt import sigint_sets
from trajrec.errors import Cancelled, RetriesExceeded, TrajrecError
from trajrec.reader import BundleReader

if TYPE_CHECKING:
    from uploader.remote import RemoteBundles

R = TypeVar("R")


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    import argparse

    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_batch_options(p: Any, *, jobs: int, jobs_help: str, lines: str) -> None:
    """The batch commands' shared options: --jobs, --json, --quiet and --progress."""
    p.add_argument("-j", "--jobs", type=positive_int, default=jobs, help=jobs_help)
    p.add_argument("--json", action="store_true", help="print one JSON document (per bundle and summary) on stdout")
    p.add_argument("-q", "--quiet", action="store_true", help=f"no {lines}, only the summary")
    add_progress_option(p)


def per_bundle(
    bundles: list[str],
    work: Callable[[str], R],
    done: Callable[[str, R], None],
    *,
    jobs: int,
    cancel: threading.Event,
    name: str,
) -> None:
    """Run `work(bundle)` for each bundle, `jobs` at a time; `done(bundle, result)` on this thread as each finishes.
    `work` turns a bundle's own problems into its result (see `bundle_problem`); what it raises ends the run."""
    with sigint_sets(cancel), ThreadPoolExecutor(max_workers=jobs, thread_name_prefix=name) as pool:
        futures: dict[Future[R], str] = {pool.submit(work, b): b for b in bundles}
        pending = set(futures)
        try:
            while pending and not cancel.is_set():
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done(futures[fut], fut.result())
        except BaseException:
            cancel.set()
            raise
        finally:
            for fut in pending:
                fut.cancel()
    if cancel.is_set():
        raise KeyboardInterrupt


def run_bundles(
    bundles: list[str],
    remote: RemoteBundles | None,
    fn: Callable[..., R],
    args: tuple[Any, ...],
    done: Callable[[str, R], None],
    *,
    jobs: int,
    cancel: threading.Event,
    name: str,
    scheduler: str | None,
) -> None:
    """`fn(bundle, remote, *args, cancel)` for each bundle: here, `jobs` at a time, or one task per bundle on the
    Dask cluster at `scheduler` (uploader.cluster; `fn` and `args` travel to the workers, which open the bundles
    themselves). `done(bundle, result)` on this thread as each finishes."""
    if scheduler is None:
        per_bundle(bundles, lambda b: fn(b, remote, *args, cancel), done, jobs=jobs, cancel=cancel, name=name)
        return
    from uploader.cluster import bundle_task, connect, refs, run_tasks

    with sigint_sets(cancel), connect(scheduler) as client:
        run_tasks(client, bundle_task, refs(bundles, remote), (fn, *args), done, cancel)


def add_scheduler_option(p: Any) -> None:
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:PORT",
        help="run one task per bundle on this Dask cluster (default: $DASK_SCHEDULER_ADDRESS, else this machine); "
        "workers read s3:// bundles with their own credentials; local paths (and outputs) must be shared with them",
    )


def open_reader(bundle: str, remote: RemoteBundles | None, cancel: threading.Event) -> BundleReader:
    """A reader for a bundle from `expand`: a local path, or an s3:// location read straight from its store."""
    source = remote.source(bundle, cancel) if remote is not None and bundle.startswith(S3) else bundle
    return BundleReader(source)


def bundle_problem(e: Exception) -> str:
    """One line for an error that is the bundle's own problem (unreadable, damaged, hostile); re-raises what is
    about the run instead: a store that keeps failing, or Ctrl+C."""
    if isinstance(e, RetriesExceeded | Cancelled):
        raise e
    if isinstance(e, TrajrecError | ValueError):
        return " ".join(str(e).split())[:300]
    return f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"  # a damaged member the decoders choke on


class CountProgress:
    """Bundles done of the total, on stderr (a plain counter: the work per bundle has no byte count)."""

    def __init__(self, err: Console, verb: str, total: int, enabled: bool) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn(f"[bold]{verb}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=not enabled,
            transient=True,
        )
        self._task = self._p.add_task(verb, total=total)
        self._p.start()

    def step(self) -> None:
        self._p.advance(self._task)
        if self._p.finished:
            self._p.stop()

    def stop(self) -> None:
        self._p.stop()
