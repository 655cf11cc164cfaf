"""run_task and GuiGarbageCollector: results and errors come back on the GUI thread, and nothing a task or a
reference cycle holds is freed on a worker thread (a widget freed there crashes Qt)."""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from recorder.app.threads import GuiGarbageCollector, run_task, wait_idle


class Tracked:
    """Records the thread it is freed on."""

    def __init__(self, freed_on: list[bool]) -> None:
        self.freed_on = freed_on
        self.cycle: Tracked | None = None

    def __del__(self) -> None:
        self.freed_on.append(threading.current_thread() is threading.main_thread())


def test_run_task_returns_results_and_errors_on_the_gui_thread(qtbot: Any) -> None:
    seen: list[tuple[str, bool]] = []
    gui = threading.current_thread()

    def work() -> str:
        seen.append(("worker", threading.current_thread() is gui))
        return "done"

    def boom() -> None:
        raise ValueError("nope")

    results: list[Any] = []
    run_task(work, lambda r: results.append((r, threading.current_thread() is gui)))
    run_task(boom, None, lambda e: results.append((str(e), threading.current_thread() is gui)))
    qtbot.waitUntil(lambda: len(results) == 2, timeout=5000)
    assert seen == [("worker", False)]
    assert sorted(results) == [("done", True), ("nope", True)]


def test_run_task_skips_the_callbacks_of_a_widget_that_is_gone(qtbot: Any) -> None:
    """A preflight check that finishes after its screen closed must not touch the screen's deleted labels."""
    from PySide6.QtWidgets import QLabel

    label = QLabel("waiting")
    release = threading.Event()
    seen: list[str] = []
    run_task(lambda: release.wait(5) and "done", lambda r: (seen.append(r), label.setText(r)), owner=label)
    label.deleteLater()
    qtbot.waitUntil(lambda: not __import__("shiboken6").isValid(label), timeout=2000)
    release.set()
    wait_idle()
    qtbot.wait(50)
    assert seen == []  # skipped, and no "Internal C++ object already deleted" in the event loop


def test_what_a_task_holds_is_freed_on_the_gui_thread(qtbot: Any) -> None:
    """The task's function is the only holder of the object; the worker lets go of it before reporting."""
    freed_on: list[bool] = []
    done: list[object] = []
    for fails in (False, True) * 10:
        held = Tracked(freed_on)

        def work(held: Tracked = held, fails: bool = fails) -> int:
            if fails:
                raise ValueError(str(id(held)))  # the traceback's frames hold it too
            return id(held)

        run_task(work, done.append, done.append)
        del held, work
    qtbot.waitUntil(lambda: len(done) == 20, timeout=10_000)
    wait_idle()
    qtbot.wait(50)
    assert sum(isinstance(d, ValueError) for d in done) == 10
    done.clear()  # the errors' tracebacks hold the rest
    assert freed_on == [True] * 20


def test_garbage_cycles_are_collected_on_the_gui_thread_only(qtbot: Any) -> None:
    collector = GuiGarbageCollector(interval_ms=20)
    try:
        assert not gc.isenabled()
        freed_on: list[bool] = []
        for _ in range(50):
            a, b = Tracked(freed_on), Tracked(freed_on)
            a.cycle, b.cycle = b, a
        del a, b

        kept: list[list[int]] = []

        def churn() -> None:  # a worker allocating far past every generation's threshold
            kept.extend([i] for i in range(200_000))

        worker = threading.Thread(target=churn)
        worker.start()
        worker.join()
        assert freed_on == []  # the worker collected nothing
        assert gc.get_count()[0] > gc.get_threshold()[0]
        qtbot.waitUntil(lambda: len(freed_on) == 100, timeout=5000)
        assert all(freed_on)
    finally:
        collector.stop()
    assert gc.isenabled()
