"""The `steps` export: one folder per bundle, shaped like AgentNet's and OSWorld's trajectories.

    DEST/<session_id>/steps.jsonl     one line per step (trajrec.export.steps_data)
    DEST/<session_id>/frames/NNNNNN.png   the screenshots the steps name, full resolution unless downscaled
    DEST/<session_id>/meta.json       task, expert pseudonym, displays, narration spans, provenance

A bundle's folder is built as DEST/.<session_id>.partial and renamed into place once complete, with meta.json its
last file: a folder whose meta.json names the bundle's manifest SHA-256 is done, and an interrupted export
resumes by skipping those. Folders are 0700 and files 0600 (they hold an expert's screen).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trajrec.errors import ExportWriteError
from trajrec.export.steps_data import BundleSteps, ExportOptions, bundle_steps, encode_image
from trajrec.paths import check_session_id

if TYPE_CHECKING:
    from trajrec.reader import BundleReader

META = "meta.json"
STEPS = "steps.jsonl"
ENCODERS = 2  # screenshots encoded at once while the next frames decode
ENCODE_AHEAD = 8  # frames decoded ahead of the encoders at most (bounded memory)


@dataclass
class Exported:
    session_id: str
    steps: int = 0
    frames: int = 0
    bytes: int = 0
    skipped: bool = False  # already exported (resumed)

    def to_json(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "steps": self.steps, "frames": self.frames, "bytes": self.bytes,
                "skipped": self.skipped}  # fmt: skip


def done_already(folder: Path, manifest_sha256: str) -> bool:
    """True when `folder` holds a finished export of the bundle with this manifest."""
    try:
        with (folder / META).open("rb") as f:
            meta = json.loads(f.read(10_000_000))
        return bool(meta["source"]["manifest_sha256"] == manifest_sha256)
    except (OSError, ValueError, KeyError, TypeError):
        return False


@contextmanager
def writing(where: Path) -> Iterator[None]:
    """Errors writing the destination are the run's (ExportWriteError), not the bundle's."""
    try:
        yield
    except OSError as e:
        raise ExportWriteError(where, e) from e


def write_file(path: Path, data: bytes) -> int:
    """A new private file, synced (its folder is renamed into place later: the rename must not expose a hole)."""
    with writing(path.parent):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return len(data)


def _encode_and_write(path: Path, rgb: Any, options: ExportOptions) -> int:
    return write_file(path, encode_image(rgb, options))


def write_frames(b: BundleReader, work: BundleSteps, folder: Path, options: ExportOptions) -> int:
    """Decode the frames the steps name (in order, on this thread) and encode and write them on ENCODERS threads."""
    total = 0
    with ThreadPoolExecutor(ENCODERS, thread_name_prefix="encode") as pool:
        pending: list[Future[int]] = []
        for i in work.frames:
            path = folder / work.frame_name(i, options.image_format)
            pending.append(pool.submit(_encode_and_write, path, b.frame(i), options))
            if len(pending) >= ENCODE_AHEAD:
                total += pending.pop(0).result()
        total += sum(f.result() for f in pending)
    return total


def export_steps(b: BundleReader, dest: Path, options: ExportOptions) -> Exported:
    sid = check_session_id(b.session_id, b.source.location)
    final = dest / sid
    if done_already(final, b.manifest_sha256):
        return Exported(sid, skipped=True)
    partial = dest / f".{sid}.partial"
    work = bundle_steps(b, options)
    with writing(dest):
        if partial.is_symlink() or partial.is_file():
            partial.unlink()
        shutil.rmtree(partial, ignore_errors=True)  # an earlier attempt, cut off
        os.mkdir(partial, 0o700)
        os.mkdir(partial / "frames", 0o700)
    size = write_frames(b, work, partial, options)
    size += write_file(partial / STEPS, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in work.steps).encode())
    size += write_file(partial / META, (json.dumps(work.meta, indent=1, ensure_ascii=False) + "\n").encode())
    with writing(dest):
        if final.is_symlink() or final.is_file():
            final.unlink()
        elif final.exists():  # an export of another version of this bundle (edited since): replaced
            shutil.rmtree(final)
        os.rename(partial, final)
        _sync_dir(dest)
    return Exported(sid, len(work.steps), len(work.frames), size)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
