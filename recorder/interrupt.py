"""Ctrl+C as a request, not an exception: long batch work polls an Event and stops cleanly.

An asynchronous KeyboardInterrupt can land inside a lock held by concurrent.futures and deadlock the
workers; turning the first SIGINT into `cancel.set()` avoids that. A second Ctrl+C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def sigint_sets(cancel: threading.Event) -> Iterator[threading.Event]:
    if threading.current_thread() is not threading.main_thread():
        yield cancel
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the next Ctrl+C interrupts at once

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield cancel
    finally:
        signal.signal(signal.SIGINT, previous)
