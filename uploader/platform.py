"""The uploader's platform-specific bits, and nothing else: how a child process is tied to us, and whether a
process is alive. Everything else in the package is the same on every OS."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any


def _linux_die_with_parent() -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGTERM the child when its parent dies (prctl PR_SET_PDEATHSIG).

    Linux ties this to the *thread* that started the child: start the server from a long-lived thread."""
    libc = ctypes.CDLL(None, use_errno=True)  # looked up before fork: the hook itself only calls into libc
    prctl = libc.prctl
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return hook


def child_process_options() -> dict[str, Any]:
    """Popen options that give the server its own process group and, where the OS can, tie its life to ours.

    The only platform-specific code of this module."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    options: dict[str, Any] = {"start_new_session": True}
    if sys.platform.startswith("linux"):
        options["preexec_fn"] = _linux_die_with_parent()
    return options


def process_alive(pid: int) -> bool:
    """Is process `pid` running (on this machine)? Unknown answers count as alive."""
    if pid <= 0:
        return False
    if sys.platform == "win32":
        import ctypes.wintypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined,unused-ignore]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.wintypes.DWORD()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return bool(code.value == 259)  # STILL_ACTIVE
    try:
        os.kill(pid, 0)  # signal 0: existence check only (never used on Windows, where it would kill)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
