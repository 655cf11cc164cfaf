"""Real parts for accessibility (AT-SPI) tests: a private D-Bus session bus that activates the accessibility bus
and registry for a test display, an openbox window manager, GTK 3 and Qt test windows (a text field, a password
field, a "Sign in" button) and a small jeepney reader of the accessibility tree to check what they expose.

Everything started here is stopped on exit, D-Bus-activated processes included, and what they leave on the display
is cleaned up (AT_SPI_BUS, openbox's root properties and cursor), so tests can share one (conftest's x_display).
Tested on Debian 12 with at-spi2-core 2.46, openbox 3.6, GTK 3.24 (system Python) and PySide6 (the venv)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from jeepney import DBusAddress, MessageType, Properties, new_method_call
from jeepney.io.blocking import DBusConnection, open_dbus_connection
from Xlib import X  # type: ignore[import-untyped]
from Xlib import display as xdisplay

from tests.helpers.harness import Display, HarnessError, wait_until

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"  # has `gi` (python3-gi, gir1.2-gtk-3.0); the venv has not
WINDOW_SCRIPTS = {"gtk": HERE / "a11y_gtk_window.py", "qt": HERE / "a11y_qt_window.py"}
WIDGETS = ("text", "password", "button")

# Inherited variables that would point children at another bus, display server, Qt platform or home.
STRIPPED = frozenset(
    {
        "DBUS_SESSION_BUS_ADDRESS",
        "DBUS_STARTER_ADDRESS",
        "DBUS_STARTER_BUS_TYPE",
        "AT_SPI_BUS_ADDRESS",
        "NO_AT_BRIDGE",
        "WAYLAND_DISPLAY",
        "QT_QPA_PLATFORM",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
    }
)

A11Y_BUS = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
A11Y_STATUS = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
REGISTRY = "org.a11y.atspi.Registry"
ROOT_PATH = "/org/a11y/atspi/accessible/root"
NULL_PATH = "/org/a11y/atspi/null"
ACCESSIBLE = "org.a11y.atspi.Accessible"
COMPONENT = "org.a11y.atspi.Component"
STATE_FOCUSED, STATE_SHOWING = 12, 25  # AtspiStateType bit numbers (GetState returns them as two uint32 words)
ROLE_FRAME, ROLE_PASSWORD_TEXT, ROLE_PUSH_BUTTON, ROLE_TEXT = 23, 40, 43, 61  # AtspiRole numbers (GetRole)
COORD_SCREEN = 0
SUN_PATH_MAX = 107  # a unix socket path, without its NUL


def child_env(*overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without STRIPPED, then `overrides` (e.g. SessionBus.env) applied in order."""
    env = {k: v for k, v in os.environ.items() if k not in STRIPPED}
    for o in overrides:
        env.update(o)
    return env


# --- processes ------------------------------------------------------------------------------------------
def _processes() -> Iterator[tuple[int, int]]:
    """(pid, process group) of every live (not zombie) process."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state ppid pgrp ...
            if fields[0] not in ("Z", "X"):
                yield int(entry.name), int(fields[2])


def _environ_has(pid: int, entries: frozenset[bytes]) -> bool:
    try:
        return not entries.isdisjoint(Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"))
    except OSError:
        return False


def _stop(members: Callable[[], set[int]], what: str) -> None:
    """SIGTERM the processes `members` names (asked again each round), then SIGKILL those still there."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        pids = members()
        if not pids:
            return
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while members() and time.monotonic() < deadline:
            time.sleep(0.02)
    if members():
        raise HarnessError(f"{what}: processes {sorted(members())} survived SIGKILL")


def _stop_group(proc: subprocess.Popen[bytes], what: str) -> None:
    """Stop a child started with start_new_session=True and everything else in its process group."""
    _stop(lambda: {pid for pid, pgid in _processes() if pgid == proc.pid}, what)
    proc.wait(5)


def _xprop(display: Display, *args: str) -> str:
    r = subprocess.run(["xprop", "-display", display.name, *args], capture_output=True, text=True, timeout=10)
    return r.stdout if r.returncode == 0 else ""


def _tail(path: Path, n: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


# --- D-Bus ----------------------------------------------------------------------------------------------
def _reply(conn: DBusConnection, message: Any, timeout: float = 5.0) -> tuple[Any, ...]:
    """Send a method call and return the reply's body; a D-Bus error becomes a HarnessError."""
    reply = conn.send_and_get_reply(message, timeout=timeout)
    if reply.header.message_type == MessageType.error:
        raise HarnessError(f"D-Bus error from {message.header.fields}: {reply.body}")
    return tuple(reply.body)


@dataclass(frozen=True)
class SessionBus:
    address: str  # DBUS_SESSION_BUS_ADDRESS of the private session bus
    a11y_address: str  # the accessibility bus, as org.a11y.Bus.GetAddress names it
    env: dict[str, str]  # what children need: DISPLAY, the bus, XDG_RUNTIME_DIR and HOME inside root
    root: Path

    @property
    def a11y_socket(self) -> Path:
        """Where at-spi-bus-launcher put the accessibility bus: $XDG_RUNTIME_DIR/at-spi/bus_<display number>."""
        m = re.match(r"unix:path=([^,]+)", self.a11y_address)
        if m is None:
            raise HarnessError(f"not a unix:path address: {self.a11y_address}")
        return Path(m.group(1))


@contextmanager
def session_bus(root: Path, display: Display) -> Iterator[SessionBus]:
    """A private D-Bus session bus (socket <root>/bus) for clients on `display`, with the accessibility bus
    (<root>/run/at-spi/bus_<n>) and its registry already activated. XDG_RUNTIME_DIR is <root>/run, HOME is
    <root>/home; GSettings uses its memory backend (no dconf). An inherited DBUS_SESSION_BUS_ADDRESS is ignored.
    On exit the daemon and everything it activated (at-spi-bus-launcher, its dbus-daemon, at-spi2-registryd)
    are stopped.

    One at a time per display: at-spi-bus-launcher publishes the accessibility bus as AT_SPI_BUS on the root
    window, and GTK and Qt apps take the bus from there, not from their session bus."""
    taken = _xprop(display, "-root", "AT_SPI_BUS")
    if "=" in taken:
        raise HarnessError(f"{display.name} already has an accessibility bus ({taken.strip()}): one at a time")
    run_dir, home = root / "run", root / "home"
    for d in (run_dir, home):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    socket = root / "bus"
    if len(str(run_dir / "at-spi" / "bus_9999")) > SUN_PATH_MAX:
        raise HarnessError(f"{root} is too long for unix socket paths under it")
    base = {**display.env, "XDG_RUNTIME_DIR": str(run_dir), "HOME": str(home), "GSETTINGS_BACKEND": "memory"}
    log = root / "dbus.log"
    read_fd, write_fd = os.pipe()
    with log.open("ab") as log_file:
        daemon = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--nopidfile",
                f"--address=unix:path={socket}",
                f"--print-address={write_fd}",
            ],
            env=child_env(base),
            stdin=subprocess.DEVNULL,
            stdout=log_file,  # activated services inherit these; "Failed to set fd limit" is harmless
            stderr=log_file,
            pass_fds=(write_fd,),
            start_new_session=True,  # it and what it activates share a process group, stopped together
        )
    os.close(write_fd)
    address = a11y_address = ""
    try:
        address = _read_line(read_fd, 10.0, lambda: f"dbus-daemon exited ({daemon.poll()}): {_tail(log)}")
        with open_dbus_connection(address) as conn:
            # activates at-spi-bus-launcher, which starts the accessibility bus and sets AT_SPI_BUS on the root
            a11y_address = str(_reply(conn, new_method_call(A11Y_BUS, "GetAddress"), timeout=15)[0])
        with open_dbus_connection(a11y_address) as conn:  # activates at-spi2-registryd
            ping = DBusAddress("/org/a11y/atspi/registry", bus_name=REGISTRY, interface="org.freedesktop.DBus.Peer")
            _reply(conn, new_method_call(ping, "Ping"), timeout=15)
        yield SessionBus(address, a11y_address, {**base, "DBUS_SESSION_BUS_ADDRESS": address}, root)
    finally:
        os.close(read_fd)
        starters = frozenset(f"DBUS_STARTER_ADDRESS={a}".encode() for a in (address, a11y_address) if a)
        _stop(
            lambda: {pid for pid, pgid in _processes() if pgid == daemon.pid or _environ_has(pid, starters)},
            "session bus",
        )
        daemon.wait(5)
        # at-spi-bus-launcher removes AT_SPI_BUS when it stops cleanly; not if it had to be killed
        if a11y_address and a11y_address in _xprop(display, "-root", "AT_SPI_BUS"):
            _xprop(display, "-root", "-remove", "AT_SPI_BUS")


def _read_line(fd: int, timeout: float, why: Callable[[], str]) -> str:
    data = b""
    deadline = time.monotonic() + timeout
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise HarnessError(f"no line within {timeout} s: {why()}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise HarnessError(f"closed without a line: {why()}")
        data += chunk
    return data.split(b"\n", 1)[0].decode().strip()


def processes_using(bus: SessionBus) -> list[int]:
    """Live processes whose environment names `bus` (or its accessibility bus) as their session or starter bus:
    a leak check for tests (empty once session_bus and the windows started with its env have exited)."""
    entries = frozenset(
        f"{var}={address}".encode()
        for var in ("DBUS_SESSION_BUS_ADDRESS", "DBUS_STARTER_ADDRESS")
        for address in (bus.address, bus.a11y_address)
    )
    return sorted(pid for pid, _ in _processes() if pid != os.getpid() and _environ_has(pid, entries))


def set_a11y_enabled(bus: SessionBus, enabled: bool = True) -> None:
    """Set org.a11y.Status.IsEnabled, as a screen reader does: Qt apps expose their trees only while it is true
    (or always with QT_LINUX_ACCESSIBILITY_ALWAYS_ON=1); GTK 3 apps always do."""
    with open_dbus_connection(bus.address) as conn:
        _reply(conn, Properties(A11Y_STATUS).set("IsEnabled", "b", enabled))


# --- window manager -------------------------------------------------------------------------------------
def _wm_check_window(display: Display) -> str | None:
    """The live window _NET_SUPPORTING_WM_CHECK names on the root, if a window manager put it there."""
    m = re.search(r"window id # (0x[0-9a-f]+)", _xprop(display, "-root", "_NET_SUPPORTING_WM_CHECK"))
    if m is None or "_NET_WM_NAME" not in _xprop(display, "-id", m.group(1), "_NET_WM_NAME"):
        return None
    return m.group(1)


@contextmanager
def _root_restored(display: Display) -> Iterator[None]:
    """Put the root window's properties back as they were, and an input focus of None or PointerRoot.
    openbox leaves _NET_ACTIVE_WINDOW, _NET_CLIENT_LIST, _NET_NUMBER_OF_DESKTOPS ... behind when it stops, and
    X11WindowBackend trusts _NET_ACTIVE_WINDOW over the X focus: later tests on the display would see a ghost."""
    d = xdisplay.Display(display.name)
    try:
        root = d.screen().root
        before = {atom: root.get_full_property(atom, X.AnyPropertyType) for atom in root.list_properties()}
        focus = d.get_input_focus().focus
        yield
    finally:
        for atom in root.list_properties():
            old = before.get(atom)
            if old is None:
                root.delete_property(atom)
                continue
            now = root.get_full_property(atom, X.AnyPropertyType)
            if now is None or (now.property_type, now.format, now.value) != (old.property_type, old.format, old.value):
                root.change_property(atom, old.property_type, old.format, old.value)
        for atom, old in before.items():
            if old is not None and root.get_full_property(atom, X.AnyPropertyType) is None:
                root.change_property(atom, old.property_type, old.format, old.value)
        if isinstance(focus, int):  # X.NONE or X.PointerRoot; a window may be gone by now
            d.set_input_focus(focus, X.RevertToPointerRoot if focus else X.RevertToNone, X.CurrentTime)
        d.sync()
        d.close()


def _retain_client_slot(display: Display, resource: int, timeout: float = 10.0) -> None:
    """Fill, for the life of the X server, the client slot of the gone client that created `resource`.

    After openbox exits the pointer keeps showing openbox's root cursor (a cursor set on the root afterwards does
    not replace it), and Xvfb's SECURITY extension denies access to a resource whose creator's slot is empty:
    XFixesGetCursorImage (mss with_cursor=True: the recorder's draw_cursor) would fail with BadAccess on this
    display for good. A client closed in RetainPermanent mode keeps its slot; new clients take the lowest free
    slot, so connections are opened until one lands in openbox's."""
    deadline = time.monotonic() + timeout
    while True:
        opened: list[Any] = []
        try:
            while len(opened) < 256:
                d = xdisplay.Display(display.name)
                info = d.display.info
                base = resource & ~info.resource_id_mask
                if info.resource_id_base == base:
                    d.set_close_down_mode(X.RetainPermanent)
                    d.sync()
                    d.close()
                    return
                opened.append(d)
                if info.resource_id_base > base:
                    break  # the server has not let go of the slot yet
        finally:
            for d in opened:
                d.close()
        if time.monotonic() > deadline:
            raise HarnessError(f"client slot of 0x{resource:x} on {display.name} did not come free")
        time.sleep(0.05)


@contextmanager
def openbox(display: Display, env: Mapping[str, str] | None = None) -> Iterator[None]:
    """openbox on `display` (click to focus, new windows focused, frames with title bars), ready once its
    _NET_SUPPORTING_WM_CHECK window exists. Stopped on exit, when the root window's properties and a None or
    PointerRoot focus are put back as they were and openbox's client slot stays filled (see _retain_client_slot);
    windows still open keep their places, unframed."""
    if _wm_check_window(display) is not None:
        raise HarnessError(f"{display.name} already has a window manager")
    with _root_restored(display), tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env=child_env(env or {}, display.env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        check = None
        try:
            try:
                wait_until(lambda: proc.poll() is not None or _wm_check_window(display) is not None, "openbox", 15)
            except HarnessError:
                raise HarnessError(f"openbox did not manage {display.name} within 15 s") from None
            if proc.poll() is not None:
                err.seek(0)
                raise HarnessError(f"openbox exited ({proc.returncode}): {err.read().decode(errors='replace')}")
            check = _wm_check_window(display)
            yield
        finally:
            _stop_group(proc, "openbox")
            if check is not None:
                _retain_client_slot(display, int(check, 16))


# --- test windows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestWindow:
    __test__ = False  # not a pytest test class

    kind: Literal["gtk", "qt"]
    title: str
    pid: int
    geometry: dict[str, tuple[int, int, int, int]]  # screen x, y, width, height of "text", "password", "button"

    def center(self, name: str) -> tuple[int, int]:
        x, y, w, h = self.geometry[name]
        return x + w // 2, y + h // 2


@contextmanager
def test_window(
    kind: Literal["gtk", "qt"], title: str, env: Mapping[str, str], timeout: float = 20.0
) -> Iterator[TestWindow]:
    """A GTK 3 (system Python) or Qt/PySide6 (this Python) window titled `title` with a text field, a password
    field and a "Sign in" button, started with `env` (SessionBus.env: the bus and DISPLAY) over this process's
    environment; ready once it reported its widgets' screen geometry. Closed on exit."""
    script = WINDOW_SCRIPTS[kind]
    python = SYSTEM_PYTHON if kind == "gtk" else sys.executable
    extra = {"QT_QPA_PLATFORM": "xcb"} if kind == "qt" else {}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [python, str(script), title],
            env=child_env(extra, env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stdin is not None

        def why() -> str:
            time.sleep(0.2)
            err.seek(0)
            return f"{kind} window (exit {proc.poll()}): {err.read().decode(errors='replace')[-3000:]}"

        try:
            line = _read_line(proc.stdout.fileno(), timeout, why)
            raw = json.loads(line)
            geometry = {name: (int(v[0]), int(v[1]), int(v[2]), int(v[3])) for name, v in raw.items()}
            if set(geometry) != set(WIDGETS):
                raise HarnessError(f"{kind} window reported {line}")
            yield TestWindow(kind, title, proc.pid, geometry)
        finally:
            with suppress(OSError):
                proc.stdin.close()  # the window quits when its stdin closes
            with suppress(subprocess.TimeoutExpired):
                proc.wait(3)
            _stop_group(proc, f"{kind} window")
            proc.stdout.close()


test_window.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, wherever it is imported


# --- reading the accessibility tree ---------------------------------------------------------------------
Ref = tuple[str, str]  # (bus name, object path), as AT-SPI passes references


@dataclass(frozen=True)
class Element:
    ref: Ref
    role: int  # GetRole, an AtspiRole: ROLE_PASSWORD_TEXT ...
    # GetRoleName: "text", "password text", "push button" ... Qt 6 names its password fields "text" here (it maps
    # the Qt role alone) while GetRole says ROLE_PASSWORD_TEXT: tell password fields by `role`, not by this.
    role_name: str
    name: str
    states: frozenset[int]  # AtspiStateType numbers

    @property
    def focused(self) -> bool:
        return STATE_FOCUSED in self.states


class A11yTree:
    """Reads the accessibility tree over the accessibility bus with plain D-Bus calls (jeepney)."""

    def __init__(self, a11y_address: str) -> None:
        self.conn = open_dbus_connection(a11y_address)

    def close(self) -> None:
        self.conn.close()

    def call(self, ref: Ref, interface: str, method: str, signature: str | None = None, *args: Any) -> Any:
        msg = new_method_call(DBusAddress(ref[1], bus_name=ref[0], interface=interface), method, signature, args)
        body = _reply(self.conn, msg, timeout=3)
        return body[0] if len(body) == 1 else body

    def _ref(self, raw: Any, parent: Ref) -> Ref:
        bus, path = raw
        return (str(bus) or parent[0], str(path))  # an empty bus name means the parent's application

    def children(self, ref: Ref) -> list[Ref]:
        return [self._ref(r, ref) for r in self.call(ref, ACCESSIBLE, "GetChildren")]

    def applications(self) -> list[Ref]:
        return self.children((REGISTRY, ROOT_PATH))

    def element(self, ref: Ref) -> Element:
        role = int(self.call(ref, ACCESSIBLE, "GetRole"))
        role_name = str(self.call(ref, ACCESSIBLE, "GetRoleName"))
        _, name = self.call(ref, "org.freedesktop.DBus.Properties", "Get", "ss", ACCESSIBLE, "Name")
        words = self.call(ref, ACCESSIBLE, "GetState")
        states = frozenset(32 * i + bit for i, word in enumerate(words) for bit in range(32) if word >> bit & 1)
        return Element(ref, role, role_name, str(name), states)

    def at_point(self, x: int, y: int) -> Element | None:
        """The deepest element at screen point (x, y) in the first showing top-level window that contains it."""
        for app in self._live(self.applications()):
            for top in self._live(self.children(app)):
                if not self.call(top, COMPONENT, "Contains", "iiu", x, y, COORD_SCREEN):
                    continue
                if STATE_SHOWING not in self.element(top).states:
                    continue
                ref = top
                for _ in range(64):
                    child = self._ref(self.call(ref, COMPONENT, "GetAccessibleAtPoint", "iiu", x, y, COORD_SCREEN), ref)
                    if child[1] == NULL_PATH or child == ref:
                        break
                    ref = child
                return self.element(ref)
        return None

    def focused(self, limit: int = 5000) -> Element | None:
        """The first element with the FOCUSED state, searching every application's tree (up to `limit` nodes)."""
        stack = list(reversed(self._live(self.applications())))
        seen = 0
        while stack and seen < limit:
            ref = stack.pop()
            seen += 1
            try:
                element = self.element(ref)
                if element.focused:
                    return element
                stack.extend(reversed(self.children(ref)))
            except (HarnessError, TimeoutError):
                continue  # an element (or application) that went away meanwhile
        return None

    def _live(self, refs: list[Ref]) -> list[Ref]:
        """Those of `refs` that answer (an application may have quit without the registry noticing yet)."""
        live = []
        for ref in refs:
            try:
                self.call(ref, ACCESSIBLE, "GetRoleName")
                live.append(ref)
            except (HarnessError, TimeoutError):
                pass
        return live


@contextmanager
def a11y_tree(bus: SessionBus) -> Iterator[A11yTree]:
    """An A11yTree on `bus`'s accessibility bus, closed on exit."""
    tree = A11yTree(bus.a11y_address)
    try:
        yield tree
    finally:
        tree.close()
