"""Windows that their own application calls private: the deny-list's title patterns matched against the name the
application gives the window in the accessibility tree, one verdict per window, kept for the window's life.

Chromium's incognito windows are why: their window-system title, class and pid are a normal window's, and only
the accessibility tree's frame says "… - Chromium (Incognito)". A window is matched to its application's frames by
pid (`_NET_WM_PID`), then by name (a frame's name is the window's title, or the title and a suffix) and, when
frames of both kinds fit, by extents. The rules err towards private:
- frames of both kinds still fit: the window counts as private, and is asked about again (SLOW_RETRY_NS);
- no frame fits yet, or the application is settling (a frame whose name fits no window's title: a new window's
  frame is named after its title changes) and only normal frames fit: private for at most PENDING_NS after the
  window was first seen, asked about again every RETRY_NS; a new private window never shows in its first frames;
- an application not on the accessibility bus (started before the tree was turned on, or without one) says
  nothing: its windows go by their titles alone.
The questions (tens of ms, more from a busy browser) are a worker thread's: the capture threads never wait on
them, and a window counts as private until the first answer about it (at most PENDING_NS). The deny gate asks
only about the windows of TREE_ONLY_BROWSERS, so no other application's new window is held back.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from recorder.errors import BackendUnavailable, CaptureError
from recorder.platform.base import FrameInfo, FramesBackend, WindowInfo, one_line

log = logging.getLogger(__name__)

PENDING_NS = 1_000_000_000  # how long a window without a verdict counts as private after it was first seen
RETRY_NS = 100_000_000  # how often a window without a verdict is asked about meanwhile
SLOW_RETRY_NS = 1_000_000_000  # ... and after that (frames of both kinds fit, or its application is not on the bus)
MAX_WINDOWS = 4096  # verdicts kept before all are forgotten (windows that are gone are pruned anyway)
QUESTIONS = 64  # questions waiting for the worker
# The browsers whose private windows only their accessibility tree names (their X titles do not say): the only
# windows the deny gate asks about (window classes, compared without case).
TREE_ONLY_BROWSERS = frozenset({"chromium", "google-chrome", "brave-browser", "microsoft-edge", "vivaldi-stable"})

Verdict = bool | Literal["both"] | None  # "both": frames of either kind fit the window; None: not known (yet)
Question = tuple[int, str, str, list[WindowInfo], int]  # window id, app, title, the windows, when asked (ns)


@dataclass
class _Window:
    first_ns: int
    next_ns: int = -(1 << 62)  # when to ask again
    verdict: Verdict = None
    on_bus: bool = False
    answered: bool = False  # the accessibility tree was asked at least once
    queued: bool = False  # a question is waiting for the worker


class OwnWord:
    """Does the window's application call it private? Asked from the capture threads without ever waiting: the
    questions to the accessibility tree (tens of ms, more from a busy browser) are a worker thread's, and until
    its first answer about a window, the window counts as private (at most PENDING_NS)."""

    def __init__(self, denies: Callable[[str, str], bool], frames: Callable[[], FramesBackend]) -> None:
        self._denies = denies
        self._make_frames = frames
        self._frames: FramesBackend | None = None
        self._known: dict[int, _Window] = {}
        self._lock = threading.Lock()
        self._questions: queue.Queue[Question | None] = queue.Queue(QUESTIONS)
        self._worker: threading.Thread | None = None
        self.unavailable: str | None = None  # why the accessibility tree could not be asked, once it could not

    def denied(
        self, window_id: int, app: str, title: str, now_ns: int, windows: Callable[[], list[WindowInfo]]
    ) -> bool:
        """`windows()`: the top-level windows with their pids and titles (read only when a question is due)."""
        with self._lock:
            w = self._entry(window_id, now_ns)
            due = w.verdict not in (True, False) and now_ns >= w.next_ns and not w.queued
        if due and self.unavailable is None:
            self._ask_later((window_id, app, title, windows(), now_ns))
        with self._lock:
            return self._private(w, now_ns)

    def known(self, window_id: int | None, now_ns: int) -> bool:
        """The verdict so far, without asking."""
        if window_id is None or self.unavailable is not None:
            return False
        with self._lock:
            return self._private(self._entry(window_id, now_ns), now_ns)

    def forget_all_but(self, live: Iterable[int]) -> None:
        """Drop the verdicts of windows that are gone (before their ids are given to new windows)."""
        keep = set(live)
        with self._lock:
            self._known = {k: v for k, v in self._known.items() if k in keep}

    def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            with contextlib.suppress(queue.Full):
                self._questions.put_nowait(None)
            worker.join(2)
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    # --- internals ---------------------------------------------------------------------------------------
    def _entry(self, window_id: int, now_ns: int) -> _Window:
        w = self._known.get(window_id)
        if w is None:
            if len(self._known) >= MAX_WINDOWS:
                self._known.clear()
            w = self._known[window_id] = _Window(now_ns)
        return w

    def _private(self, w: _Window, now_ns: int) -> bool:
        if w.verdict is None:
            pending = now_ns - w.first_ns < PENDING_NS
            return pending and (w.on_bus or not w.answered) and self.unavailable is None
        return w.verdict is not False

    def settle(self, timeout: float = 5.0) -> bool:
        """Wait until every question asked so far has its answer (for tests and benchmarks); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(w.queued for w in self._known.values()):
                    return True
            time.sleep(0.005)
        return False

    def _ask_later(self, question: Question) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="own-word", daemon=True)
            self._worker.start()
        with self._lock:
            self._entry(question[0], question[4]).queued = True
        try:
            self._questions.put_nowait(question)
        except queue.Full:
            with self._lock:
                self._entry(question[0], question[4]).queued = False  # asked again at the next frame

    def _work(self) -> None:
        while True:
            question = self._questions.get()
            if question is None:
                return
            try:
                self._ask(*question)
            except Exception:  # a bug here must not end the questions: the window goes by its title
                log.exception("asking the accessibility tree about a window failed")
                with self._lock:
                    self._entry(question[0], question[4]).queued = False

    def _ask(self, window_id: int, app: str, title: str, windows: list[WindowInfo], now_ns: int) -> None:
        info = next((x for x in windows if x.window_id == window_id), None)
        verdict: Verdict = None
        on_bus, answered = False, True
        pid = None if info is None else info.pid
        if info is not None and pid is None:
            verdict = False  # no pid: nothing to match its frames by
        elif info is not None and pid is not None:
            try:
                if self._frames is None:
                    self._frames = self._make_frames()
                frames = self._frames.frames(pid)
            except BackendUnavailable as e:
                self.unavailable = str(e)
                log.info("private windows are recognised by their titles only: %s", e)
                with self._lock:
                    self._entry(window_id, now_ns).queued = False
                return
            except CaptureError as e:  # the registry did not answer: ask again later
                log.debug("accessibility registry: %s", one_line(e))
                if self._frames is not None:
                    self._frames.close()
                    self._frames = None
                frames, answered = None, False  # no answer: private for the moment, asked again
            else:
                on_bus = frames is not None
            if frames is not None:
                titles = [x.title for x in windows if x.pid == pid]
                with self._lock:
                    pending = now_ns - self._entry(window_id, now_ns).first_ns < PENDING_NS
                verdict = self._judge(frames, app, title, (info.x, info.y, info.w, info.h), titles, pending)
        with self._lock:
            w = self._known.get(window_id)
            if w is None:
                return  # forgotten meanwhile: gone
            w.queued, w.answered, w.on_bus, w.verdict = False, w.answered or answered, on_bus, verdict
            pending = w.verdict is None and now_ns - w.first_ns < PENDING_NS
            w.next_ns = now_ns + (RETRY_NS if pending else SLOW_RETRY_NS)

    def _judge(
        self,
        frames: list[FrameInfo],
        app: str,
        title: str,
        rect: tuple[int, int, int, int],
        titles: list[str],
        pending: bool,
    ) -> Verdict:
        fits = [f for f in frames if _fits(f.name, title)]
        if len({self._denies(app, f.name) for f in fits}) > 1:
            fits = [f for f in fits if f.rect == rect] or fits
        verdicts = {self._denies(app, f.name) for f in fits}
        if len(verdicts) != 1:
            return "both" if verdicts else None
        verdict = verdicts.pop()
        settling = any(f.name and not any(_fits(f.name, t) for t in titles) for f in frames)
        return None if verdict is False and pending and settling else verdict


def _fits(frame_name: str, title: str) -> bool:
    return bool(title) and (frame_name == title or frame_name.startswith(title + " "))


def silent_browsers(windows: list[WindowInfo], frames: FramesBackend) -> list[str]:
    """The browsers among `windows` that are not on the accessibility bus: started before the tree was turned on,
    they never join it, and their private windows cannot be told from the others until they are restarted."""
    silent: dict[str, None] = {}
    asked: set[int] = set()
    for w in windows:
        if w.app.lower() in TREE_ONLY_BROWSERS and w.pid is not None and w.pid not in asked:
            asked.add(w.pid)
            if frames.frames(w.pid) is None:
                silent[w.app] = None
    return list(silent)
