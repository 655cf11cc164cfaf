"""BundleReader: open a bundle directory or .tar and get its data on the session clock.

with BundleReader("bundles/20261125T101500Z-1a2b3c4d") as b:
    ev = b.events()                      # pyarrow.Table, one row per input event
    img = b.frame_at(int(ev["t_ns"][10])) # RGB uint8 array of the frame on screen at that event
    pcm = b.audio(t0_ns, t1_ns)          # int16 samples, shape (n, channels)
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import av
import numpy as np
import pyarrow as pa
import soundfile as sf

from trajrec import format as fmt
from trajrec.errors import BundleError, BundleMemberError, ManifestError
from trajrec.manifest import read_manifest
from trajrec.paths import open_regular
from trajrec.screen import THUMB, thumbnail
from trajrec.source import BundleSource, open_source
from trajrec.timeline import Span, pause_spans

if TYPE_CHECKING:
    from trajrec.actions import Action, ActionRules
    from trajrec.quality.speech import SpeechRules, Voiceover
    from trajrec.screen import ScreenProfile


class BundleReader:
    def __init__(self, path: str | Path | BundleSource) -> None:
        self.source = path if isinstance(path, BundleSource) else open_source(path)
        try:
            data = self.source.read_bytes(fmt.MANIFEST, fmt.MAX_MANIFEST_BYTES)
            self.manifest, self.newer_minor = read_manifest(data)
            self.manifest_sha256 = hashlib.sha256(data).hexdigest()  # provenance: names this exact bundle
        except BundleMemberError as e:
            self.source.close()
            raise ManifestError(f"{self.source.location}: {fmt.MANIFEST}: {e.reason}") from e
        except BundleError:
            self.source.close()
            raise
        self._tables: dict[str, pa.Table] = {}
        self._video: _VideoCursor | None = None
        self._windows: list[fmt.WindowRecord] | None = None
        self._elements: list[fmt.ElementRecord] | None = None
        self._voiceover: Voiceover | None = None
        self._screen: ScreenProfile | None = None

    # --- manifest shortcuts ---------------------------------------------------------------------
    @property
    def session_id(self) -> str:
        return str(self.manifest["session_id"])

    @property
    def status(self) -> fmt.Status:
        return fmt.Status(self.manifest["status"])

    @property
    def start_ns(self) -> int:
        return int(self.manifest["clock"]["start_ns"])

    @property
    def end_ns(self) -> int:
        return int(self.manifest["clock"]["end_ns"])

    def pauses(self) -> list[Span]:
        """The (pause, resume) spans of the session, in time order; nothing was captured inside them."""
        return pause_spans(self.manifest["clock"]["anchors"], self.end_ns)

    @property
    def displays(self) -> list[fmt.Display]:
        return fmt.displays_from_json(self.manifest["environment"]["displays"])

    def utc_ns(self, t_ns: int) -> int:
        """Unix time (ns) of a session-clock time, from the latest anchor at or before it."""
        anchors = self.manifest["clock"]["anchors"]
        best = anchors[0]
        for a in anchors:
            if a["mono_ns"] <= t_ns:
                best = a
        return int(best["utc_ns"]) + t_ns - int(best["mono_ns"])

    # --- tables ---------------------------------------------------------------------------------
    def _table(self, path: str) -> pa.Table:
        """A Parquet table of the bundle, read once; a damaged file is a BundleMemberError, never raw Arrow."""
        if path not in self._tables:
            try:
                with self.source.open(path) as f:
                    self._tables[path] = fmt.with_added_columns(fmt.read_parquet(f), fmt.TABLE_SCHEMAS.get(path))
            except (pa.ArrowException, OSError, ValueError) as e:
                if isinstance(e, BundleError):
                    raise
                raise BundleMemberError(
                    self.source.location, path, f"not a readable Parquet table ({str(e).splitlines()[0][:120]})"
                ) from e
        return self._tables[path]

    def frames(self) -> pa.Table:
        """frame_index, pts, t_ns, display_id, keyframe: one row per frame of screen/video.mp4."""
        if not self.has_screen:
            return fmt.FRAMES_SCHEMA.empty_table()
        return self._table(fmt.FRAMES)

    def frame_times(self) -> np.ndarray:
        return np.asarray(self.frames().column("t_ns").to_numpy(), dtype=np.int64)

    def events(self) -> pa.Table:
        return self._table(fmt.EVENTS)

    def event_records(self) -> list[fmt.InputEvent]:
        return fmt.events_from_table(self.events())

    def windows(self) -> pa.Table:
        return self._table(fmt.WINDOWS)

    def window_records(self) -> list[fmt.WindowRecord]:
        return fmt.windows_from_table(self.windows())

    def elements(self) -> pa.Table:
        """context/elements.parquet (format 1.1): the accessibility element that took the focus, and the one
        under the pointer at each press; empty when the bundle has none (1.0, or no accessibility bus)."""
        if not self.manifest["streams"].get("elements", {}).get("present"):
            return fmt.ELEMENTS_SCHEMA.empty_table()
        return self._table(fmt.ELEMENTS)

    def element_records(self) -> list[fmt.ElementRecord]:
        return fmt.elements_from_table(self.elements())

    def element_at(self, t_ns: int, kind: fmt.ElementKind = fmt.ElementKind.FOCUS) -> fmt.ElementRecord | None:
        """The element that had the focus at `t_ns` (the latest focus record at or before it); with
        kind=CLICK, the target of the latest press at or before it."""
        if self._elements is None:
            self._elements = self.element_records()
        of_kind = [e for e in self._elements if e.kind == kind]
        i = bisect.bisect_right([e.t_ns for e in of_kind], t_ns) - 1
        return None if i < 0 else of_kind[i]

    def window_at(self, t_ns: int) -> fmt.WindowRecord | None:
        """The window context in effect at `t_ns` (the latest record at or before it)."""
        if self._windows is None:
            self._windows = self.window_records()
        i = bisect.bisect_right([w.t_ns for w in self._windows], t_ns) - 1
        return None if i < 0 else self._windows[i]

    def markers(self) -> list[fmt.Marker]:
        with self.source.open(fmt.MARKERS) as f:
            data = f.read()
        try:
            return [fmt.marker_from_json(json.loads(line)) for line in data.decode().splitlines() if line]
        except (ValueError, KeyError, TypeError, RecursionError) as e:
            raise BundleMemberError(self.source.location, fmt.MARKERS, f"not marker records ({str(e)[:120]})") from e

    def actions(self, rules: ActionRules | None = None, *, visual: bool = True, speech: bool = True) -> list[Action]:
        """The session's input reduced to actions (click, drag, scroll, type, hotkey, move, marker) with their
        window, element, display, frames and narration: `trajrec.actions`. `visual`: the frames before and after
        each action are where the screen had settled (one low-resolution decode of the video); else they are
        chosen by time. `speech`: each action names the speech spans of `voiceover()` around it."""
        from trajrec.actions import reduce_events

        with ThreadPoolExecutor(1, thread_name_prefix="voiceover") as pool:  # the audio while the video decodes
            voice = pool.submit(self.voiceover) if speech and self.has_audio else None
            changes = self.screen_profile().changes if visual and self.has_screen else None
            heard = voice.result() if voice is not None else None
        spans = heard.spans if heard is not None else None
        return reduce_events(
            self.event_records(),
            windows=self.window_records(),
            elements=self.element_records(),
            markers=self.markers(),
            displays=self.displays,
            frame_times=self.frame_times() if self.has_screen else None,
            changes=changes,
            speech=spans,
            rules=rules,
        )

    # --- video ----------------------------------------------------------------------------------
    @property
    def has_screen(self) -> bool:
        return bool(self.manifest["streams"]["screen"].get("present"))

    def frame_index_at(self, t_ns: int) -> int | None:
        """Index of the frame on screen at `t_ns`: the last one grabbed at or before it."""
        i = int(np.searchsorted(self.frame_times(), t_ns, side="right")) - 1
        return None if i < 0 else i

    def frame(self, index: int) -> np.ndarray:
        """Decoded frame `index` as an RGB uint8 array (height, width, 3)."""
        table = self.frames()
        if not 0 <= index < table.num_rows:
            raise IndexError(f"frame {index} out of range (0..{table.num_rows - 1})")
        try:
            if self._video is None:
                self._video = _VideoCursor(self._open_media(fmt.VIDEO))
            pts = table.column("pts").to_numpy()
            return self._video.decode(int(pts[index]), pts)
        except MEDIA_ERRORS as e:
            raise _damaged(self.source.location, fmt.VIDEO, e) from e

    def video_frames(self) -> Iterator[tuple[int, av.VideoFrame]]:
        """(frame index, decoded frame) for every frame, in order: one sequential decode."""
        index = {int(p): i for i, p in enumerate(self.frames().column("pts").to_numpy())}
        try:
            with self._open_media(fmt.VIDEO) as f, av.open(f, "r") as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    i = index.get(int(frame.pts)) if frame.pts is not None else None
                    if i is not None:
                        yield i, frame
        except MEDIA_ERRORS as e:
            raise _damaged(self.source.location, fmt.VIDEO, e) from e

    def thumbnails(self, width: int = THUMB[0], height: int = THUMB[1]) -> Iterator[tuple[int, np.ndarray]]:
        """(frame index, grey uint8 array of height x width) for every frame, in order: one sequential decode,
        area-averaged (`trajrec.screen.thumbnail`; for screen statistics, not for looking at)."""
        for i, frame in self.video_frames():
            yield i, thumbnail(frame, width, height)

    def screen_profile(self) -> ScreenProfile:
        """How much each frame changed and how bright it is (`trajrec.screen`): one thumbnail decode, computed once."""
        if self._screen is None:
            from trajrec.screen import screen_profile

            self._screen = screen_profile(self.thumbnails())
        return self._screen

    def frame_at(self, t_ns: int) -> np.ndarray | None:
        """The frame on screen at session time `t_ns`, or None before the first frame."""
        i = self.frame_index_at(t_ns)
        return None if i is None else self.frame(i)

    def video_seconds(self, pts: int) -> float:
        num, den = self.manifest["streams"]["screen"]["time_base"]
        return float(Fraction(pts * num, den))

    # --- audio ----------------------------------------------------------------------------------
    @property
    def has_audio(self) -> bool:
        return bool(self.manifest["streams"]["audio"].get("present"))

    def audio(self, t0_ns: int | None = None, t1_ns: int | None = None) -> np.ndarray:
        """Voiceover samples (int16, shape (n, channels)) covering [t0_ns, t1_ns) of the session clock.

        Parts of the range outside the recorded audio are returned as silence, so the result always
        has round((t1 - t0) * clock_rate_hz) samples when both ends are given. Sample i sits at
        first_sample_t_ns + i / clock_rate_hz (the device's measured rate on the session clock).
        """
        if not self.has_audio:
            raise BundleError(f"{self.source.location}: this bundle has no audio")
        meta = self.manifest["streams"]["audio"]
        rate, channels, n = self._audio_rate(), int(meta["channels"]), int(meta["samples"])
        first = int(meta["first_sample_t_ns"])
        s0 = 0 if t0_ns is None else round((t0_ns - first) * rate / 1e9)
        s1 = n if t1_ns is None else round((t1_ns - first) * rate / 1e9)
        out = np.zeros((max(0, s1 - s0), channels), np.int16)
        a, b = max(0, s0), min(n, s1)
        if a < b:
            try:
                with self._open_media(fmt.AUDIO) as f, sf.SoundFile(f) as snd:
                    snd.seek(a)
                    data = snd.read(b - a, dtype="int16", always_2d=True)
                out[a - s0 : a - s0 + len(data)] = data
            except MEDIA_ERRORS as e:
                raise _damaged(self.source.location, fmt.AUDIO, e) from e
        return out

    def audio_blocks(self, block_s: float = 10.0) -> Iterator[np.ndarray]:
        """The whole voiceover as consecutive int16 blocks (n, channels) of about `block_s` seconds: one
        sequential read, memory flat in the recording's length."""
        if not self.has_audio:
            raise BundleError(f"{self.source.location}: this bundle has no audio")
        n = max(1, round(float(self.manifest["streams"]["audio"]["sample_rate"]) * block_s))
        try:
            with self._open_media(fmt.AUDIO) as f, sf.SoundFile(f) as snd:
                while True:
                    data = snd.read(n, dtype="int16", always_2d=True)
                    if not len(data):
                        return
                    yield data
        except MEDIA_ERRORS as e:
            raise _damaged(self.source.location, fmt.AUDIO, e) from e

    def voiceover(self, rules: SpeechRules | None = None) -> Voiceover | None:
        """Where the expert spoke and how loud (`trajrec.quality.speech`); None without audio. Computed once."""
        if not self.has_audio:
            return None
        if self._voiceover is None or rules is not None:
            from trajrec.quality.speech import analyse

            meta = self.manifest["streams"]["audio"]
            self._voiceover = analyse(
                self.audio_blocks(),
                sample_rate=int(meta["sample_rate"]),
                clock_rate_hz=self._audio_rate(),
                first_sample_t_ns=int(meta["first_sample_t_ns"]),
                rules=rules,
            )
        return self._voiceover

    def sample_time_ns(self, index: int) -> int:
        """Session-clock time of voiceover sample `index`."""
        first = int(self.manifest["streams"]["audio"]["first_sample_t_ns"])
        return first + round(index * 1e9 / self._audio_rate())

    def _audio_rate(self) -> float:
        meta = self.manifest["streams"]["audio"]
        return float(meta.get("clock_rate_hz") or meta["sample_rate"])

    # --- plumbing -------------------------------------------------------------------------------
    def _open_media(self, path: str) -> IO[bytes]:
        local = self.source.local_path(path)
        return (
            open_regular(local, where=self.source.location, name=path) if local is not None else self.source.open(path)
        )

    def close(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None
        self.source.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# What a damaged media file raises in the decoders (PyAV's errors are OSError/ValueError subclasses).
MEDIA_ERRORS = (av.FFmpegError, sf.SoundFileError, OSError, ValueError, RuntimeError, EOFError, IndexError)


def _damaged(location: str, path: str, e: BaseException) -> BundleError:
    """A decoder's error on a damaged member, as the BundleError family says it."""
    first = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
    return BundleMemberError(location, path, f"cannot be decoded ({first})")


class _VideoCursor:
    """Decode frames by pts, continuing forward when it can and seeking to a keyframe when it must."""

    def __init__(self, f: IO[bytes]) -> None:
        self._file = f
        try:
            self._container = av.open(f, "r")
        except BaseException:
            f.close()
            raise
        try:
            self._stream = self._container.streams.video[0]
        except BaseException:
            self.close()
            raise
        self._iter: Any = None
        self._last_pts: int | None = None

    def decode(self, pts: int, all_pts: np.ndarray) -> np.ndarray:
        if self._last_pts is None or pts <= self._last_pts or not self._near(pts, all_pts):
            self._container.seek(pts, stream=self._stream, backward=True, any_frame=False)
            self._iter = self._container.decode(self._stream)
        for frame in self._iter:
            self._last_pts = frame.pts
            if frame.pts == pts:
                arr: np.ndarray = frame.to_ndarray(format="rgb24")
                return arr
            if frame.pts is not None and frame.pts > pts:
                break
        raise BundleError(f"video has no frame at pts {pts}")

    def _near(self, pts: int, all_pts: np.ndarray) -> bool:
        """True when `pts` lies within 60 frames after the current position: decoding on beats seeking."""
        assert self._last_pts is not None
        here = int(np.searchsorted(all_pts, self._last_pts))
        there = int(np.searchsorted(all_pts, pts))
        return 0 < there - here <= 60

    def close(self) -> None:
        self._container.close()
        self._file.close()
