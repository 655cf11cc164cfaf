"""The desktop app (PySide6): a face on the capture engine (recorder.session) and the uploader. It adds no
capture or upload logic of its own. Widgets are touched only on the GUI thread; blocking work goes through
`recorder.app.threads.run_task`.

A screen with several parts is a sub-package with its Qt-free computation beside the widgets (`review/`,
`setup/`); a screen that is one widget is one module (`recording`, `uploads`, `dialogs`). `palette` holds
the colours, Qt-free, and `theme` the Qt look built on them.
"""
