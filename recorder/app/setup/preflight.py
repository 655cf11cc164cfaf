"""The checks the setup screen runs before Record is allowed: one clear line per problem, and what to do.

Each check is a plain function returning a Check (they block: the app runs them with run_task). Qt-free."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from recorder.units import human_bytes


@dataclass(frozen=True)
class Check:
    """One check's outcome, as the setup screen shows it."""

    name: str  # display | input | microphone | privacy | disk | store
    ok: bool | None  # True fine, False blocks recording, None a warning
    message: str


def check_display() -> Check:
    from recorder.capture.screen import monitors
    from recorder.plan import check_display as need_display

    try:
        need_display()
        count = len(monitors()) - 1
    except Exception as e:
        return Check("display", False, f"No screen access: {e}")
    return Check("display", True, f"Screen access: {count} monitor{'s' if count != 1 else ''}")


def check_input() -> Check:
    from recorder.capture.input import InputSource

    source = InputSource(time.monotonic_ns, lambda _record: None)
    try:
        source.start()
        source.stop()
    except Exception as e:
        return Check("input", False, f"Keyboard and mouse capture unavailable: {e}")
    return Check("input", True, "Keyboard and mouse capture ready")


def check_microphone(device: str | None) -> Check:
    from recorder.capture.audio import resolve_device

    if device == "":
        device = None
    try:
        resolve_device(device)
    except Exception as e:
        return Check("microphone", False, f"Microphone: {e}")
    return Check("microphone", True, "Microphone ready: say something and watch the level")


def check_privacy(hide_keys_hotkey: str) -> Check:
    """Can the password-field guard see which element has the focus (the accessibility bus)?"""
    from recorder.errors import BackendUnavailable
    from recorder.platform import accessibility_backend

    backend = accessibility_backend(time.monotonic_ns, lambda _t, _info: None)
    try:
        backend.start()
        backend.stop()
    except BackendUnavailable as e:
        return Check(
            "privacy",
            None,
            f"Password fields cannot be recognised here ({e}); press {hide_keys_hotkey} to hide what you type",
        )
    except Exception as e:
        return Check("privacy", None, f"Password-field guard unavailable ({e}); press {hide_keys_hotkey} to hide keys")
    silent = _silent_browsers()
    if silent:
        return Check(
            "privacy",
            None,
            f"Restart {' and '.join(silent)}: started before accessibility was on, its incognito windows cannot be "
            "told apart and would be recorded",
        )
    return Check("privacy", True, "Password fields are recognised: what you type into them is never recorded")


def _silent_browsers() -> list[str]:
    """Browsers open now whose private windows the recorder could not recognise (recorder.privacy.own_word)."""
    from recorder.platform import frames_backend, window_backend
    from recorder.privacy.own_word import silent_browsers

    try:
        windows, frames = window_backend(), frames_backend()
    except Exception:
        return []  # no window system or no bus: the checks above said so
    try:
        return silent_browsers(windows.stacked(), frames)
    except Exception:
        return []
    finally:
        windows.close()
        frames.close()


def check_disk(out: Path, expected_minutes: float | None) -> Check:
    from recorder.plan import check_disk as need_disk

    try:
        free = need_disk(out, expected_minutes)
    except Exception as e:
        return Check("disk", False, f"Disk: {e}")
    return Check("disk", True, f"{human_bytes(free)} free in {out}")


def check_store(probe: Callable[[], str]) -> Check:
    """`probe` checks the store and returns its URL, or raises with a one-line message."""
    try:
        url = probe()
    except Exception as e:
        return Check("store", None, f"Store not reachable ({e}); recordings wait in the upload queue")
    return Check("store", True, f"Uploads go to {url}")


def still_needed(task: Mapping[str, object], checks: Iterable[Check]) -> list[str]:
    """What still stands between the expert and Record, in words: the task's id and title, the pseudonym
    (`expert`), the consent, and any failed check. Empty: Record may start."""
    out = []
    if not task["id"] or not task["title"]:
        out.append("a task ID and title")
    if not task["expert"]:
        out.append("your pseudonym")
    if not task["consent"]:
        out.append("your consent")
    failing = [c.name for c in checks if c.ok is False]
    if failing:
        out.append("the failed checks (" + ", ".join(failing) + ")")
    return out
