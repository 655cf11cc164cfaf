"""Session without a display or a microphone: dummy sources emit real records (frames, input events from the
dummy input backend, window and layout records from the dummy backends, int16 audio blocks) into the real
queues and writers (H.264 through PyAV, the MCAP log, FLAC), and every bundle is sealed and validated.

Covered: a full frame queue drops and counts, and the count reaches the manifest; stop() seals a valid
bundle and joins every thread; a failing writer thread ends as a `recovered` bundle with its error raised,
and a failing source's error is raised after the recording is sealed."""

from __future__ import annotations

import functools
import json
import threading
import time
import typing
from pathlib import Path

import numpy as np
import pytest

import trajrec
from recorder.capture.base import AudioChunk, Clock, Emit, ScreenFrame, Source, WorkerThread
from recorder.capture.displays import DisplayLayoutSource
from recorder.capture.input import InputSource
from recorder.capture.screen import Region
from recorder.capture.window import WindowSource
from recorder.errors import CaptureError, RecorderError, VideoWriteError
from recorder.logthread import Record, handlers
from recorder.plan import environment
from recorder.platform import DummyDisplayBackend, DummyInputBackend, DummyWindowBackend, WindowInfo
from recorder.privacy.guard import HotkeyChord
from recorder.session import Session, SessionConfig, SourceFactory, State
from recorder.writers.live import LiveWriter
from tests.helpers.harness import wait_until
from trajrec import format as fmt

W, H = 320, 240
RATE = 48_000
BLOCK = 480  # samples per audio block: 10 ms
ONE = (fmt.Display(0, (0, 0), (W, H), primary=True),)
TWO = (*ONE, fmt.Display(1, (W, 0), (640, 480)))
ALPHA = WindowInfo("Alpha", "notes.txt", 10, 20, 200, 150, pid=7, window_id=0xA)
EVENTS = [
    fmt.InputEvent(0, 0, fmt.EventKind.MOVE, x=100, y=80),
    fmt.InputEvent(0, 0, fmt.EventKind.DOWN, x=100, y=80, button="left"),
    fmt.InputEvent(0, 0, fmt.EventKind.UP, x=100, y=80, button="left"),
    fmt.InputEvent(0, 0, fmt.EventKind.KEY_DOWN, key="a", char="a", scancode=38),
    fmt.InputEvent(0, 0, fmt.EventKind.KEY_UP, key="a", char="a", scancode=38),
]


class FrameSource(Source):
    """Stands in for the screen: a moving square `fps` times a second, stamped on the session clock. Once,
    after frame 5, `burst` more frames are offered back to back (a stall upstream catching up); frame
    `bad_at` is 2 px too narrow, which the encoder refuses."""

    name = "frames"

    def __init__(
        self,
        clock: Clock,
        emit: Emit[ScreenFrame],
        paused: typing.Callable[[], bool],
        *,
        fps: float = 30.0,
        burst: int = 0,
        bad_at: int | None = None,
    ) -> None:
        self.clock, self.emit, self.paused = clock, emit, paused
        self.period_s = 1 / fps
        self.burst = burst
        self.bad_at = bad_at
        self.offered = 0  # frames handed to emit, whatever the queue did with them
        self._last_t = 0
        self._stop = threading.Event()
        self._worker = WorkerThread(self._run, "frames-dummy")

    @staticmethod
    def image(i: int, width: int = W) -> np.ndarray:
        img = np.full((H, width, 4), 40, dtype=np.uint8)
        x = (7 * i) % (width - 20)
        img[100:120, x : x + 20, :3] = 230
        return img

    def _offer(self, image: np.ndarray) -> None:
        t = max(self.clock(), self._last_t + 1)  # strictly increasing, even back to back
        self._last_t = t
        self.emit(ScreenFrame(t_ns=t, image=image, display_id=0))
        self.offered += 1

    def _run(self) -> None:
        i = 0
        while not self._stop.wait(self.period_s):
            if self.paused():
                continue
            i += 1
            self._offer(self.image(i, W - 2 if i == self.bad_at else W))
            if i == 5 and self.burst:
                for image in [self.image(i + k) for k in range(self.burst)]:  # made first: offered at once
                    self._offer(image)

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(5)


class ToneSource(Source):
    """Stands in for the microphone: a 440 Hz tone in 10 ms int16 blocks, each stamped with its first
    sample's time (start + samples / rate) and offered once that block is complete. As on a real device the
    samples go on while paused, and those blocks are dropped."""

    name = "tone"

    def __init__(self, clock: Clock, emit: Emit[AudioChunk], paused: typing.Callable[[], bool]) -> None:
        self.clock, self.emit, self.paused = clock, emit, paused
        self.chunks = 0
        self._stop = threading.Event()
        self._worker = WorkerThread(self._run, "tone-dummy")

    def _run(self) -> None:
        t0, n = self.clock(), 0
        while not self._stop.wait(0.005):
            now = self.clock()
            while t0 + (n + BLOCK) * 1_000_000_000 // RATE <= now:
                k = np.arange(n, n + BLOCK)
                block = (0.3 * 32767 * np.sin(2 * np.pi * 440 * k / RATE)).astype(np.int16).reshape(-1, 1)
                t = t0 + n * 1_000_000_000 // RATE
                n += BLOCK
                if not self.paused():
                    self.emit(AudioChunk(t, block))
                    self.chunks += 1

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._worker.join(5)


def dummy_sources(
    *, burst: int = 0, bad_at: int | None = None, windows: list[WindowInfo | BaseException | None] | None = None
) -> SourceFactory:
    """Every kind of source, none of which needs a display or a microphone: the test's frames and tone, and
    the real input, window and layout sources on the dummy platform backends."""

    def build(session: Session) -> list[Source]:
        now, paused = session.clock.now_ns, session.paused
        sources: list[Source] = [
            FrameSource(now, session.offer_frame, paused, burst=burst, bad_at=bad_at),
            InputSource(
                now, session.offer_record, paused=paused, backend=functools.partial(DummyInputBackend, events=EVENTS)
            ),
            WindowSource(
                now,
                session.offer_record,
                interval_s=0.02,
                backend=DummyWindowBackend([ALPHA] if windows is None else windows),
                paused=paused,
            ),
            DisplayLayoutSource(
                now, session.offer_record, interval_s=0.05, backend=DummyDisplayBackend([ONE, TWO]), paused=paused
            ),
        ]
        if session.config.audio:
            sources.append(ToneSource(now, session.offer_record, paused))
        return sources

    return build


def config(out: Path, *, audio: bool = True) -> SessionConfig:
    return SessionConfig(
        out_dir=out,
        region=Region(0, 0, W, H),
        display_id=0,
        audio=audio,
        samplerate=RATE,
        task={"id": "t-session", "title": "No display", "instruction": "", "expert": "e", "consent": True},
        environment=environment(list(ONE)),
    )


def source(session: Session, kind: type[Source]) -> typing.Any:
    return next(s for s in session.sources if isinstance(s, kind))


def manifest(bundle: Path) -> dict[str, typing.Any]:
    return dict(json.loads((bundle / fmt.MANIFEST).read_text()))


def test_every_record_type_has_a_writer(tmp_path: Path) -> None:
    session = Session(config(tmp_path))
    writer = LiveWriter(tmp_path / "live", session_id="s", task={}, environment={}, video=None)
    try:
        # a HotkeyChord is an instruction to the input guard, never written
        assert set(handlers(writer, session.stats)) | {HotkeyChord} == set(typing.get_args(Record))
    finally:
        writer.close()


def test_a_full_frame_queue_drops_and_counts_into_the_manifest(tmp_path: Path) -> None:
    session = Session(config(tmp_path, audio=False), sources=dummy_sources(burst=60), frame_queue=2)
    session.start()
    frames = source(session, FrameSource)
    wait_until(lambda: frames.offered >= 90, "the burst and 25 frames after it", timeout=10)
    bundle = session.stop()

    dropped = session.stats.frames_dropped
    assert 0 < dropped <= 60  # the queue holds 2: most of a burst offered at once is turned away
    stats = manifest(bundle)["stats"]
    assert stats["dropped_frames"] == dropped
    assert stats["frames"] + stats["dropped_frames"] == frames.offered  # every frame encoded or counted
    assert session.stats.records_dropped == 0
    report = trajrec.validate(bundle, deep=True)
    assert report.findings == [], report.findings


def test_stop_seals_a_valid_bundle_and_joins_every_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    session = Session(config(tmp_path), sources=dummy_sources())
    session.start()
    assert session.state == State.RECORDING and session.live_dir.is_dir()
    frames, tone = source(session, FrameSource), source(session, ToneSource)
    wait_until(lambda: frames.offered >= 15, "half a second of frames")
    session.pause()
    offered, chunks = frames.offered, tone.chunks
    time.sleep(0.3)
    assert frames.offered <= offered + 1 and tone.chunks <= chunks + 1  # at most what was under way
    session.resume()
    session.marker("step one")
    wait_until(lambda: frames.offered >= offered + 15, "half a second more")
    bundle = session.stop()

    assert bundle == tmp_path / session.session_id and not session.live_dir.exists()
    assert session.state == State.STOPPED
    left = [t.name for t in threading.enumerate() if t not in before and t.is_alive()]
    assert left == [], f"threads still running after stop(): {left}"
    with pytest.raises(RecorderError, match="already stopped"):
        session.stop()

    report = trajrec.validate(bundle, deep=True)
    assert report.findings == [], report.findings
    m = manifest(bundle)
    assert m["status"] == "complete" and "notes" not in m
    assert m["stats"]["frames"] + m["stats"]["dropped_frames"] == frames.offered
    assert m["environment"]["display_changes"][0]["displays"] == [d.to_json() for d in TWO]
    with trajrec.open(bundle) as b:
        assert [(e.kind, e.x, e.y, e.button, e.key) for e in b.event_records()] == [
            (e.kind, e.x, e.y, e.button, e.key) for e in EVENTS
        ]
        assert [w.app for w in b.window_records()] == ["Alpha", "Alpha"]  # again after the pause
        assert [(mk.kind, mk.text) for mk in b.markers()] == [
            (fmt.MarkerKind.PAUSE, None),
            (fmt.MarkerKind.RESUME, None),
            (fmt.MarkerKind.STEP, "step one"),
        ]
        assert len(b.pauses()) == 1 and len(b.frame_times()) == m["stats"]["frames"]
        voice = b.audio().astype(np.float64) / 32768
        assert m["streams"]["audio"]["sample_rate"] == RATE
        assert np.sqrt(np.mean(voice[voice != 0] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


def test_a_failing_encoder_ends_as_a_recovered_bundle_and_its_error_is_raised(tmp_path: Path) -> None:
    session = Session(config(tmp_path), sources=dummy_sources(bad_at=10))
    session.start()
    wait_until(lambda: session.failed, "the encoder to fail on frame 10")
    # the sources go on until someone calls stop() (the app does not poll `failed`): the frame queue fills
    wait_until(lambda: session.stats.frames_dropped > 0, "the frame queue to fill up")
    with pytest.raises(CaptureError, match=r"recording stopped with an error \(frame is 318x240, expected 320x240\)"):
        try:
            session.stop()
        except CaptureError as e:
            assert isinstance(e.__cause__, VideoWriteError)  # the encoder's own error, not lost
            bundle = Path(str(e).rsplit("what was recorded is in ", 1)[1])
            raise

    assert bundle == tmp_path / session.session_id and not session.live_dir.exists()
    report = trajrec.validate(bundle, deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"], report.findings
    m = manifest(bundle)
    assert m["status"] == "recovered"
    assert m["notes"] == ["no stop anchor: the recorder did not stop cleanly"]
    assert m["stats"]["frames"] == 9  # frames 1-9 were encoded
    assert m["stats"]["dropped_frames"] == session.stats.frames_dropped
    with trajrec.open(bundle) as b:
        assert len(b.event_records()) == len(EVENTS)  # the other streams are whole


def test_a_failing_log_writer_ends_as_a_recovered_bundle(tmp_path: Path) -> None:
    session = Session(config(tmp_path), sources=dummy_sources())
    session.start()
    wait_until(lambda: source(session, FrameSource).offered >= 10, "a third of a second recorded")
    session.offer_record(object())  # type: ignore[arg-type]  # no handler: the log thread fails on it
    wait_until(lambda: session.failed, "the log thread to fail")
    with pytest.raises(
        CaptureError, match=r"stopped with an error \(unknown record object from a capture source\)"
    ) as info:
        session.stop()
    assert type(info.value.__cause__) is RecorderError  # the log thread's own error, not lost
    bundle = tmp_path / session.session_id
    report = trajrec.validate(bundle, deep=True)
    assert [f.code for f in report.findings] == ["status-recovered"], report.findings
    assert manifest(bundle)["notes"] == ["no stop anchor: the recorder did not stop cleanly"]


def test_a_failing_source_is_raised_after_the_recording_is_sealed(tmp_path: Path) -> None:
    lost = RuntimeError("window server gone")
    session = Session(config(tmp_path, audio=False), sources=dummy_sources(windows=[ALPHA, lost]))
    session.start()
    window = source(session, WindowSource)
    wait_until(lambda: window._worker.error is not None, "the window source's worker to fail")
    with pytest.raises(CaptureError, match=r"window-capture failed: RuntimeError: window server gone") as info:
        session.stop()
    assert info.value.__cause__ is not None and info.value.__cause__.__cause__ is lost
    bundle = Path(str(info.value).rsplit("what was recorded is in ", 1)[1])
    report = trajrec.validate(bundle, deep=True)
    assert report.valid, report.findings
    with trajrec.open(bundle) as b:
        assert [w.app for w in b.window_records()] == ["Alpha"]  # what came before the failure is kept
        assert len(b.event_records()) == len(EVENTS)


def test_the_voiceover_starts_before_the_slow_input_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real sources in start order: the screen, then the voiceover (its stream opens in milliseconds), then
    input (the X11 listener takes 0.15-0.5 s to start, which the narration would otherwise miss)."""
    from recorder.capture.audio import AudioSource
    from recorder.capture.elements import ElementSource
    from recorder.capture.screen import ScreenSource
    from recorder.session import default_sources

    monkeypatch.setenv("TRAJREC_PLATFORM", "dummy")
    kinds = [type(s) for s in default_sources(Session(config(tmp_path)))]
    assert kinds == [ScreenSource, AudioSource, ElementSource, InputSource, WindowSource, DisplayLayoutSource]
    assert AudioSource not in [type(s) for s in default_sources(Session(config(tmp_path, audio=False)))]
