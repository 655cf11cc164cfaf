"""What every capture source shares: the emit contract, the records only capture makes, the worker thread.

A source hands each record to `emit`, which never blocks: the session's bounded queue drops and counts when
full. Records are trajrec.format.InputEvent / WindowRecord / DisplayLayout, or the two types below.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from recorder.clock import Clock
from recorder.errors import CaptureError, FirstError, TrajrecError

__all__ = ["AudioChunk", "CaptureError", "Clock", "Emit", "ScreenFrame", "Source", "WorkerThread"]

R = TypeVar("R")
Emit = Callable[[R], None]  # Emit[InputEvent]: where a source hands each record it makes; never blocks


@dataclass(frozen=True, slots=True)
class AudioChunk:
    t_ns: int  # session-clock time of the first sample (mapped from the device's ADC time)
    samples: np.ndarray  # int16, shape (n, channels), a copy owned by the chunk
    overflow: bool = False  # the device reported lost input before this block


@dataclass(frozen=True, slots=True)
class ScreenFrame:
    t_ns: int  # grab time
    image: np.ndarray  # BGRA uint8 (height, width, 4), a copy owned by the frame
    display_id: int


class Source(ABC):
    """A capture source. start() returns once capturing; stop() ends it and re-raises a worker's error."""

    name = "source"

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...


class WorkerThread:
    """A daemon thread whose exception is kept and re-raised by join() (never lost)."""

    def __init__(self, target: Callable[[], None], name: str) -> None:
        self._errors = FirstError()
        self._target = target
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def name(self) -> str:
        return self._thread.name

    @property
    def error(self) -> BaseException | None:
        """The exception the target raised, until join() re-raises it."""
        return self._errors.error

    def _run(self) -> None:
        try:
            self._target()
        except BaseException as e:  # kept for join(); the session decides what to do
            self._errors.keep(e)

    def start(self) -> None:
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise CaptureError(f"{self._thread.name} did not stop within {timeout} s")
        self._errors.raise_first(self._thread.name, passthrough=TrajrecError)
