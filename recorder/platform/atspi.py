"""The Linux accessibility backend: AT-SPI 2 spoken over D-Bus with jeepney (pure Python, from PyPI).

AT-SPI is plain D-Bus: the session bus names the accessibility bus (`org.a11y.Bus.GetAddress`) and says
whether toolkits should expose their trees (`org.a11y.Status.IsEnabled`, which screen readers set; Qt apps
expose nothing until it is true). On the accessibility bus every application answers `org.a11y.atspi.*` calls
and emits `Event.Object.StateChanged` signals. jeepney was chosen over GObject's Atspi binding (a system
package that a venv and the packaged app cannot carry) and over dbus-fast (asyncio-only, a compiled
extension) because it installs from PyPI into the venv and the frozen app as pure Python, has no
dependencies, and its blocking connections fit one listener thread.

Two connections: the listener thread owns one (focus signals, then the questions about the focused element),
`element_at` owns the other (under a lock), so a slow application never holds both.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from jeepney import DBusAddress, DBusErrorResponse, MatchRule, Properties, new_method_call
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from jeepney.low_level import HeaderFields

from recorder.clock import Clock
from recorder.errors import BackendUnavailable, CaptureError, FirstError
from recorder.platform.base import AccessibilityBackend, ElementInfo, FrameInfo, FramesBackend, OnFocus, one_line

log = logging.getLogger(__name__)

CALL_TIMEOUT_S = 1.0  # an application that does not answer within this is skipped, never waited on
FRAMES_TIMEOUT_S = 0.25  # the same for the frames the deny-list asks for, on the screen source's thread
NULL_PATH = "/org/a11y/atspi/null"
REGISTRY = "org.a11y.atspi.Registry"
ROOT = "/org/a11y/atspi/accessible/root"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
FOCUS_EVENT = "object:state-changed:focused"
DBUS_DAEMON = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
SCREEN_COORDS = 0  # ATSPI_COORD_TYPE_SCREEN
ROLE_PASSWORD_TEXT = 40  # ATSPI_ROLE_PASSWORD_TEXT

# AtspiStateType, in bit order of the two 32-bit words GetState returns.
STATES = (
    "invalid", "active", "armed", "busy", "checked", "collapsed", "defunct", "editable", "enabled", "expandable",
    "expanded", "focusable", "focused", "has_tooltip", "horizontal", "iconified", "modal", "multi_line",
    "multiselectable", "opaque", "pressed", "resizable", "selectable", "selected", "sensitive", "showing",
    "single_line", "stale", "transient", "vertical", "visible", "manages_descendants", "indeterminate",
    "required", "truncated", "animated", "invalid_entry", "supports_autocompletion", "selectable_text",
    "is_default", "visited", "checkable", "has_popup", "read_only",
)  # fmt: skip


def state_names(words: list[int]) -> tuple[str, ...]:
    bits = sum(int(w) << (32 * i) for i, w in enumerate(words[:2]))
    return tuple(name for i, name in enumerate(STATES) if bits >> i & 1)


class Tree:
    """Questions to applications over one accessibility-bus connection (not thread-safe: one owner)."""

    def __init__(self, conn: DBusConnection, timeout: float = CALL_TIMEOUT_S) -> None:
        self.conn = conn
        self.timeout = timeout
        self._apps: dict[str, tuple[str, str]] = {}  # bus name -> (app name, toolkit)

    def call(self, bus: str, path: str, interface: str, method: str, signature: str | None = None, *args: Any) -> Any:
        msg = new_method_call(DBusAddress(path, bus_name=bus, interface=interface), method, signature, args)
        return self.conn.send_and_get_reply(msg, timeout=self.timeout).body[0]

    def prop(self, bus: str, path: str, interface: str, name: str) -> Any:
        msg = Properties(DBusAddress(path, bus_name=bus, interface=interface)).get(name)
        return self.conn.send_and_get_reply(msg, timeout=self.timeout).body[0][1]

    def app_of(self, bus: str) -> tuple[str, str]:
        if bus not in self._apps:
            name, toolkit = "", ""
            try:
                name = str(self.prop(bus, ROOT, ACCESSIBLE, "Name"))
                toolkit = str(self.prop(bus, ROOT, "org.a11y.atspi.Application", "ToolkitName"))
            except (DBusErrorResponse, TimeoutError):
                pass
            self._apps[bus] = (name, toolkit)
        return self._apps[bus]

    def describe(self, bus: str, path: str) -> ElementInfo:
        role = str(self.call(bus, path, ACCESSIBLE, "GetRoleName"))
        if int(self.call(bus, path, ACCESSIBLE, "GetRole")) == ROLE_PASSWORD_TEXT:
            role = "password text"  # Qt names its password fields' role "text"; the number is right
        name = str(self.prop(bus, path, ACCESSIBLE, "Name"))
        states = state_names(list(self.call(bus, path, ACCESSIBLE, "GetState")))
        rect: tuple[int, int, int, int] | None = None
        try:
            x, y, w, h = self.call(bus, path, COMPONENT, "GetExtents", "u", SCREEN_COORDS)
            rect = (int(x), int(y), int(w), int(h))
        except DBusErrorResponse:
            pass  # an element without a Component interface has no extents
        app, toolkit = self.app_of(bus)
        return ElementInfo(role=role, name=name, states=states, app=app, toolkit=toolkit, rect=rect)

    def at_point(self, x: int, y: int) -> tuple[str, str] | None:
        """The deepest element at (x, y): the top-level windows that contain the point (the active one first),
        then GetAccessibleAtPoint down the tree."""
        candidates: list[tuple[bool, str, str]] = []
        for bus, app_path in self.call(REGISTRY, ROOT, ACCESSIBLE, "GetChildren"):
            try:
                for wbus, wpath in self.call(bus, app_path, ACCESSIBLE, "GetChildren"):
                    ex, ey, ew, eh = self.call(wbus, wpath, COMPONENT, "GetExtents", "u", SCREEN_COORDS)
                    if ex <= x < ex + ew and ey <= y < ey + eh:
                        active = "active" in state_names(list(self.call(wbus, wpath, ACCESSIBLE, "GetState")))
                        candidates.append((not active, wbus, wpath))
            except (DBusErrorResponse, TimeoutError):
                continue  # an application that went away or does not answer
        for _, bus, path in sorted(candidates):
            node = (bus, path)
            for _depth in range(64):
                child = tuple(
                    self.call(node[0], node[1], COMPONENT, "GetAccessibleAtPoint", "iiu", x, y, SCREEN_COORDS)
                )
                if child[1] == NULL_PATH or child == node:
                    break
                node = (str(child[0]), str(child[1]))
            return node
        return None


class AtspiFrames(FramesBackend):
    """Applications' top-level windows by process id, on a connection of its own (the deny-list's, asked from the
    screen source's thread). An application that does not answer within FRAMES_TIMEOUT_S shows no frames."""

    def __init__(self) -> None:
        session, address = _bus_addresses()
        session.close()
        try:
            self._tree = Tree(open_dbus_connection(bus=address), timeout=FRAMES_TIMEOUT_S)
        except OSError as e:
            raise BackendUnavailable(f"the accessibility bus does not answer ({one_line(e)})") from e
        self._pids: dict[str, int] = {}  # application bus name -> its process id (fixed for a connection)

    def frames(self, pid: int) -> list[FrameInfo] | None:
        try:
            listed = self._tree.call(REGISTRY, ROOT, ACCESSIBLE, "GetChildren")
        except (DBusErrorResponse, TimeoutError, OSError) as e:
            raise CaptureError(f"the accessibility registry does not answer ({one_line(e)})") from e
        apps = [(str(bus), str(path)) for bus, path in listed]
        self._pids = {bus: p for bus, p in self._pids.items() if any(bus == b for b, _ in apps)}
        for bus, path in apps:
            if bus not in self._pids:
                try:
                    self._pids[bus] = int(self._tree.call(*DBUS_DAEMON, "GetConnectionUnixProcessID", "s", bus))
                except (DBusErrorResponse, TimeoutError):
                    continue  # gone meanwhile
            if self._pids[bus] == pid:
                return self._frames_of(bus, path)
        return None

    def _frames_of(self, bus: str, app_path: str) -> list[FrameInfo]:
        out = []
        try:
            children = self._tree.call(bus, app_path, ACCESSIBLE, "GetChildren")
        except (DBusErrorResponse, TimeoutError):
            return []
        for fbus, fpath in children:
            try:
                name = str(self._tree.prop(fbus, fpath, ACCESSIBLE, "Name"))
                active = "active" in state_names(list(self._tree.call(fbus, fpath, ACCESSIBLE, "GetState")))
                x, y, w, h = self._tree.call(fbus, fpath, COMPONENT, "GetExtents", "u", SCREEN_COORDS)
            except (DBusErrorResponse, TimeoutError):
                continue  # closed meanwhile, or not a component
            out.append(FrameInfo(name, (int(x), int(y), int(w), int(h)), active))
        return out

    def close(self) -> None:
        self._tree.conn.close()


def _bus_addresses() -> tuple[DBusConnection, str]:
    """The session bus and the accessibility bus's address (activating the bus launcher when needed)."""
    try:
        session = open_dbus_connection(bus="SESSION")
    except (KeyError, OSError, ValueError) as e:
        raise BackendUnavailable(f"no D-Bus session bus ({one_line(e)}): accessibility is not available") from e
    try:
        bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
        address = str(session.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=5).body[0])
    except (DBusErrorResponse, TimeoutError, OSError) as e:
        session.close()
        raise BackendUnavailable(
            f"no accessibility bus ({one_line(e)}): install at-spi2-core to guard password fields"
        ) from e
    return session, address


STATUS = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")


def _enable(session: DBusConnection) -> bool:
    """Turn the accessibility tree on (org.a11y.Status.IsEnabled, as screen readers do); whether it was on."""
    was = bool(session.send_and_get_reply(Properties(STATUS).get("IsEnabled"), timeout=5).body[0][1])
    if not was:
        session.send_and_get_reply(Properties(STATUS).set("IsEnabled", "b", True), timeout=5)
    return was


def _disable(session: DBusConnection) -> None:
    try:
        session.send_and_get_reply(Properties(STATUS).set("IsEnabled", "b", False), timeout=5)
    except (DBusErrorResponse, TimeoutError, OSError) as e:
        log.warning("could not turn accessibility back off: %s", e)


def keep_on() -> Callable[[], None]:
    """Turn the accessibility tree on until the returned function is called (which puts the desktop's setting back
    as it was). The desktop app holds it while it is open: browsers expose their trees (and say which windows are
    private) only when started while it is on, so a browser started after the app opened is guarded in every
    recording, not only in those that started before it."""
    session, _address = _bus_addresses()
    try:
        was = _enable(session)
    except (DBusErrorResponse, TimeoutError, OSError) as e:
        session.close()
        raise BackendUnavailable(f"the accessibility bus does not answer ({one_line(e)})") from e

    def restore() -> None:
        if not was:
            _disable(session)
        session.close()

    return restore


class AtspiBackend(AccessibilityBackend):
    def __init__(self, clock: Clock, on_focus: OnFocus) -> None:
        self.clock = clock
        self.on_focus = on_focus
        self._stop = threading.Event()
        self._errors = FirstError()
        self._thread: threading.Thread | None = None
        self._session: DBusConnection | None = None
        self._listen: DBusConnection | None = None
        self._query: Tree | None = None
        self._query_lock = threading.Lock()
        self._was_enabled: bool | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        session, address = _bus_addresses()
        self._session = session
        try:
            self._was_enabled = _enable(session)
            self._listen = open_dbus_connection(bus=address)
            self._query = Tree(open_dbus_connection(bus=address))
        except (DBusErrorResponse, TimeoutError, OSError) as e:
            self.stop()
            raise BackendUnavailable(f"the accessibility bus does not answer ({one_line(e)})") from e
        self._thread = threading.Thread(target=self._run, name="atspi-focus", daemon=True)
        self._thread.start()
        if not self._ready.wait(5) and self._thread.is_alive():
            self.stop()
            raise BackendUnavailable("the accessibility registry did not take our focus listener within 5 s")
        error, _ = self._errors.take()
        if error is not None:
            self.stop()
            raise BackendUnavailable(f"cannot listen to focus changes ({one_line(error)})") from error

    def _run(self) -> None:
        conn = self._listen
        assert conn is not None
        tree = Tree(conn)
        rule = MatchRule(type="signal", interface="org.a11y.atspi.Event.Object", member="StateChanged")
        try:
            conn.send_and_get_reply(message_bus.AddMatch(rule), timeout=5)
            with conn.filter(rule, bufsize=1000) as signals:
                registry = DBusAddress("/org/a11y/atspi/registry", bus_name=REGISTRY, interface=REGISTRY)
                conn.send_and_get_reply(
                    new_method_call(registry, "RegisterEvent", "sass", (FOCUS_EVENT, [], "")), timeout=5
                )
                self._ready.set()
                while not self._stop.is_set():
                    try:
                        msg = conn.recv_until_filtered(signals, timeout=0.2)
                    except TimeoutError:
                        continue
                    t_ns = self.clock()  # stamp first
                    detail, gained = msg.body[0], msg.body[1]
                    if detail != "focused" or gained != 1:
                        continue
                    sender = str(msg.header.fields.get(HeaderFields.sender, ""))
                    path = str(msg.header.fields.get(HeaderFields.path, ""))
                    try:
                        info = tree.describe(sender, path)
                    except (DBusErrorResponse, TimeoutError) as e:  # gone or hung meanwhile: that change is lost
                        log.debug("focus change on %s%s not described: %s", sender, path, e)
                        continue
                    self.on_focus(t_ns, info)
        except BaseException as e:
            if not self._stop.is_set():
                self._errors.keep(e)
        finally:
            self._ready.set()

    def element_at(self, x: int, y: int) -> ElementInfo | None:
        with self._query_lock:
            tree = self._query
            if tree is None:
                return None
            try:
                found = tree.at_point(x, y)
                return None if found is None else tree.describe(*found)
            except (DBusErrorResponse, TimeoutError):
                return None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for conn in (self._listen, self._query.conn if self._query else None):
            if conn is not None:
                conn.close()
        with self._query_lock:
            self._query = None
        if self._session is not None:
            if self._was_enabled is False:  # put the desktop's setting back as we found it
                _disable(self._session)
            self._session.close()
            self._session = None
        error, count = self._errors.take()
        if error is not None:
            raise CaptureError(f"the accessibility listener failed ({one_line(error)}); {count} error(s)") from error
