"""X11 input backend: pynput's RECORD-extension listeners, extended through private pynput hooks.

pynput's public X11 callbacks carry neither the X keycode nor the modifier state, and its listeners start,
stop and fail in ways a recorder cannot live with. So both listeners are subclasses that override PRIVATE pynput
methods (``pynput._util.xorg.ListenerMixin``, tested against pynput 1.8.2; tests/test_capture_input.py
pins every hook so an upgrade that moves one fails loudly instead of recording wrong data):

- ``_handle_message(display, event, injected)``: called once per X event on the listener thread. We read
  the session clock first, keep ``event.detail`` (keycode / button) and ``event.state`` (modifier mask
  before the event, as X reports it), then let pynput decode the event and call our callbacks, which
  pick those values up. That is how every key event gets its ``scancode`` (the X keycode: a press of
  'A' may be released as 'a', so pairing downstream is by keycode) and its ``modifiers``.
- ``_handler(reply)``: the RECORD data callback. Its first reply (StartOfData) proves the server is
  recording, so start() returns only once events can no longer be missed (pynput's ``wait()`` returns
  before the context is enabled).
- ``_stop_platform()``: pynput disables the RECORD context on the recording connection, which the X
  server does not read while the context is enabled, so ``stop()`` would wait for the next input event.
  We also disable it on pynput's control connection, which stops the listener at once.
- ``_run()``: when pynput's thread cannot open the display or create the context, it dies without marking
  itself ready (``wait()`` then blocks forever) and leaks its connections; we keep the error, close them,
  and mark it ready.
- ``_on_fake_event``: key events sent by an in-process pynput Controller are echoed to listeners without
  a keycode; they are ignored (the recorder never injects input itself).

X cannot tell software-injected input (XTEST, xdotool) from a device's: RECORD sees both as device
events. ``injected`` is therefore True only for events the server marks as sent (never seen in practice)
and None otherwise: "not known", never a false "not injected".

Limits: keyboard and mouse come through two listener threads (one RECORD context each), so events of one
device keep the server's order, but a key and a pointer event well under a millisecond apart may be
stamped in either order. pynput derives ``char`` from Shift and AltGr only: with Caps Lock on, 'a' still
reads "a" (``modifiers`` does say caps_lock). Pointer events carry modifiers too (ctrl+click).
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from recorder.clock import Clock
from recorder.errors import CaptureError, FirstError
from recorder.platform.base import Deliver, InputBackend, one_line, raise_lost_events
from trajrec.format import EventKind, InputEvent

PYNPUT_TESTED = "1.8.2"  # the pynput version whose private hooks this module was written and tested against
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
_START_OF_DATA = 4  # Xlib.ext.record.StartOfData

# X modifier mask bits (X.h) -> format.MODIFIERS names, in that tuple's order. X has no fixed meaning for
# Mod1..Mod5; these are the assignments of every common keymap (xkb "pc" + "us" and friends).
MODIFIER_MASKS: tuple[tuple[str, int], ...] = (
    ("shift", 1 << 0),  # ShiftMask
    ("ctrl", 1 << 2),  # ControlMask
    ("alt", 1 << 3),  # Mod1Mask
    ("super", 1 << 6),  # Mod4Mask
    ("caps_lock", 1 << 1),  # LockMask
    ("num_lock", 1 << 4),  # Mod2Mask
    ("alt_gr", 1 << 7),  # Mod5Mask (ISO_Level3_Shift)
)
BUTTONS = {1: "left", 2: "middle", 3: "right", 8: "x1", 9: "x2"}  # X button numbers (4-7 scroll)


def modifiers_from_state(state: int) -> tuple[str, ...]:
    """Our modifier names for an X event state mask (the modifiers held *before* the event)."""
    return tuple(name for name, mask in MODIFIER_MASKS if state & mask)


def button_name(detail: int) -> str:
    return BUTTONS.get(detail, f"button{detail}")


def key_fields(key: Any, keycode: int) -> tuple[str, str | None]:
    """(key, char) for a pynput key: a Key's name ("enter", "shift", "ctrl_r") or the character it types;
    ``vk<keysym>`` when pynput knows only the keysym, ``keycode<n>`` when it could not decode the key."""
    if key is None:
        return f"keycode{keycode}", None
    if isinstance(key, enum.Enum):  # pynput.keyboard.Key; its value is a KeyCode (space has char " ")
        char = getattr(key.value, "char", None)
        return str(key.name), char
    char = getattr(key, "char", None)
    if char is not None:
        if getattr(key, "is_dead", False):  # a dead key types nothing until the next key
            return str(char), None
        return str(char), str(char)
    return f"vk{getattr(key, 'vk', None)}", None


class _Pending:
    """What _handle_message saw, for the pynput callback it is about to call (same thread)."""

    __slots__ = ("detail", "state", "t_ns")

    def __init__(self) -> None:
        self.t_ns = 0
        self.detail = 0
        self.state = 0


@functools.cache
def _listener_classes() -> tuple[Any, Any]:
    """pynput's X11 listeners with our hooks; imported on first use (``import pynput`` needs a display)."""
    import pynput._util.xorg as pxorg  # type: ignore[import-untyped]
    import pynput.keyboard._xorg as pkeyboard  # type: ignore[import-untyped]
    import pynput.mouse._xorg as pmouse  # type: ignore[import-untyped]

    class Hooks(pxorg.ListenerMixin):  # type: ignore[misc]
        """Overrides of pynput's private ListenerMixin / AbstractListener methods (see module doc)."""

        def _setup_hooks(self, clock: Clock, pending: _Pending) -> None:
            self.clock = clock
            self.pending = pending
            self.started = threading.Event()  # set once recording (or once the thread failed)
            self.failure: BaseException | None = None  # why the listener thread ended, if not stop()

        def _run(self) -> None:
            try:
                super()._run()
            except Exception as e:  # cannot open the display / create the RECORD context / connection lost
                self.failure = e
                for name in ("_display_record", "_display_stop"):  # pynput leaks them when setup fails
                    connection = getattr(self, name, None)
                    if connection is not None:
                        with contextlib.suppress(Exception):
                            connection.close()
            finally:
                self._mark_ready()  # pynput's wait() would block forever otherwise
                self.started.set()

        def _handler(self, reply: Any) -> Any:
            if reply.category == _START_OF_DATA:
                self.started.set()
            return super()._handler(reply)

        def _handle_message(self, display: Any, event: Any, injected: bool) -> None:
            pending = self.pending
            pending.t_ns = self.clock()  # first: the stamp is as close to the event's arrival as we get
            pending.detail = int(event.detail)
            pending.state = int(event.state)
            super()._handle_message(display, event, injected)

        def _stop_platform(self) -> None:
            try:
                super()._stop_platform()
                self._display_stop.record_disable_context(self._context)
                self._display_stop.flush()
            except Exception:  # the thread failed or already closed its connections: it is ending anyway
                pass

    class Keyboard(Hooks, pkeyboard.Listener):  # type: ignore[misc]
        def _on_fake_event(self, key: Any, is_press: bool) -> None:
            pass  # echo of an in-process pynput Controller: no keycode; the recorder never injects

    class Mouse(Hooks, pmouse.Listener):  # type: ignore[misc]
        pass

    return Keyboard, Mouse


def check_display(name: str | None = None) -> Any:
    """Open the X display and check it has the RECORD extension; return the connection (the caller closes
    it), or raise CaptureError."""
    name = name or os.environ.get("DISPLAY")
    if not name:
        raise CaptureError("DISPLAY is not set: run the recorder inside an X11 session, or set DISPLAY (e.g. :0)")
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    try:
        d = xdisplay.Display(name)
    except Exception as e:  # DisplayNameError, DisplayConnectionError, XauthError, OSError
        raise CaptureError(
            f"cannot open X display {name} ({one_line(e)}): check DISPLAY, XAUTHORITY and that the X server runs"
        ) from e
    if not d.has_extension("RECORD"):
        d.close()
        raise CaptureError(
            f"X display {name} lacks the RECORD extension that input capture needs: enable it "
            '(Xorg: Load "record" in the Module section; Xvfb: +extension RECORD)'
        )
    return d


class X11Input(InputBackend):
    """Mouse and keyboard on the X11 display named by $DISPLAY, via two pynput RECORD listeners."""

    def __init__(self, clock: Clock, deliver: Deliver) -> None:
        self._clock = clock
        self._deliver = deliver
        self._listeners: list[Any] = []
        self._key = _Pending()  # written by the keyboard listener's hook, read by its callbacks
        self._pointer = _Pending()
        self._errors = FirstError()  # exceptions raised in a callback: the first, and how many

    # --- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._listeners:
            raise CaptureError("input capture is already running: stop() it before starting again")
        # Held open until the listeners record: were it the server's only client, closing it would make a
        # server started without -noreset (Xvfb's default) reset and drop the listeners' connections.
        probe = check_display()
        try:
            self._start_listeners()
        finally:
            with contextlib.suppress(Exception):
                probe.close()

    def _start_listeners(self) -> None:
        try:
            keyboard_cls, mouse_cls = _listener_classes()
        except Exception as e:  # pynput opens the display on import
            raise CaptureError(f"cannot load pynput's X11 backend ({one_line(e)}): check DISPLAY") from e
        keyboard = keyboard_cls(on_press=self._on_press, on_release=self._on_release)
        mouse = mouse_cls(on_move=self._on_move, on_click=self._on_click, on_scroll=self._on_scroll)
        for listener, name, pending in ((keyboard, "keyboard", self._key), (mouse, "mouse", self._pointer)):
            listener._setup_hooks(self._clock, pending)
            listener.name = f"input-{name}"
        self._listeners = [keyboard, mouse]
        try:
            for listener in self._listeners:
                listener.start()
            for listener in self._listeners:
                if not listener.started.wait(START_TIMEOUT_S):
                    raise CaptureError(
                        f"{listener.name} did not start recording within {START_TIMEOUT_S:g} s: "
                        "check that the X server is responsive"
                    )
                listener.wait()  # pynput's readiness (already given once recording started)
                if listener.failure is not None:
                    raise CaptureError(
                        f"{listener.name} could not start ({one_line(listener.failure)}): "
                        "check DISPLAY and that the X server has the RECORD extension"
                    ) from listener.failure
        except BaseException:
            with contextlib.suppress(CaptureError):  # the start error is the one to report
                self.stop()
            raise

    def stop(self) -> None:
        listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener.stop()
        problems: list[tuple[str, BaseException]] = []
        stuck: list[str] = []
        for listener in listeners:
            try:
                listener.join(STOP_TIMEOUT_S)  # re-raises an exception pynput caught in its own code
            except Exception as e:
                problems.append((f"{listener.name} failed", e))
            if listener.is_alive():
                stuck.append(listener.name)
            elif listener.failure is not None:
                problems.append((f"{listener.name} stopped unexpectedly", listener.failure))
        if stuck:
            raise CaptureError(f"{' and '.join(stuck)} did not stop within {STOP_TIMEOUT_S:g} s: the X server hangs")
        raise_lost_events(self._errors)
        if problems:
            what, cause = problems[0]
            raise CaptureError(f"{what} ({one_line(cause)}): check that the X server still runs") from cause

    # --- pynput callbacks (listener threads): build the event, hand it on, never raise --------------------
    def _send(self, build: Callable[[], InputEvent]) -> None:
        try:
            self._deliver(build())
        except Exception as e:  # kept for stop(); the listener keeps capturing
            self._errors.keep(e)

    def _key_event(self, kind: EventKind, key: Any, injected: bool) -> InputEvent:
        p = self._key
        name, char = key_fields(key, p.detail)
        return InputEvent(
            seq=0,
            t_ns=p.t_ns,
            kind=kind,
            key=name,
            char=char,
            scancode=p.detail,
            modifiers=modifiers_from_state(p.state),
            injected=True if injected else None,
        )

    def _on_press(self, key: Any, injected: bool) -> None:
        self._send(lambda: self._key_event(EventKind.KEY_DOWN, key, injected))

    def _on_release(self, key: Any, injected: bool) -> None:
        self._send(lambda: self._key_event(EventKind.KEY_UP, key, injected))

    def _mouse_event(self, kind: EventKind, x: int, y: int, injected: bool, **fields: Any) -> InputEvent:
        p = self._pointer
        return InputEvent(
            seq=0,
            t_ns=p.t_ns,
            kind=kind,
            x=int(x),
            y=int(y),
            modifiers=modifiers_from_state(p.state),
            injected=True if injected else None,
            **fields,
        )

    def _on_move(self, x: int, y: int, injected: bool) -> None:
        self._send(lambda: self._mouse_event(EventKind.MOVE, x, y, injected))

    def _on_click(self, x: int, y: int, button: Any, pressed: bool, injected: bool) -> None:
        kind = EventKind.DOWN if pressed else EventKind.UP
        self._send(lambda: self._mouse_event(kind, x, y, injected, button=button_name(self._pointer.detail)))

    def _on_scroll(self, x: int, y: int, dx: int, dy: int, injected: bool) -> None:
        # pynput: dy > 0 is up; ours: + down (format.InputEvent), so the sign flips; dx is + right in both
        self._send(lambda: self._mouse_event(EventKind.SCROLL, x, y, injected, dx=int(dx), dy=-int(dy)))
