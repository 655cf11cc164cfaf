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
"""

from __future__ import annotations

import logging
import threading
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

Verdict = bool | Literal["both"] | None  # "both": frames of either kind fit the window; None: not known (yet)


@dataclass
class _Window:
    first_ns: int
    next_ns: int = -(1 << 62)
    verdict: Verdict = None
    on_bus: bool = False


class OwnWord:
    """Does the window's application call it private? The deny-list gate asks (and the accessibility tree is asked)
    from the screen source's thread; the window source only reads the verdicts (`known`)."""

    def __init__(self, denies: Callable[[str, str], bool], frames: Callable[[], FramesBackend]) -> None:
        self._denies = denies
        self._make_frames = frames
        self._frames: FramesBackend | None = None
        self._known: dict[int, _Window] = {}
        self._lock = threading.Lock()
        self.unavailable: str | None = None  # why the accessibility tree could not be asked, once it could not

    def denied(
        self, window_id: int, app: str, title: str, now_ns: int, windows: Callable[[], list[WindowInfo]]
    ) -> bool:
        """`windows()`: the top-level windows with their pids and titles (asked only while there is no verdict)."""
        with self._lock:
            w = self._entry(window_id, now_ns)
            if w.verdict not in (True, False) and now_ns >= w.next_ns and self.unavailable is None:
                self._ask(w, window_id, app, title, now_ns, windows())
            return self._private(w, now_ns)

    def known(self, window_id: int | None, now_ns: int) -> bool:
        """The verdict so far, without asking (a window nobody asked about yet counts as private for PENDING_NS)."""
        if window_id is None or self.unavailable is not None:
            return False
        with self._lock:
            w = self._entry(window_id, now_ns)
            return self._private(w, now_ns) or (w.next_ns < 0 and now_ns - w.first_ns < PENDING_NS)

    def forget_all_but(self, live: Iterable[int]) -> None:
        """Drop the verdicts of windows that are gone (before their ids are given to new windows)."""
        keep = set(live)
        with self._lock:
            self._known = {k: v for k, v in self._known.items() if k in keep}

    def close(self) -> None:
        with self._lock:
            self._close_frames()

    # --- internals ---------------------------------------------------------------------------------------
    def _entry(self, window_id: int, now_ns: int) -> _Window:
        w = self._known.get(window_id)
        if w is None:
            if len(self._known) >= MAX_WINDOWS:
                self._known.clear()
            w = self._known[window_id] = _Window(now_ns)
        return w

    @staticmethod
    def _private(w: _Window, now_ns: int) -> bool:
        if w.verdict is None:
            return w.on_bus and now_ns - w.first_ns < PENDING_NS
        return w.verdict is not False

    def _close_frames(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None

    def _ask(self, w: _Window, window_id: int, app: str, title: str, now_ns: int, windows: list[WindowInfo]) -> None:
        info = next((x for x in windows if x.window_id == window_id), None)
        if info is None or info.pid is None:
            w.verdict = None if info is None else False  # no pid: nothing to match its frames by
            w.next_ns = now_ns + RETRY_NS
            return
        try:
            if self._frames is None:
                self._frames = self._make_frames()
            frames = self._frames.frames(info.pid)
        except BackendUnavailable as e:
            self.unavailable = str(e)
            log.info("private windows are recognised by their titles only: %s", e)
            return
        except CaptureError as e:  # the registry did not answer: ask again later
            log.debug("accessibility registry: %s", one_line(e))
            self._close_frames()
            w.next_ns = now_ns + RETRY_NS
            return
        w.on_bus = frames is not None
        pending = now_ns - w.first_ns < PENDING_NS
        if frames is None:
            w.next_ns = now_ns + (RETRY_NS if pending else SLOW_RETRY_NS)
            return
        titles = [x.title for x in windows if x.pid == info.pid]
        w.verdict = self._judge(frames, app, title, (info.x, info.y, info.w, info.h), titles, pending)
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


# Browsers whose private windows only their accessibility tree names (their X titles do not say).
TREE_ONLY_BROWSERS = frozenset({"chromium", "google-chrome", "brave-browser", "microsoft-edge", "vivaldi-stable"})


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
