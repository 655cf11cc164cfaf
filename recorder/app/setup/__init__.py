"""The Setup screen (before Record), with its Qt-free parts beside the widget.

Qt-free: `taskfile` (a lab's task files), `preflight` (the checks before Record, and what is still needed),
`devices` (monitor thumbnails, the microphone menu and level meter). Widget: `screen` (`SetupPage`). This
package imports nothing itself, so the Qt-free modules load without PySide6.
"""
