"""Real parts for capture tests and the headless demo: an Xvfb display and a PulseAudio virtual microphone,
started per test session by the fixtures in conftest.py (and by scripts/demo.py). Both follow
../shared/recipes (tested on this kind of machine)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class HarnessError(AssertionError):
    pass


class Ticks:
    """A fake session clock: 1000, 2000, 3000 ..."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        self.n += 1000
        return self.n


def wait_until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Poll `check` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.002)
    raise HarnessError(f"{what} did not happen within {timeout} s")


@dataclass
class Display:
    name: str  # ":99"
    width: int
    height: int

    @property
    def env(self) -> dict[str, str]:
        return {"DISPLAY": self.name}


@contextmanager
def xvfb(width: int = 1280, height: int = 720, number: int | None = None) -> Iterator[Display]:
    """A fresh Xvfb server (MIT-SHM, XTEST, RECORD) on a free display number."""
    if shutil.which("Xvfb") is None:
        raise HarnessError("Xvfb is not installed: run scripts/setup.sh as root")
    n = number or next(
        i for i in range(90, 200) if not Path(f"/tmp/.X11-unix/X{i}").exists() and not Path(f"/tmp/.X{i}-lock").exists()
    )
    # -noreset: without it Xvfb resets (drops properties and focus) whenever its last client disconnects
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl+C at the terminal reaches the caller, which stops it in order
    )
    try:
        wait_until(
            lambda: (
                Path(f"/tmp/.X11-unix/X{n}").exists()
                and subprocess.run(["xdpyinfo", "-display", f":{n}"], capture_output=True).returncode == 0
            ),
            "Xvfb",
            10,
        )
        yield Display(f":{n}", width, height)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Microphone:
    server: str  # PULSE_SERVER value
    sink: str  # play into this sink to be heard by the microphone
    source: str

    @property
    def env(self) -> dict[str, str]:
        return {"PULSE_SERVER": self.server}


@contextmanager
def virtual_mic(root: Path) -> Iterator[Microphone]:
    """PulseAudio with a null sink and its monitor remapped as the default source, kept running at low
    latency by a silent keepalive stream (without it, an idle null sink delivers capture in 2 s bursts)."""
    if shutil.which("pulseaudio") is None:
        raise HarnessError("pulseaudio is not installed: run scripts/setup.sh as root")
    run_dir, home = root / "run", root / "home"
    for d in (run_dir, home):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    server = f"unix:{run_dir}/pulse/native"
    env = {**os.environ, "XDG_RUNTIME_DIR": str(run_dir), "HOME": str(home), "PULSE_SERVER": server}
    daemon = subprocess.Popen(
        [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--use-pid-file=no",
            f"--log-target=file:{root}/pulse.log",
            "-L",
            "module-native-protocol-unix",
            "-L",
            "module-null-sink sink_name=vsink sink_properties=device.description=VirtualSpeaker",
            "-L",
            "module-remap-source master=vsink.monitor source_name=vmic source_properties=device.description=VirtualMic",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    keepalive = None
    try:

        def pactl(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True)

        wait_until(lambda: pactl("info").returncode == 0, "PulseAudio", 10)
        pactl("set-default-sink", "vsink")
        pactl("set-default-source", "vmic")
        keepalive = subprocess.Popen(
            [
                "pacat",
                "-p",
                "-d",
                "vsink",
                "--latency-msec=20",
                "--raw",
                "--format=s16le",
                "--rate=44100",
                "--channels=2",
                "/dev/zero",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: bool(pactl("list", "short", "sink-inputs").stdout.strip()), "keepalive stream", 5)
        pactl("suspend-sink", "vsink", "1")
        pactl("suspend-sink", "vsink", "0")
        yield Microphone(server=server, sink="vsink", source="vmic")
    finally:
        for p in (keepalive, daemon):
            if p is not None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
