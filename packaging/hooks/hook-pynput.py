"""pynput picks its backend by name at import time (pynput._util.backend). The contrib hook finds them by
importing pynput, which fails without an X display (as in a build on a headless machine): name them instead."""

import sys

if sys.platform.startswith("linux"):
    hiddenimports = [
        "pynput._util.xorg",
        "pynput._util.xorg_keysyms",
        "pynput.keyboard._xorg",
        "pynput.mouse._xorg",
        "pynput.keyboard._dummy",  # PYNPUT_BACKEND=dummy
        "pynput.mouse._dummy",
    ]
elif sys.platform == "darwin":
    hiddenimports = ["pynput._util.darwin", "pynput.keyboard._darwin", "pynput.mouse._darwin"]
else:
    hiddenimports = ["pynput._util.win32", "pynput.keyboard._win32", "pynput.mouse._win32"]
