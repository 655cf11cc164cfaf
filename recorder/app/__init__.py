"""The desktop app (PySide6): a face on the capture engine (recorder.session) and the uploader. It adds no
capture or upload logic of its own. Widgets are touched only on the GUI thread; blocking work goes through
`recorder.app.tasks.run_task`."""
