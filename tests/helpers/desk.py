"""A real desktop to record, driven as a person would: an xterm on an X display, moved and typed into with XTEST
(xdotool), and narration spoken by espeak-ng into a virtual microphone. Used by scripts/demo.py and
packaging/screenshots.py (the display and the microphone come from tests.helpers.harness)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tests.helpers.harness import HarnessError

TITLE = "demo-terminal"
XTERM = ["xterm", "-title", TITLE, "+sb", "-fa", "Monospace", "-fs", "11"]  # black on white, a readable font
TOOLS = ("xdotool", "xterm", "paplay", "espeak-ng")


class Desk:
    """A real xterm on the private display, driven with XTEST (xdotool) as a person would."""

    def __init__(self, env: dict[str, str], workdir: Path, x: int = 40, y: int = 40) -> None:
        self.env = env
        term_env = {**env, "PS1": r"expert@demo:\w$ ", "HISTFILE": "/dev/null", "TERM": "xterm"}
        with (workdir / "xterm.log").open("ab") as log:
            self.term = subprocess.Popen(
                [*XTERM, "-geometry", f"96x26+{x}+{y}", "-e", "bash", "--norc", "--noprofile", "-i"],
                env=term_env,
                cwd="/usr/share",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        found = self.xdotool("search", "--sync", "--onlyvisible", "--name", TITLE, timeout=15)
        self.window = found.split()[0]
        self.pos = (x, y)
        time.sleep(0.8)  # bash's first prompt

    def xdotool(self, *args: str, timeout: float = 10) -> str:
        r = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f"xdotool {' '.join(args)}: {r.stderr.strip() or 'failed'}")
        return r.stdout

    def glide(self, x: int, y: int, seconds: float = 0.4) -> None:
        x0, y0 = (int(v.split(":")[1]) for v in self.xdotool("getmouselocation").split()[:2])
        steps = max(1, round(seconds * 30))
        for i in range(1, steps + 1):
            self.xdotool("mousemove", str(x0 + (x - x0) * i // steps), str(y0 + (y - y0) * i // steps))
            time.sleep(seconds / steps)

    def click_in(self) -> None:
        """Click into the terminal and give it the focus (no window manager: focus does not follow clicks)."""
        self.glide(self.pos[0] + 300, self.pos[1] + 200)
        self.xdotool("click", "1")
        self.xdotool("windowfocus", "--sync", self.window)

    def type(self, text: str) -> None:
        self.xdotool("type", "--delay", "60", "--", text)

    def drag_to(self, x: int, y: int, seconds: float = 1.0) -> None:
        """Drag the window by its top edge, pointer and window moving together."""
        x0, y0 = self.pos
        self.glide(x0 + 80, y0 + 4, 0.3)
        self.xdotool("mousedown", "1")
        steps = max(1, round(seconds * 30))
        for i in range(1, steps + 1):
            wx, wy = x0 + (x - x0) * i // steps, y0 + (y - y0) * i // steps
            self.xdotool("windowmove", self.window, str(wx), str(wy))
            self.xdotool("mousemove", str(wx + 80), str(wy + 4))
            time.sleep(seconds / steps)
        self.xdotool("mouseup", "1")
        self.pos = (x, y)

    def close(self) -> None:
        if self.term.poll() is None:
            self.term.terminate()
            try:
                self.term.wait(5)
            except subprocess.TimeoutExpired:
                self.term.kill()
                self.term.wait()


def speak(
    env: dict[str, str],
    sink: str,
    lines: Sequence[tuple[float, str]],
    workdir: Path,
    start: float,
    stop: threading.Event,
) -> None:
    """Narration: each (seconds after `start`, words) spoken by espeak-ng into the virtual microphone's sink,
    until `stop` is set."""
    for i, (at, words) in enumerate(lines):
        if stop.wait(max(0.0, start + at - time.monotonic())):
            return
        wav = workdir / f"narration-{i}.wav"
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), words], check=True, capture_output=True)
        subprocess.run(["paplay", "-d", sink, str(wav)], env=env, check=False, capture_output=True)
