"""Putting an edit in place: `edit_bundle` checks the request, stages the new bundle beside the target,
validates it, then publishes it with renames that leave one whole bundle at every step.

In place, the new bundle is written to ``.<name>.edit-partial``, then ``<name>`` is renamed to
``.<name>.edit-old``, the new one to ``<name>``, and the old one deleted; `finish_interrupted_edit`
(run at the start of every in-place edit) puts a whole bundle back after a crash between the renames.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import soundfile as sf

from recorder.errors import BundleEditError
from recorder.sealing.commit import fsync_dir
from recorder.sealing.edit.plan import check_source, check_span, plan_edit
from recorder.sealing.edit.redact import Redaction, check_redactions, write_redacted
from recorder.sealing.edit.write import now_utc, write_notes_only, write_trimmed
from trajrec import format as fmt
from trajrec.reader import BundleReader
from trajrec.validation import validate_bundle

log = logging.getLogger(__name__)

STAGE_SUFFIX = ".edit-partial"
BACKUP_SUFFIX = ".edit-old"


def stage_path(bundle: Path) -> Path:
    """Where an in-place edit of `bundle` writes the new bundle before swapping it in."""
    return bundle.parent / f".{bundle.name}{STAGE_SUFFIX}"


def backup_path(bundle: Path) -> Path:
    """Where an in-place edit moves the old bundle during the swap (deleted right after)."""
    return bundle.parent / f".{bundle.name}{BACKUP_SUFFIX}"


def edit_bundle(
    src: Path,
    *,
    start_ns: int | None = None,
    end_ns: int | None = None,
    marker_notes: dict[int, str] | None = None,
    out: Path | None = None,
) -> Path:
    """Trim `src` to [start_ns, end_ns] (session clock) and/or set markers' texts; return the edited bundle.

    `marker_notes` maps a marker's index in `BundleReader(src).markers()` to its new text. With
    `out=None` the edited bundle replaces `src` atomically; otherwise it is written to `out` (which
    must not exist) and `src` is left as it is. An edit that changes nothing returns `src` untouched
    (in place) or a byte-identical copy (`out`). Raises BundleEditError (one line) and leaves `src`
    unchanged when the edit cannot be made.
    """
    src = Path(src)
    check_span(start_ns, end_ns)
    target = _target(src, out)
    check_source(src)
    with BundleReader(src) as reader:
        plan = plan_edit(reader, start_ns, end_ns, marker_notes)
        if out is None and not plan.trim and not plan.changed_notes:
            return src
        if plan.trim:
            _stage(src, target, lambda stage: write_trimmed(reader, src, stage, plan))
        else:
            _stage(src, target, lambda stage: write_notes_only(reader.manifest, src, stage, plan, link=out is None))
    return _publish(src, target, out)


def redact_bundle(src: Path, redactions: Sequence[Redaction], *, out: Path | None = None) -> Path:
    """Apply `redactions` (Hide, Box, Mute; see `redact`) to `src` and return the redacted bundle.

    With `out=None` the redacted bundle replaces `src` atomically and the old files are deleted; otherwise it is
    written to `out` (which must not exist) and `src` is left as it is. Raises BundleEditError (one line) and
    leaves `src` unchanged when a redaction cannot be made."""
    src = Path(src)
    target = _target(src, out)
    check_source(src)
    with BundleReader(src) as reader:
        checked = check_redactions(reader.manifest, redactions)
        _stage(src, target, lambda stage: write_redacted(reader, src, stage, checked, now_utc()))
    return _publish(src, target, out)


def _target(src: Path, out: Path | None) -> Path:
    """Where the edited bundle goes; an in-place edit first finishes one a crash interrupted."""
    if out is None:
        try:
            finish_interrupted_edit(src)
        except OSError as e:
            raise BundleEditError(
                f"{src}: cannot clean up after an earlier interrupted edit ({e.strerror or e}); nothing was changed"
            ) from e
        return src
    target = Path(out)
    if target.exists() or target.is_symlink():
        raise BundleEditError(f"{target} already exists: choose a new path for the edited bundle")
    return target


def _stage(src: Path, target: Path, write: Callable[[Path], None]) -> None:
    """The new bundle written by `write` into the staging directory beside `target`, and validated."""
    stage = stage_path(target)
    try:
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir(parents=True)
        write(stage)
        _check_result(stage, src)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError | av.FFmpegError | sf.LibsndfileError):
            raise _failed(src, e) from e
        raise


def _publish(src: Path, target: Path, out: Path | None) -> Path:
    """The staged bundle put in place: swapped for `src`, or renamed to `out`."""
    stage = stage_path(target)
    if out is None:
        _swap(stage, src)
    else:
        try:
            os.replace(stage, target)
            fsync_dir(target.parent)
        except OSError as e:
            shutil.rmtree(stage, ignore_errors=True)
            raise _failed(src, e) from e
    return target


def finish_interrupted_edit(bundle: Path) -> None:
    """Clean up after an in-place edit of `bundle` that crashed; a no-op when there is nothing to do.

    After a crash between the two renames `bundle` is missing: the new bundle is put in place when it
    was complete (its manifest written), else the old one is put back. Leftover staging and backup
    directories are then deleted. Run by `edit_bundle` before every in-place edit.
    """
    bundle = Path(bundle)
    stage, backup = stage_path(bundle), backup_path(bundle)
    if not bundle.exists() and backup.is_dir():
        if (stage / fmt.MANIFEST).is_file():
            os.replace(stage, bundle)
            log.warning("%s: finished an interrupted edit (the edited bundle is in place)", bundle)
        else:
            os.replace(backup, bundle)
            log.warning("%s: undid an interrupted edit (the original bundle is back)", bundle)
        fsync_dir(bundle.parent)
    for leftover in (backup, stage):
        if leftover.exists() and bundle.is_dir():
            shutil.rmtree(leftover)


def _check_result(stage: Path, src: Path) -> None:
    """The new bundle must validate before it replaces anything."""
    report = validate_bundle(str(stage))
    errors = [f for f in report.findings if f.severity == "error"]
    if errors:
        f = errors[0]
        raise BundleEditError(
            f"editing {src.name} produced an invalid bundle ({f.code} {f.path}: {' '.join(f.message.split())}); "
            "nothing was changed (please report)"
        )


def _failed(src: Path, e: BaseException) -> BundleEditError:
    reason = (e.strerror if isinstance(e, OSError) else None) or str(e) or type(e).__name__
    hint = ": free some disk space and retry" if isinstance(e, OSError) and e.errno == errno.ENOSPC else ""
    return BundleEditError(f"editing {src.name} failed ({' '.join(reason.split())}); the bundle is unchanged{hint}")


def _swap(stage: Path, bundle: Path) -> None:
    """Replace `bundle` by the complete bundle in `stage`: old aside, new in, old deleted."""
    backup = backup_path(bundle)
    try:
        os.replace(bundle, backup)
    except BaseException as e:
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError):
            raise _failed(bundle, e) from e
        raise
    try:
        os.replace(stage, bundle)
    except BaseException as e:
        try:
            os.replace(backup, bundle)
        except OSError as undo:
            raise BundleEditError(
                f"editing {bundle.name} failed ({undo.strerror or undo}) while swapping bundles: the original is "
                f"intact in {backup}; finish_interrupted_edit({str(bundle)!r}) puts a whole bundle back"
            ) from e
        shutil.rmtree(stage, ignore_errors=True)
        if isinstance(e, OSError):
            raise _failed(bundle, e) from e
        raise
    try:
        fsync_dir(bundle.parent)
        shutil.rmtree(backup)
    except OSError as e:
        log.warning(
            "%s: edited, but the old copy %s could not be removed (%s); the next edit removes it", bundle, backup, e
        )
