"""Session: start / pause / resume / marker / stop. Owns the capture sources and the live writer.

Sources stamp, copy and hand records over through two bounded queues: frames to the encoder thread,
everything else (a `Record`: input, window context, elements, display layout, audio, markers, anchors) to the
log thread (recorder.logthread), which hands each to the writer by its type, key events through the privacy
guard (`hide_keys`, password fields). A full queue drops the newest item and counts it; dropped frames are
written to the log and reported in the manifest. A worker's exception is never lost: it stops the session
and is re-raised by stop(), after the recording has been sealed (as `recovered` when it could not finish
cleanly).

The sources are injectable: `Session(config, sources=factory)`, where the factory builds them from the
session (its clock, `offer_frame`, `offer_record`, `paused`, `config`). `default_sources` builds the real ones
(mss, the platform's input / window / display backends, PortAudio); a test hands in sources that need no
display and no microphone, and everything downstream (queues, writers, sealing) stays the real thing.
"""

from __future__ import annotations

import enum
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.capture.base import ScreenFrame, Source, WorkerThread
from recorder.capture.exclusion import OwnInputFilter, OwnWindows, consume_hotkeys
from recorder.capture.screen import Region, ScreenSource
from recorder.clock import SessionClock
from recorder.errors import CaptureError, RecorderError
from recorder.logthread import DroppedFrames, Record, run_log
from recorder.platform.base import HotkeyGrab
from recorder.platform.detect import frames_backend
from recorder.privacy.denylist import DenyGate, DenyList
from recorder.privacy.guard import HotkeyChord, InputGuard
from recorder.privacy.state import GuardsRecord, PrivacyState
from recorder.sealing.seal import seal
from recorder.writers.live import LiveWriter
from recorder.writers.video import VideoSettings
from trajrec import format as fmt

log = logging.getLogger(__name__)

FRAME_QUEUE = 16  # ~0.5 s at 30 fps; 1080p BGRA frames are 8 MB each
RECORD_QUEUE = 20_000
WORKER_JOIN_S = 30.0  # how long stop() waits for a writer thread to finish what is queued


class State(enum.StrEnum):
    IDLE = "idle"
    RECORDING = "recording"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass
class SessionConfig:
    out_dir: Path
    region: Region
    display_id: int = -1
    fps: float = 30.0
    crf: int = 23
    preset: str = "veryfast"
    draw_cursor: bool = False  # the pointer is always in the events; this also paints it into the video
    audio: bool = True
    audio_device: str | int | None = None
    samplerate: int = 48_000
    task: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    input: bool = True
    windows: bool = True
    elements: bool = True  # the accessibility tree: focus and click targets, and the password-field guard
    deny: DenyList | None = field(default_factory=DenyList)  # windows never recorded; None: no deny-list guard
    # Input the recorder itself causes (its hotkeys, its windows) must never enter the trajectory:
    # capture.exclusion.OwnInputFilter is the predicate the app passes.
    exclude_input: Callable[[fmt.InputEvent], bool] | None = None


@dataclass
class SessionStats:
    frames_dropped: int = 0
    records_dropped: int = 0
    audio_overflows: int = 0


SourceFactory = Callable[["Session"], list[Source]]  # the sources of a session, built (not started) at start()


def default_sources(session: Session) -> list[Source]:
    """The real sources the config asks for: screen (mss), input, window context and display layout (the
    platform's backends), voiceover (PortAudio). Capture modules are imported only when asked for."""
    c = session.config
    now_ns, paused = session.clock.now_ns, session.paused
    gate = session.deny_gate
    sources: list[Source] = [
        ScreenSource(
            now_ns,
            session.offer_frame,
            c.region,
            fps=c.fps,
            display_id=c.display_id,
            paused=paused,
            draw_cursor=c.draw_cursor,
            private=gate.private_now if c.windows and c.deny is not None else lambda: False,
            mask=gate.mask if c.windows and (c.deny is not None or _own_windows(c) is not None) else None,
        )
    ]
    # the voiceover next: its stream opens in milliseconds, while the input listener takes 0.15-0.5 s to start
    # (longer on a busy machine), which the narration would otherwise miss at the start of every session
    if c.audio:
        from recorder.capture.audio import AudioSource

        sources.append(
            AudioSource(now_ns, session.offer_record, device=c.audio_device, samplerate=c.samplerate, paused=paused)
        )
    emit_input: Callable[[fmt.InputEvent], None] = session.offer_record
    if c.elements:  # before input: a press asks it for the element under the pointer
        from recorder.capture.elements import ElementSource

        elements = ElementSource(now_ns, session.offer_record, session.privacy, paused=paused, deny=c.deny)
        sources.append(elements)

        def emit_input(event: fmt.InputEvent) -> None:
            session.offer_record(event)
            elements.pressed(event)

    if c.input:
        from recorder.capture.input import InputSource

        sources.append(InputSource(now_ns, emit_input, paused=paused, exclude=c.exclude_input))
    if c.windows:
        from recorder.capture.window import WindowSource

        hide = gate.hides if c.deny is not None else lambda _window: False
        sources.append(WindowSource(now_ns, session.offer_record, paused=paused, hide=hide))
    if c.windows:
        from recorder.capture.displays import DisplayLayoutSource

        sources.append(DisplayLayoutSource(now_ns, session.offer_record, paused=paused))
    return sources


class Session:
    """One recording: `start()`, then `pause()` / `resume()` / `marker()` from any thread, then `stop()`."""

    def __init__(
        self,
        config: SessionConfig,
        clock: SessionClock | None = None,
        *,
        sources: SourceFactory = default_sources,
        frame_queue: int = FRAME_QUEUE,
        record_queue: int = RECORD_QUEUE,
    ) -> None:
        self.config = config
        self.clock = clock or SessionClock()
        self.session_id = config.session_id or fmt.new_session_id()
        self.live_dir = config.out_dir / f".{self.session_id}.live"
        self.state = State.IDLE
        self.stats = SessionStats()
        self.sources: list[Source] = []
        self._make_sources = sources
        self._frames: queue.Queue[ScreenFrame | None] = queue.Queue(frame_queue)
        self._records: queue.Queue[Record | None] = queue.Queue(record_queue)
        self._writer: LiveWriter | None = None
        self._workers: list[WorkerThread] = []
        self._failed = threading.Event()
        self._lock = threading.Lock()
        self.privacy = PrivacyState()  # when keys are private; the log thread's InputGuard redacts by it
        deny = config.deny or DenyList(apps=(), titles=())
        frames = frames_backend if config.elements else None  # what applications say of their windows
        self.deny_gate = DenyGate(deny, self.privacy, self.clock.now_ns, frames=frames)  # the screen source asks
        self.accessibility: str | None = None
        self.input_guard = InputGuard(self.privacy)
        self._grab: HotkeyGrab | None = None  # the app's hotkeys kept from other applications while recording
        self.hotkey_problems: list[str] = []  # hotkeys that also reach the focused application, in words

    # --- what sources call (any thread; never blocks) -------------------------------------------
    def paused(self) -> bool:
        return self.state != State.RECORDING

    def offer_frame(self, frame: ScreenFrame) -> None:
        try:
            self._frames.put_nowait(frame)
        except queue.Full:
            self.stats.frames_dropped += 1
            self.offer_record(DroppedFrames(frame.t_ns))

    def offer_record(self, record: Record) -> None:
        try:
            self._records.put_nowait(record)
        except queue.Full:
            self.stats.records_dropped += 1

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        c = self.config
        video = VideoSettings(c.region.even().width, c.region.even().height, crf=c.crf, preset=c.preset)
        sources = self._make_sources(self)
        self._writer = LiveWriter(
            self.live_dir,
            session_id=self.session_id,
            task=c.task,
            environment=c.environment,
            video=video,
            screen={
                "fps_target": c.fps,
                "cursor_drawn": c.draw_cursor,
                "display_ids": [c.display_id] if c.display_id >= 0 else [],
                "region": {"origin": [c.region.left, c.region.top], "size_px": [video.width, video.height]},
            },
            audio_rate=c.samplerate if c.audio else None,
            audio_device=str(c.audio_device or "default"),
            audio_absent_reason="recorded without a microphone (--no-audio)",
        )
        self._workers = [WorkerThread(self._encode, "encoder"), WorkerThread(self._write, "log-writer")]
        for w in self._workers:
            w.start()
        self._writer.anchor(self.clock.anchor(fmt.AnchorEvent.START))
        self._own_input()
        self.state = State.RECORDING
        started: list[Source] = []
        try:
            for source in sources:
                source.start()
                started.append(source)
        except BaseException:
            for source in reversed(started):
                _quietly(source.stop)
            self._release_hotkeys()
            self.state = State.STOPPED
            self._finish_writers(stop=None)
            shutil.rmtree(self.live_dir, ignore_errors=True)  # nothing was recorded yet
            raise
        self.sources = started
        self.accessibility = _accessibility(started)  # None: the password-field guard runs; else why not
        deny = self.deny_gate.deny
        self.offer_record(GuardsRecord(self.clock.now_ns(), self.accessibility, len(deny), deny.sha256))
        log.info("session %s recording into %s", self.session_id, self.live_dir)

    def _own_input(self) -> None:
        """The app's own input (its OwnInputFilter): its hotkeys kept from the focused application and their
        modifier presses left out by the input guard; its windows filled in every frame."""
        own = self.config.exclude_input
        if not isinstance(own, OwnInputFilter):
            return
        own.on_chord = lambda t_ns, modifiers: self.offer_record(HotkeyChord(t_ns, modifiers))
        windows = own.windows
        if windows is not None:  # the app's windows are filled in every frame, before encoding
            self.deny_gate.own = lambda: [(r.x, r.y, r.w, r.h) for r in windows.snapshot()[0]]
        if own.hotkeys:
            self._grab, self.hotkey_problems = consume_hotkeys(own.hotkeys)
            for problem in self.hotkey_problems:
                log.warning("%s", problem)

    def _release_hotkeys(self) -> None:
        if self._grab is not None:
            _quietly(self._grab.release)
            self._grab = None

    def pause(self) -> None:
        with self._lock:
            if self.state != State.RECORDING:
                return
            self.state = State.PAUSED  # sources see it at once: nothing more is captured
            anchor = self.clock.anchor(fmt.AnchorEvent.PAUSE)
            self.offer_record(anchor)
            self.offer_record(fmt.Marker(anchor.mono_ns, fmt.MarkerKind.PAUSE))

    def resume(self) -> None:
        with self._lock:
            if self.state != State.PAUSED:
                return
            anchor = self.clock.anchor(fmt.AnchorEvent.RESUME)
            self.offer_record(anchor)
            self.offer_record(fmt.Marker(anchor.mono_ns, fmt.MarkerKind.RESUME))
            self.state = State.RECORDING

    def hide_keys(self, hidden: bool) -> None:
        """The keys-hidden hotkey: while on, every key is recorded redacted (works without accessibility)."""
        self.privacy.mark(fmt.PrivacyKind.KEYS_HIDDEN, hidden, self.clock.now_ns())

    def private_state(self) -> str:
        """What the deny-list guard does right now: "focused" (nothing recorded), "masked" (a denied window is
        filled in the frames) or ""."""
        if self.privacy.is_on(fmt.PrivacyKind.DENY_LIST):
            return "focused"
        return "masked" if self.deny_gate.showing else ""

    @property
    def keys_hidden(self) -> bool:
        return self.privacy.is_on(fmt.PrivacyKind.KEYS_HIDDEN)

    def marker(self, text: str | None = None, kind: fmt.MarkerKind = fmt.MarkerKind.STEP) -> None:
        if self.state in (State.RECORDING, State.PAUSED):
            self.offer_record(fmt.Marker(self.clock.now_ns(), kind, text))

    @property
    def failed(self) -> bool:
        """A writer failed (disk full, encoder error): the caller should stop()."""
        return self._failed.is_set()

    def stop(self) -> Path:
        """Stop capturing, finish the live files, seal the bundle, and return its path."""
        if self.state == State.STOPPED:
            raise RecorderError("the session is already stopped")
        errors: list[BaseException] = []
        for source in reversed(self.sources):
            try:
                source.stop()
            except BaseException as e:
                errors.append(e)
        self._release_hotkeys()
        _quietly(self.deny_gate.close)  # the screen source, its only user, has stopped
        masked = sum(s.masked for s in self.sources if isinstance(s, ScreenSource))
        deny = self.deny_gate.deny
        self.offer_record(GuardsRecord(self.clock.now_ns(), self.accessibility, len(deny), deny.sha256, masked))
        self.state = State.STOPPED
        stop_anchor = self.clock.anchor(fmt.AnchorEvent.STOP)
        errors.extend(self._finish_writers(stop=stop_anchor))
        if errors:
            log.warning("session %s ended with errors: %s", self.session_id, "; ".join(map(str, errors)))
        bundle = seal(self.live_dir, self.config.out_dir, recover=bool(errors))  # keeps live_dir if it fails
        shutil.rmtree(self.live_dir, ignore_errors=True)  # everything is in the bundle now (raw/session.mcap)
        if errors:
            first = errors[0]
            raise CaptureError(
                f"recording stopped with an error ({first}); what was recorded is in {bundle}"
            ) from first
        return bundle

    def _finish_writers(self, stop: fmt.Anchor | None) -> list[BaseException]:
        errors: list[BaseException] = []
        encoder, log_writer = self._workers
        _end_queue(self._frames, encoder)
        _end_queue(self._records, log_writer)
        for w in self._workers:
            try:
                w.join(WORKER_JOIN_S)
            except BaseException as e:
                errors.append(e)
        assert self._writer is not None
        try:
            self._writer.close(stop=stop if not errors else None)
        except BaseException as e:
            errors.append(e)
        return errors

    # --- writer threads -------------------------------------------------------------------------
    def _encode(self) -> None:
        assert self._writer is not None
        try:
            while (frame := self._frames.get()) is not None:
                self._writer.frame(frame.t_ns, frame.image, frame.display_id)
        except BaseException:
            self._failed.set()
            raise

    def _write(self) -> None:
        assert self._writer is not None
        try:
            run_log(self._records, self._writer, self.input_guard, self.clock.now_ns, self.stats)
        except BaseException:
            self._failed.set()
            raise


def _own_windows(config: SessionConfig) -> OwnWindows | None:
    own = config.exclude_input
    return own.windows if isinstance(own, OwnInputFilter) else None


def _accessibility(sources: list[Source]) -> str | None:
    """Why the password-field guard runs degraded (None: it runs), for the manifest."""
    from recorder.capture.elements import ElementSource

    found = [s for s in sources if isinstance(s, ElementSource)]
    if not found:
        return "the accessibility tree was not asked (elements off in this session's settings)"
    return found[0].unavailable


def _end_queue(q: queue.Queue[Any], reader: WorkerThread) -> None:
    """Put the end-of-stream sentinel for `reader`. A reader that failed reads no more, and its queue may be
    full (the sources went on offering): then there is nobody to tell, and its join() re-raises why."""
    deadline = time.monotonic() + WORKER_JOIN_S
    while reader.is_alive() and time.monotonic() < deadline:
        try:
            q.put(None, timeout=0.1)
            return
        except queue.Full:
            continue


def _quietly(fn: Callable[[], None]) -> None:
    try:
        fn()
    except BaseException as e:  # already failing: keep the first error, log the rest
        log.warning("while stopping: %s", e)
