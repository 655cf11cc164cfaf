"""X11 backends: the focused window with python-xlib, the monitor layout with python-mss (+ RandR refresh rates).

Which window is focused: ``_NET_ACTIVE_WINDOW`` on the root when an EWMH window manager publishes it;
otherwise the X input focus, walked up to its top-level client (the first ancestor carrying WM_CLASS, or
the child of the root). Without a window manager the focus may also be PointerRoot (the server's
default: keys go to the window under the pointer), which is resolved through the pointer, or None.

A python-xlib connection is not thread-safe: use one backend object from one thread at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from Xlib import X, Xatom  # type: ignore[import-untyped]
from Xlib import display as xdisplay
from Xlib import error as xerror
from Xlib.ext import randr  # type: ignore[import-untyped]

from recorder.errors import CaptureError
from recorder.platform.base import DisplayBackend, WindowBackend, WindowInfo, WindowName
from trajrec.format import Display

T = TypeVar("T")

_MAX_PROP_LONGS = 1 << 16  # read at most 256 KiB of a property (titles, WM_CLASS) in one round trip
_CLIENT_SEARCH_DEPTH = 2  # how deep under a frame (child of root) to look for the WM_CLASS client


def _open(name: str | None) -> Any:
    try:
        return xdisplay.Display(name)
    except Exception as e:  # DisplayNameError, DisplayConnectionError, XauthError, OSError
        shown = name or "$DISPLAY"
        raise CaptureError(f"cannot open X display {shown} ({e}): check DISPLAY and that the X server runs") from e


def _text(raw: bytes, utf8: bool) -> str:
    """Decode a text property. STRING is Latin-1 by the spec, but many clients put UTF-8 there."""
    if utf8:
        return raw.decode("utf-8", "replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class X11WindowBackend(WindowBackend):
    """The focused top-level window on an X11 display (``display_name`` None: $DISPLAY)."""

    def __init__(self, display_name: str | None = None) -> None:
        self._d = _open(display_name)
        self._root = self._d.screen().root
        atom = self._d.intern_atom
        self._utf8 = atom("UTF8_STRING")
        self._net_active = atom("_NET_ACTIVE_WINDOW")
        self._net_name = atom("_NET_WM_NAME")
        self._net_pid = atom("_NET_WM_PID")
        self._apps: dict[int, str] = {}  # window id -> application class: it never changes for a window
        self._clients: dict[int, Any] = {}  # top-level window id -> the window carrying WM_CLASS
        self._resolved: dict[int, Any] = {}  # input-focus window id -> its top-level client window
        self._pids: dict[int, int | None] = {}  # client window id -> _NET_WM_PID (set once, before mapping)

    def focused_name(self) -> WindowName | None:
        def query() -> WindowName | None:
            win = self._focused_window()
            return None if win is None else WindowName(self._app_of(win), self._title_of(win), int(win.id))

        return self._uncached_on_failure(query)

    def focused(self) -> WindowInfo | None:
        return self._uncached_on_failure(lambda: self._describe(self._focused_window()))

    def _uncached_on_failure(self, query: Callable[[], T]) -> T | None:
        """`query` through `_guard`; when it fails and something was cached, once more from nothing: a cached window
        may be gone and its id given to another (never answer "no window" for a stale cache)."""
        found = self._guard(query)
        if found is None and (self._resolved or self._apps):
            self._resolved.clear()
            self._apps.clear()
            found = self._guard(query)
        return found

    def stacked(self) -> list[WindowInfo]:
        tops: list[Any] = self._guard(lambda: list(self._root.query_tree().children)) or []  # bottom to top
        out = [info for info in (self._guard(partial(self._stacked_one, top)) for top in tops) if info is not None]
        # forget windows that are gone, before the X server can hand their ids to another client's windows
        top_ids = {t.id for t in tops}
        self._clients = {k: v for k, v in self._clients.items() if k in top_ids}
        live = top_ids | {c.id for c in self._clients.values()}
        self._apps = {k: v for k, v in self._apps.items() if k in live}
        self._pids = {k: v for k, v in self._pids.items() if k in live}
        self._resolved = {k: v for k, v in self._resolved.items() if v.id in live}
        return out

    def _stacked_one(self, top: Any) -> WindowInfo | None:
        """A top-level window as `stacked` lists it, None when it is not shown (a window gone meanwhile raises
        XError, and is left out by `_guard`: only that one)."""
        if top.get_attributes().map_state != X.IsViewable:
            return None
        client = self._clients.get(top.id)
        if client is None:
            client = self._clients[top.id] = self._client(top)
        geom = top.get_geometry()
        return WindowInfo(
            self._app_of(client), self._title_of(client), int(geom.x), int(geom.y), int(geom.width),
            int(geom.height), self._cached_pid_of(client), int(client.id),
        )  # fmt: skip

    def info(self, window_id: int) -> WindowInfo | None:
        """Describe one window by X id (None if it does not exist or vanished meanwhile)."""
        return self._guard(lambda: self._describe(self._window(window_id)))

    def close(self) -> None:
        self._d.close()

    # --- internals ---------------------------------------------------------------------------------------
    def _guard(self, query: Callable[[], T]) -> T | None:
        """`query()`, or None when a window it asked about went away between two requests."""
        try:
            return query()
        except xerror.XError:  # BadWindow & co: the window went away between two requests
            return None
        except xerror.ConnectionClosedError as e:
            raise CaptureError(f"lost the X display connection ({e}): check that the X server still runs") from e

    def _window(self, wid: int) -> Any:
        return self._d.create_resource_object("window", wid)

    def _prop(self, win: Any, atom: int, type_: int) -> Any:
        """A property's reply, or None when absent or of another type than asked."""
        prop = win.get_property(atom, type_, 0, _MAX_PROP_LONGS)
        if prop is None or (type_ != X.AnyPropertyType and prop.property_type != type_):
            return None
        return prop

    def _has_wm_class(self, win: Any) -> bool:
        return self._prop(win, Xatom.WM_CLASS, Xatom.STRING) is not None

    def _focused_window(self) -> Any:
        active = self._prop(self._root, self._net_active, Xatom.WINDOW)
        if active is not None and active.format == 32 and len(active.value) > 0:
            return self._window(int(active.value[0])) if active.value[0] else None  # 0: the desktop is active
        focus = self._d.get_input_focus().focus
        if isinstance(focus, int):  # X.NONE (keys are discarded) or X.PointerRoot (keys go under the pointer)
            if focus != X.PointerRoot:
                return None
            child = self._root.query_pointer().child  # the child of root under the pointer, or 0
            return self._client(child) if child else None
        if focus.id in self._resolved:  # the deny-list guard asks at every frame: walk up once per focus window
            return self._resolved[focus.id]
        if len(self._resolved) > 256:
            self._resolved.clear()
        win = focus
        while True:
            if win.id == self._root.id:
                return None
            if self._has_wm_class(win):
                break
            parent = win.query_tree().parent
            if isinstance(parent, int) or parent.id == self._root.id:  # int: X.NONE
                win = self._client(win)
                break
            win = parent
        self._resolved[focus.id] = win
        return win

    def _client(self, top: Any) -> Any:
        """The window carrying WM_CLASS in or under a child of root (a frame when a WM reparents), else top."""
        level = [top]
        for _ in range(_CLIENT_SEARCH_DEPTH + 1):
            for win in level:
                if self._has_wm_class(win):
                    return win
            level = [c for win in level for c in win.query_tree().children]
        return top

    def _app_of(self, win: Any) -> str:
        """The window's application class (cached: WM_CLASS is set once, before a window is mapped)."""
        if win.id in self._apps:
            return self._apps[win.id]
        app = ""
        wm_class = self._prop(win, Xatom.WM_CLASS, Xatom.STRING)
        if wm_class is not None:
            parts = bytes(wm_class.value).split(b"\0")
            instance = parts[0] if parts else b""
            klass = parts[1] if len(parts) > 1 else b""
            app = _text(klass or instance, utf8=False)
            self._apps[win.id] = app
        return app

    def _pid_of(self, win: Any) -> int | None:
        prop = self._prop(win, self._net_pid, Xatom.CARDINAL)
        return int(prop.value[0]) if prop is not None and prop.format == 32 and len(prop.value) > 0 else None

    def _cached_pid_of(self, win: Any) -> int | None:
        """`_pid_of` for `stacked`, which prunes this cache of windows that are gone."""
        if win.id not in self._pids:
            self._pids[win.id] = self._pid_of(win)
        return self._pids[win.id]

    def _title_of(self, win: Any) -> str:
        name = self._prop(win, self._net_name, self._utf8)
        if name is not None:
            return _text(bytes(name.value), utf8=True)
        name = self._prop(win, Xatom.WM_NAME, X.AnyPropertyType)
        if name is not None and name.format == 8:
            return _text(bytes(name.value), utf8=name.property_type == self._utf8)
        return ""

    def _describe(self, win: Any) -> WindowInfo | None:
        if win is None:
            return None
        app, title, pid = self._app_of(win), self._title_of(win), self._pid_of(win)
        geom = win.get_geometry()
        origin = self._root.translate_coords(win, 0, 0)  # absolute position of the client area
        return WindowInfo(
            app=app,
            title=title,
            x=int(origin.x),
            y=int(origin.y),
            w=int(geom.width),
            h=int(geom.height),
            pid=pid,
            window_id=int(win.id),
        )


class X11DisplayBackend(DisplayBackend):
    """Monitors from python-mss (ids 0..n-1 in mss order); refresh rates from RandR when it knows them."""

    def __init__(self, display_name: str | None = None) -> None:
        self._name = display_name

    def displays(self) -> list[Display]:
        import mss

        kwargs: dict[str, Any] = {} if self._name is None else {"display": self._name}
        try:
            with mss.MSS(**kwargs) as sct:
                monitors = list(sct.monitors[1:])  # [0] is the union of all monitors
        except Exception as e:  # mss.ScreenShotError, or an X error without a display
            shown = self._name or "$DISPLAY"
            raise CaptureError(f"cannot read the monitor layout of X display {shown} ({e}): check DISPLAY") from e
        rates = self._refresh_rates()
        primary = next((i for i, m in enumerate(monitors) if m.get("is_primary")), None)
        if primary is None:
            primary = next((i for i, m in enumerate(monitors) if (m["left"], m["top"]) == (0, 0)), 0)
        out = []
        for i, m in enumerate(monitors):
            geometry = (int(m["left"]), int(m["top"]), int(m["width"]), int(m["height"]))
            out.append(
                Display(
                    id=i,
                    origin=geometry[:2],
                    size_px=geometry[2:],
                    scale=1.0,  # X11 has no per-monitor scale: applications scale themselves
                    refresh_hz=rates.get(geometry),
                    primary=i == primary,
                    name=str(m.get("output", "")),
                )
            )
        return out

    def _refresh_rates(self) -> dict[tuple[int, int, int, int], float]:
        """(x, y, w, h) of each active CRTC -> its mode's refresh rate; {} when RandR cannot tell."""
        try:
            d = xdisplay.Display(self._name)
        except Exception:  # displays() already opened this display through mss; rates are optional
            return {}
        try:
            if not d.has_extension("RANDR"):
                return {}
            root = d.screen().root
            version = d.xrandr_query_version()
            if (version.major_version, version.minor_version) >= (1, 3):
                res = randr.get_screen_resources_current(root)
            else:
                res = randr.get_screen_resources(root)
            modes = {m.id: m for m in res.modes}
            rates: dict[tuple[int, int, int, int], float] = {}
            for crtc in res.crtcs:
                info = randr.get_crtc_info(d, crtc, res.config_timestamp)
                mode = modes.get(info.mode)
                if mode is None or not info.outputs:
                    continue
                hz = _mode_hz(int(mode.dot_clock), int(mode.h_total), int(mode.v_total), int(mode.flags))
                key = (int(info.x), int(info.y), int(info.width), int(info.height))
                if hz is not None and key not in rates:
                    rates[key] = hz
            return rates
        except xerror.XError:
            return {}
        finally:
            d.close()


def _mode_hz(dot_clock: int, h_total: int, v_total: int, flags: int) -> float | None:
    """A video mode's refresh rate; None when the mode has no timings (Xvfb, some virtual GPUs)."""
    if dot_clock <= 0 or h_total <= 0 or v_total <= 0:
        return None
    lines = float(v_total)
    if flags & randr.DoubleScan:
        lines *= 2
    if flags & randr.Interlace:
        lines /= 2
    return round(dot_clock / (h_total * lines), 3)
