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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trajrec.actions import Action, frame_plans, narrate
from trajrec.errors import ExportWriteError
from trajrec.export.steps_data import ExportOptions, encode_image, export_rules, included, to_steps
from trajrec.framepick import FramePicker
from trajrec.paths import check_session_id
from trajrec.screen import ChangeMeter, thumbnail

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


def _encode_and_write(path: Path, image: Any, options: ExportOptions) -> int:
    return write_file(path, encode_image(image, options))


class _Writer:
    """Screenshots encoded and written on ENCODERS threads while the video decodes; at most ENCODE_AHEAD waiting."""

    def __init__(self, folder: Path, options: ExportOptions) -> None:
        self.folder, self.options = folder, options
        self.pool = ThreadPoolExecutor(ENCODERS, thread_name_prefix="encode")
        self.pending: list[Future[int]] = []
        self.written: set[int] = set()
        self.bytes = 0

    def put(self, index: int, image: Any) -> None:
        if index in self.written:
            return
        self.written.add(index)
        path = self.folder / f"frames/{index:06d}.{self.options.image_format}"
        self.pending.append(self.pool.submit(_encode_and_write, path, image, self.options))
        while len(self.pending) >= ENCODE_AHEAD:
            self.bytes += self.pending.pop(0).result()

    def finish(self) -> int:
        try:
            self.bytes += sum(f.result() for f in self.pending)
            self.pending = []
            return self.bytes
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)


def single_pass(b: BundleReader, folder: Path, options: ExportOptions) -> tuple[list[Action], list[tuple[int, int]]]:
    """The bundle's actions with their settled frames, choosing and writing the frames in one decode of the video
    (`trajrec.framepick.FramePicker`), with the voiceover analysed meanwhile; and its speech spans."""
    rules = export_rules(options)
    with ThreadPoolExecutor(1, thread_name_prefix="voiceover") as side:
        voice = side.submit(b.voiceover)
        actions = b.actions(rules, visual=False, speech=False)
        if b.has_screen and actions:
            actions = _pick_and_write(b, actions, folder, options)
        heard = voice.result()
    speech = heard.spans if heard is not None else []
    return (narrate(actions, speech, rules) if heard is not None else actions), speech


def _pick_and_write(b: BundleReader, actions: list[Action], folder: Path, options: ExportOptions) -> list[Action]:
    times = b.frame_times()
    wanted = [k for k, a in enumerate(actions) if included(a, options)]
    plans = frame_plans(actions, times)
    picker = FramePicker([plans[k] for k in wanted])
    meter = ChangeMeter()
    writer = _Writer(folder, options)
    kept: dict[int, Any] = {}
    prev: Any = None
    missing: list[int] = []  # frames the decoder did not give: decoded on their own if chosen
    fed = 0
    try:
        for i, frame in b.video_frames():
            while fed < i:  # skipped by the decoder
                for c in picker.feed(fed, float("inf")):
                    missing.append(c)
                fed += 1
            for c in picker.feed(i, meter(i, thumbnail(frame))):
                image = frame if c == i else prev if c == i - 1 and prev is not None else kept.get(c)
                if image is None:
                    missing.append(c)
                else:
                    writer.put(c, image)
            keep = picker.pending()
            kept = {j: f for j, f in kept.items() if j in keep}
            if i in keep:
                kept[i] = frame
            prev, fed = frame, i + 1
        while fed < len(times):  # the video ended before its frame table
            missing.extend(picker.feed(fed, float("inf")))
            fed += 1
        for c in missing:
            writer.put(c, b.frame(c))
    finally:
        writer.bytes = writer.finish()
    out = list(actions)
    for j, k in enumerate(wanted):
        out[k] = replace(actions[k], frame_before=picker.before[j], frame_after=picker.after[j])
    return out


class Rejected(Exception):
    """The bundle did not validate (the export's gate said so): nothing of it was kept."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


Gate = Callable[[], list[str]]  # called before a bundle's output is committed: its validation problems, or none


def no_gate() -> list[str]:
    return []


def export_steps(b: BundleReader, dest: Path, options: ExportOptions, gate: Gate = no_gate) -> Exported:
    """Export one bundle into DEST/<session_id>/ (module docstring); `gate` may hold back the commit."""
    sid = check_session_id(b.session_id, b.source.location)
    final = dest / sid
    if done_already(final, b.manifest_sha256):
        return Exported(sid, skipped=True)
    partial = dest / f".{sid}.partial"
    with writing(dest):
        if partial.is_symlink() or partial.is_file():
            partial.unlink()
        shutil.rmtree(partial, ignore_errors=True)  # an earlier attempt, cut off
        os.mkdir(partial, 0o700)
        os.mkdir(partial / "frames", 0o700)
    try:
        actions, speech = single_pass(b, partial, options)
        work = to_steps(b, actions, speech, options)
        problems = gate()
        if problems:
            raise Rejected(problems)
        size = sum(p.stat().st_size for p in (partial / "frames").iterdir())
        steps = "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in work.steps)
        size += write_file(partial / STEPS, steps.encode())
        size += write_file(partial / META, (json.dumps(work.meta, indent=1, ensure_ascii=False) + "\n").encode())
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a bundle that cannot be exported leaves nothing behind
        raise
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
