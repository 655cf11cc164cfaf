"""Smoke test of the accessibility apparatus (tests/helpers/a11y.py): a private session bus activates the
accessibility bus, GTK 3 and Qt test windows expose their widgets on it where they report them to be on screen,
a real click (XTEST) moves the focus into the password field, and nothing is left running afterwards."""

from __future__ import annotations

import re
import subprocess
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import pytest
from Xlib import display as xdisplay  # type: ignore[import-untyped]
from Xlib import error as xerror

from tests.helpers.a11y import (
    ROLE_PASSWORD_TEXT,
    ROLE_PUSH_BUTTON,
    ROLE_TEXT,
    A11yTree,
    TestWindow,
    a11y_tree,
    child_env,
    openbox,
    processes_using,
    session_bus,
    set_a11y_enabled,
    test_window,
)
from tests.helpers.harness import Display, wait_until

pytestmark = [pytest.mark.x11, pytest.mark.slow]

TITLE = "KeePassXC - vault"


def _client_area(title: str, env: dict[str, str]) -> tuple[int, int, int, int]:
    """The window's inside (without a window manager's frame) on screen, as the X server has it. xwininfo, not
    `xdotool getwindowgeometry`: under openbox the latter adds the frame's offset twice (x+1, y+20)."""
    found = subprocess.run(
        ["xdotool", "search", "--sync", "--onlyvisible", "--name", f"^{re.escape(title)}$"],
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
    )
    window = found.stdout.split()[0]
    info = subprocess.run(["xwininfo", "-id", window], env=env, capture_output=True, text=True, timeout=10).stdout
    x, y, w, h = (
        int(re.search(rf"{label}:\s+(-?\d+)", info).group(1))  # type: ignore[union-attr]
        for label in ("Absolute upper-left X", "Absolute upper-left Y", "Width", "Height")
    )
    return x, y, w, h


def _root_properties(display: Display) -> set[str]:
    out = subprocess.run(["xprop", "-display", display.name, "-root"], capture_output=True, text=True, timeout=10)
    return {m.group(1) for m in re.finditer(r"^(\w+)[(:]", out.stdout, re.MULTILINE)}


def _cursor_image_readable(display: Display) -> bool:
    """XFixesGetCursorImage answers (what mss with_cursor=True, the recorder's draw_cursor, needs)."""
    d = xdisplay.Display(display.name)
    try:
        d.xfixes_query_version()
        d.xfixes_get_cursor_image(d.screen().root)
        return True
    except xerror.XError:
        return False
    finally:
        d.close()


def _role_at(tree: A11yTree, point: tuple[int, int]) -> int | None:
    element = tree.at_point(*point)
    return None if element is None else element.role


def _focused_role(tree: A11yTree) -> int | None:
    element = tree.focused()
    return None if element is None else element.role


@pytest.mark.parametrize("wm", [False, True], ids=["bare", "openbox"])
@pytest.mark.parametrize("kind", ["gtk", "qt"])
def test_click_focuses_the_password_field(
    kind: Literal["gtk", "qt"], wm: bool, x_display: Display, tmp_path: Path
) -> None:
    props_before, cursor_before = _root_properties(x_display), _cursor_image_readable(x_display)
    with ExitStack() as stack:
        bus = stack.enter_context(session_bus(tmp_path, x_display))
        assert bus.a11y_socket == tmp_path / "run" / "at-spi" / f"bus_{x_display.name.lstrip(':')}"
        assert bus.a11y_socket.is_socket()
        if kind == "qt":
            set_a11y_enabled(bus)  # as a screen reader (or the recorder) does; GTK 3 exposes its tree regardless
        if wm:
            stack.enter_context(openbox(x_display, bus.env))
        window: TestWindow = stack.enter_context(test_window(kind, TITLE, bus.env))

        cx, cy, cw, ch = _client_area(TITLE, child_env(bus.env))
        for x, y, w, h in window.geometry.values():
            assert cx <= x and x + w <= cx + cw and cy <= y and y + h <= cy + ch, (window.geometry, (cx, cy, cw, ch))
        if wm:
            assert (cx, cy) != (0, 0)  # openbox placed and framed it: the reported geometry followed

        tree = stack.enter_context(a11y_tree(bus))
        # the toolkit's own idea of where its widgets are agrees with the geometry the window reported
        wait_until(
            lambda: _role_at(tree, window.center("password")) == ROLE_PASSWORD_TEXT, "the window's accessible tree", 10
        )
        assert _role_at(tree, window.center("text")) == ROLE_TEXT
        assert _focused_role(tree) != ROLE_PASSWORD_TEXT

        x, y = window.center("password")
        subprocess.run(
            ["xdotool", "mousemove", str(x), str(y), "click", "1"], env=child_env(bus.env), check=True, timeout=10
        )
        wait_until(lambda: _focused_role(tree) == ROLE_PASSWORD_TEXT, "focus in the password field", 10)
        focused = tree.focused()
        assert focused is not None and focused.focused
        # Qt 6 names the role "text" (GetRoleName maps its Qt role alone) though GetRole says password text
        assert focused.role_name == {"gtk": "password text", "qt": "text"}[kind]

        button = tree.at_point(*window.center("button"))
        assert button is not None
        assert (button.role, button.role_name, button.name) == (ROLE_PUSH_BUTTON, "push button", "Sign in")

    # nothing left running, and the shared display as it was: AT_SPI_BUS gone, no _NET_ACTIVE_WINDOW & co. from
    # openbox (X11WindowBackend would trust it); GTK's harmless visual cache may stay
    assert processes_using(bus) == []
    assert _root_properties(x_display) - props_before <= {"GDK_VISUALS"}
    assert _cursor_image_readable(x_display) == cursor_before  # openbox's cursor outlives it: see openbox()
