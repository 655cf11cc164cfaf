"""A GTK 3 test window for accessibility tests: a text field, a password field and a "Sign in" button.

Run with the system Python (/usr/bin/python3, which has `gi`; the venv has not):
    /usr/bin/python3 a11y_gtk_window.py TITLE
Once the window is mapped and drawn it prints one JSON line to stdout, the screen geometry of its widgets,
{"text": [x, y, w, h], "password": [...], "button": [...]}, and then nothing else. It stays up until stdin
closes or it is killed. Started by tests.helpers.a11y.test_window."""

from __future__ import annotations

import json
import sys
import threading

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("Gdk", "3.0")
from gi.repository import GLib, Gtk  # noqa: E402


def main() -> None:
    title = sys.argv[1] if len(sys.argv) > 1 else "a11y test window"
    window = Gtk.Window(title=title)
    window.set_default_size(420, 200)
    box = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=12)
    box.set_border_width(20)
    text = Gtk.Entry()
    text.set_placeholder_text("User name")
    password = Gtk.Entry()
    password.set_visibility(False)
    password.set_placeholder_text("Password")
    button = Gtk.Button(label="Sign in")
    for w in (text, password, button):
        box.pack_start(w, False, False, 0)
    window.add(box)
    window.connect("destroy", Gtk.main_quit)
    widgets = {"text": text, "password": password, "button": button}
    reported = False

    def report() -> bool:
        nonlocal reported
        gdk_window = window.get_window()
        if reported:
            return False
        if gdk_window is None or not gdk_window.is_viewable():
            return True  # ask again at the next tick
        # get_origin asks the X server (XTranslateCoordinates): right with and without a window manager's frame
        _, ox, oy = gdk_window.get_origin()
        geometry = {}
        for name, widget in widgets.items():
            x, y = widget.translate_coordinates(window, 0, 0)
            alloc = widget.get_allocation()
            geometry[name] = [ox + x, oy + y, alloc.width, alloc.height]
        reported = True
        print(json.dumps(geometry), flush=True)
        return False

    def on_map(*_: object) -> bool:
        # the first frame follows the map; a window manager has placed the window before mapping it
        GLib.timeout_add(100, report)
        return False

    window.connect_after("map-event", on_map)

    def watch_stdin() -> None:
        sys.stdin.buffer.read()
        GLib.idle_add(Gtk.main_quit)

    threading.Thread(target=watch_stdin, daemon=True).start()
    window.show_all()
    window.present()  # with no window manager GDK sets the X input focus itself
    Gtk.main()


if __name__ == "__main__":
    main()
