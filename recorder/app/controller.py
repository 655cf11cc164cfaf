"""The recording state machine behind the app's screens: idle -> starting -> recording <-> paused ->
sealing -> review (-> idle). It drives recorder.session.Session and adds no capture logic of its own.

Starting and sealing block (sources open, the bundle is remuxed and hashed), so they run through
`run_task`; every signal is emitted on the GUI thread. Hotkeys arrive from the session's input filter
through a HotkeyRelay and act exactly like the buttons."""

from __future__ import annotations

import enum
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from recorder.app.hotkeys import HotkeyRelay
from recorder.app.threads import run_task
from recorder.capture.exclusion import OwnInputFilter, OwnWindows
from recorder.plan import Plan, session_config

log = logging.getLogger(__name__)


class Phase(enum.StrEnum):
    IDLE = "idle"
    STARTING = "starting"
    RECORDING = "recording"
    PAUSED = "paused"
    SEALING = "sealing"
    REVIEW = "review"


class RecordingController(QObject):
    phase_changed = Signal(str)
    elapsed = Signal(float)  # seconds recorded, pauses excluded
    markers_changed = Signal(int)
    sealed = Signal(object)  # Path of the sealed bundle
    failed = Signal(str)  # one line, for the user
    keys_hidden_changed = Signal(bool)  # the hide-keys hotkey or button: typed keys are recorded redacted
    guard_status = Signal(object)  # None: password fields are recognised; else why not (one line)
    private_now = Signal(str)  # "" | "focused" (a denied window has the focus) | "masked" (one shows, filled)
    hotkey_problems = Signal(object)  # list[str]: hotkeys that also reach the focused application, in words
    notice = Signal(str)  # a short message for the recording screen (e.g. why a marker was refused)

    def __init__(self, own_windows: OwnWindows | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.phase = Phase.IDLE
        self.own_windows = own_windows or OwnWindows()
        self.session: Any = None
        self.bundle: Path | None = None
        self.markers = 0
        self.relay = HotkeyRelay(self)
        self.relay.triggered.connect(self.on_hotkey)
        self._active_s = 0.0
        self._since: float | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._tick)

    # --- state ------------------------------------------------------------------------------------
    def _set(self, phase: Phase) -> None:
        self.phase = phase
        self.phase_changed.emit(str(phase))

    def recorded_s(self) -> float:
        return self._active_s + (time.monotonic() - self._since if self._since is not None else 0.0)

    def _tick(self) -> None:
        self.elapsed.emit(self.recorded_s())
        if self.session is not None:
            self.private_now.emit(self.session.private_state())

    # --- actions ----------------------------------------------------------------------------------
    def start(self, plan: Plan, hotkeys: dict[str, str]) -> None:
        """Check and start a session (off the GUI thread); `failed` says why when it cannot start."""
        if self.phase not in (Phase.IDLE, Phase.REVIEW):
            return
        from recorder.session import Session

        plan.exclude_input = OwnInputFilter(hotkeys, self.own_windows, on_hotkey=self.relay)
        self._set(Phase.STARTING)

        def begin() -> Any:
            session = Session(session_config(plan))
            session.start()
            return session

        run_task(begin, self._started, self._start_failed)

    def _started(self, session: Any) -> None:
        self.session, self.bundle, self.markers = session, None, 0
        self._active_s, self._since = 0.0, time.monotonic()
        self._timer.start()
        self._set(Phase.RECORDING)
        self.markers_changed.emit(0)
        self.keys_hidden_changed.emit(False)
        self.guard_status.emit(session.accessibility)
        self.hotkey_problems.emit(list(session.hotkey_problems))

    def _start_failed(self, error: BaseException) -> None:
        log.warning("could not start recording: %s", error)
        self._set(Phase.IDLE)
        self.failed.emit(str(error) or type(error).__name__)

    def pause(self) -> None:
        if self.phase == Phase.RECORDING:
            self.session.pause()
            self._active_s, self._since = self.recorded_s(), None
            self._set(Phase.PAUSED)

    def resume(self) -> None:
        if self.phase == Phase.PAUSED:
            self.session.resume()
            self._since = time.monotonic()
            self._set(Phase.RECORDING)

    def toggle_hide_keys(self) -> None:
        """Hide typed keys until pressed again (works without accessibility): keys keep their time only."""
        if self.phase in (Phase.RECORDING, Phase.PAUSED):
            hidden = not self.session.keys_hidden
            self.session.hide_keys(hidden)
            self.keys_hidden_changed.emit(hidden)

    def toggle_pause(self) -> None:
        self.resume() if self.phase == Phase.PAUSED else self.pause()

    def marker(self, note: str | None = None) -> None:
        if self.phase == Phase.PAUSED:  # a marker marks a moment of the recording: there is none while paused
            self.notice.emit("Paused: resume first, then add the step marker")
            return
        if self.phase == Phase.RECORDING:
            self.session.marker(note or None)
            self.markers += 1
            self.markers_changed.emit(self.markers)

    def stop(self) -> None:
        """Stop and seal (off the GUI thread); `sealed(path)` then, or `failed` with what to do."""
        if self.phase not in (Phase.RECORDING, Phase.PAUSED):
            return
        self._active_s, self._since = self.recorded_s(), None
        self._timer.stop()
        self._set(Phase.SEALING)
        session = self.session
        run_task(session.stop, self._sealed, self._seal_failed)

    def _sealed(self, bundle: Path) -> None:
        self.bundle = bundle
        self.session = None
        self._set(Phase.REVIEW)
        self.sealed.emit(bundle)

    def _seal_failed(self, error: BaseException) -> None:
        log.error("sealing failed: %s", error)
        self.session = None
        self._set(Phase.IDLE)
        self.failed.emit(f"the recording could not be sealed ({error}); it is kept and the app offers to repair it")

    def review(self, bundle: Path) -> None:
        """Review a recording from the library (only while no session runs)."""
        if self.phase in (Phase.IDLE, Phase.REVIEW):
            self.bundle = bundle
            self._set(Phase.REVIEW)
            self.sealed.emit(bundle)

    def reset(self) -> None:
        """Back to the setup screen after review (submitted or discarded)."""
        if self.phase == Phase.REVIEW:
            self.bundle = None
            self._set(Phase.IDLE)

    def on_hotkey(self, action: str) -> None:
        actions = {"pause": self.toggle_pause, "stop": self.stop, "marker": self.marker}
        actions["hide_keys"] = self.toggle_hide_keys
        actions.get(action, lambda: None)()

    @property
    def busy(self) -> bool:
        """Is a session running or being sealed (closing the window must ask first)?"""
        return self.phase in (Phase.STARTING, Phase.RECORDING, Phase.PAUSED, Phase.SEALING)
