"""The Review screen, one module per part, with its Qt-free computation beside the widgets.

Qt-free (numpy, pyarrow, OpenCV; tested without a display): `data` (loading a recording and everything the
screen shows or says about it), `overlays` (pointer, clicks and keys at a time), `render` (a frame fitted to
the view with the overlays drawn). Widgets: `screen` (`ReviewPage`, the page the app shows), `player`,
`frames` (the decode lane), `timeline`, `markers`, `parts`. This package imports nothing itself, so the
Qt-free modules load without PySide6.
"""
