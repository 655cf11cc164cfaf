"""The deny-list: applications and window titles that are never recorded (password managers, private browsing).

An entry names an application (its window class, e.g. `keepassxc`, compared without case) or a window-title
pattern (a regular expression, searched without case). While a denied window has the focus nothing is recorded:
no input, no frame, no window record, no element, and the span is a privacy gap in the manifest (with reason
`deny-list`, never the window's title). Title patterns are also matched against the name a window's own application
gives it in the accessibility tree (recorder.privacy.own_word: how Chromium's incognito windows are recognised). The
defaults cover common password managers and the private windows of common browsers; the app's settings and a lab's
task file add to them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from recorder.errors import UsageError
from recorder.platform.base import FramesBackend, WindowBackend, WindowInfo
from recorder.privacy.mask import Rect, mask_frame
from recorder.privacy.own_word import TREE_ONLY_BROWSERS, OwnWord
from recorder.privacy.state import PrivacyState
from trajrec.format import PrivacyKind

STACK_REFRESH_NS = 100_000_000  # how often the window stack is read for masking (a few ms of X requests)

DEFAULT_APPS = (
    "keepassxc", "keepass", "keepass2", "1password", "bitwarden", "enpass", "lastpass", "dashlane",
    "seahorse", "org.gnome.seahorse.application", "secrets", "org.gnome.world.secrets", "kwalletmanager5",
    "kwalletmanager",
)  # fmt: skip
DEFAULT_TITLES = (
    r"\bprivate browsing\b",  # Firefox: "… — Mozilla Firefox Private Browsing"
    r"\(incognito\)|\bincognito tab\b",  # Chromium-based: "New Incognito tab", "… (Incognito)"
    r"\binprivate\b",  # Edge
    r"\bprivate window\b",  # Brave, Vivaldi, Opera
    r"\bkeepassxc\b|\bbitwarden\b|\b1password\b",  # their windows, by name, when the class is unusual
)


@dataclass(frozen=True)
class DenyList:
    apps: tuple[str, ...] = DEFAULT_APPS
    titles: tuple[str, ...] = DEFAULT_TITLES
    _apps: frozenset[str] = field(init=False, repr=False, compare=False, default=frozenset())
    _title: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        bad = []
        for pattern in self.titles:
            try:
                re.compile(pattern)
            except re.error as e:
                bad.append(f"{pattern!r} ({e})")
        if bad:
            raise UsageError(f"deny-list title patterns that are not regular expressions: {', '.join(bad)}")
        object.__setattr__(self, "_apps", frozenset(a.strip().lower() for a in self.apps if a.strip()))
        joined = "|".join(f"(?:{p})" for p in self.titles if p)
        object.__setattr__(self, "_title", re.compile(joined, re.IGNORECASE) if joined else None)

    def extended(self, apps: Iterable[str] = (), titles: Iterable[str] = ()) -> DenyList:
        return DenyList(tuple(dict.fromkeys((*self.apps, *apps))), tuple(dict.fromkeys((*self.titles, *titles))))

    @classmethod
    def from_json(cls, d: Mapping[str, Any] | None, base: DenyList | None = None) -> DenyList:
        """`{"apps": [...], "titles": [...]}` (a task file's or the settings' `deny_list`) on top of `base`."""
        base = base or cls()
        if not d:
            return base
        apps, titles = d.get("apps", []), d.get("titles", [])
        if not all(isinstance(x, str) for x in [*apps, *titles]):
            raise UsageError("deny_list: apps and titles are lists of strings")
        return base.extended(apps, titles)

    def denies(self, app: str, title: str) -> bool:
        if app.strip().lower() in self._apps:
            return True
        return bool(self._title is not None and self._title.search(title))

    def __len__(self) -> int:
        return len(self.apps) + len(self.titles)

    @property
    def sha256(self) -> str:
        """A fingerprint of the list, for the manifest: which list ran, without saying what is on it."""
        canonical = json.dumps({"apps": sorted(self._apps), "titles": sorted(set(self.titles))})
        return hashlib.sha256(canonical.encode()).hexdigest()


class DenyGate:
    """Is the focused window denied right now? The screen source asks before and after every grab, on its own
    thread and its own window-system connection (opened on the first question); each answer opens or closes the
    deny-list span that the input guard, the window and element sources and sealing go by."""

    def __init__(
        self,
        deny: DenyList,
        state: PrivacyState,
        clock: Callable[[], int],
        backend: Callable[[], WindowBackend] | None = None,
        frames: Callable[[], FramesBackend] | None = None,
    ) -> None:
        self.deny = deny
        self.state = state
        self.clock = clock
        self._make_backend = backend
        self._backend: WindowBackend | None = None
        # what applications say of their own windows (Chromium's incognito), when the accessibility tree is asked
        self.own_word = None if frames is None or not deny.titles else OwnWord(deny.denies, frames)
        self._stack: list[tuple[Rect, bool]] = []  # what mask() fills
        self._stack_at = -(1 << 62)
        self._seen: list[WindowInfo] = []  # the stack as last read (for OwnWord: windows' pids and titles)
        self._seen_at = -(1 << 62)
        self.showing = False  # the last frame had a denied window filled
        self.own: Callable[[], Sequence[Rect]] | None = None  # the recorder app's own windows: never in the video

    def _windows(self) -> WindowBackend:
        if self._backend is None:
            if self._make_backend is None:
                from recorder.platform import window_backend

                self._make_backend = window_backend
            self._backend = self._make_backend()
        return self._backend

    def private_now(self) -> bool:
        name = self._windows().focused_name()
        now = self.clock()
        denied = name is not None and self._denies(name.app, name.title, name.window_id, now, None)
        self.state.mark(PrivacyKind.DENY_LIST, denied, now)
        return denied

    def hides(self, info: WindowInfo) -> bool:
        """Is this window denied? The window source asks, from its own thread, before it records a window; what
        the window's application says of it is what this gate heard so far (`OwnWord.known`)."""
        if self.deny.denies(info.app, info.title):
            return True
        if self.own_word is None or info.app.lower() not in TREE_ONLY_BROWSERS:
            return False
        return self.own_word.known(info.window_id, self.clock())

    def _denies(self, app: str, title: str, window_id: int | None, now: int, stack: list[WindowInfo] | None) -> bool:
        if self.deny.denies(app, title):
            return True
        if self.own_word is None or window_id is None or app.lower() not in TREE_ONLY_BROWSERS:
            return False  # only browsers keep a window's privacy to their accessibility tree
        wid = window_id
        return self.own_word.denied(wid, app, title, now, lambda: stack if stack is not None else self._stacked(wid))

    def _stacked(self, window_id: int) -> list[WindowInfo]:
        """The stack read at most STACK_REFRESH_NS ago, or now when it does not hold `window_id`."""
        now = self.clock()
        if now - self._seen_at >= STACK_REFRESH_NS or all(w.window_id != window_id for w in self._seen):
            self._read_stack(now)
        return self._seen

    def _read_stack(self, now: int) -> list[WindowInfo]:
        stack = self._seen = self._windows().stacked()
        self._seen_at = now
        return stack

    def mask(self, image: np.ndarray, origin: tuple[int, int]) -> bool:
        """Fill the denied windows that show in a frame about to be encoded (the stack is read again at most every
        STACK_REFRESH_NS: a denied window moved meanwhile may show at its new place for that long)."""
        now = self.clock()
        if now - self._stack_at >= STACK_REFRESH_NS:
            stack = self._read_stack(now)
            if self.own_word is not None:  # (not in _read_stack: OwnWord calls that, holding its lock)
                self.own_word.forget_all_but(w.window_id for w in stack if w.window_id is not None)
            self._stack = [((w.x, w.y, w.w, w.h), self._denies(w.app, w.title, w.window_id, now, stack)) for w in stack]
            self._stack_at = now
        self.showing = mask_frame(image, origin, self._stack) > 0
        if self.own is not None:  # the app's windows (its control, its settings) are filled wherever they are
            mask_frame(image, origin, [(rect, True) for rect in self.own()])
        return self.showing

    def close(self) -> None:
        if self.own_word is not None:
            self.own_word.close()
        if self._backend is not None:
            self._backend.close()
            self._backend = None
